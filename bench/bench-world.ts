/**
 * What every benchmark section stands on: the sandbox in this process, thousands of seeded
 * CallCov credentials written straight into the emulator's and simulator's memory (seeding is
 * not what is measured), an inventory file, a private Redis, and compiled worker processes.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { parse, stringify } from "yaml";
import { type CliProcess, WORKER_ENV, cliCommand } from "../src/demo/cli-process.js";
import { ensureRedis } from "../src/demo/local-redis.js";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type RedisTopology, primaries } from "../src/queue/redis.js";
import { SANDBOX_LOGIN, type Sandbox, startSandbox } from "../src/sandbox/sandbox.js";
import {
  type InventoryOptions,
  type SeededCallCov,
  type SeededKeyApi,
  sandboxEnv,
  writeCallCovInventory,
} from "../src/sandbox/seed.js";
import { SANDBOX_KEY_API_VENDORS, type SandboxKeyApiVendorId } from "../src/sandbox/key-api-sandbox.js";
import type { Plan } from "../src/sandbox/callcov/callcov-state.js";

export interface BenchWorld {
  sandbox: Sandbox;
  creds: SeededCallCov[];
  /** The other vendor's credentials (`due`), all due: scheduled work beside the CallCov fleet. */
  dueOthers: SeededKeyApi[];
  env: Record<string, string>;
  /** Where the workers' Redis is (any topology: see src/queue/redis-topology.ts). */
  redis: RedisTopology;
  /** The workers' BullMQ prefix; `<prefix>:completed` holds each credential's last completed rotation. */
  prefix: string;
  /** A compiled worker whose log goes to a file (see startLoggingToFile). */
  startWorker(extraEnv?: Record<string, string>): Promise<{ process: CliProcess; httpUrl: string }>;
  close(): Promise<void>;
}

const DAY = 86_400_000;

export async function benchWorld(o: {
  credentials: number;
  /** Make every key older than its 90 days, so all are due at once. */
  due?: boolean;
  writeTps?: number;
  managementPerMinute?: number;
  plan?: Plan;
  inventory?: Partial<InventoryOptions>;
  /** Spread the credentials over these regions, in turn (credential i in regions[i % n]); absent: AWS_REGION. */
  regions?: string[];
  /** This many credentials of another key-API vendor besides, with keys old enough to be due. */
  dueOthers?: { vendor: SandboxKeyApiVendorId; count: number };
}): Promise<BenchWorld> {
  const redis = await ensureRedis();
  const sandbox = await startSandbox({
    plan: o.plan ?? "business",
    ...(o.managementPerMinute ? { managementPerMinute: o.managementPerMinute } : {}),
  });
  const env = { ...sandboxEnv(sandbox) };
  Object.assign(process.env, env);
  if (o.due) sandbox.emulator.setClock(() => Date.now() - 100 * DAY);
  const managementSecretId = "bench/callcov/management-login";
  const regions = o.regions ?? [];
  // The management login lives beside the credentials' secrets: in each of their regions.
  for (const st of regions.length > 0 ? regions.map((r) => sandbox.emulator.stateOf(r)) : [sandbox.emulator.state])
    st.CreateSecret({ Name: managementSecretId, SecretString: JSON.stringify(SANDBOX_LOGIN) });
  const creds: SeededCallCov[] = [];
  for (let i = 0; i < o.credentials; i++) {
    const id = `cc-${i.toString().padStart(5, "0")}`;
    const made = sandbox.callcov.issueKey(`made by hand for ${id}`);
    const secretId = `bench/callcov/${id}`;
    const region = regions[i % regions.length];
    (region ? sandbox.emulator.stateOf(region) : sandbox.emulator.state).CreateSecret({
      Name: secretId,
      SecretString: JSON.stringify({ vendor: "callcov", apiKey: made.key, keyId: made.id }),
    });
    creds.push({ id, secretId, keyId: made.id });
  }
  const dueOthers = o.dueOthers ? seedDueKeyApi(sandbox, o.dueOthers.vendor, o.dueOthers.count) : [];
  sandbox.emulator.setClock(Date.now);
  if (o.writeTps) sandbox.emulator.setWriteTps(o.writeTps);
  sandbox.emulator.resetStats();
  const dir = mkdtempSync(join(tmpdir(), "kr-bench-"));
  const inventoryPath = join(dir, "inventory.yaml");
  const prefix = `{kr-bench-${randomBytes(3).toString("hex")}}`;
  writeCallCovInventory(inventoryPath, sandbox, creds, managementSecretId, {
    queuePrefix: prefix,
    every: "90d",
    grace: "0s",
    ...(dueOthers.length > 0 ? { keyApi: dueOthers } : {}),
    ...o.inventory,
  });
  if (regions.length > 0) {
    // Each credential names its region (the seed helper writes none).
    const inventory = parse(readFileSync(inventoryPath, "utf8")) as { credentials: Array<Record<string, unknown>> };
    inventory.credentials.forEach((c, i) => (c.region = regions[i % regions.length]));
    writeFileSync(inventoryPath, stringify(inventory));
  }
  const childEnv = {
    ...env,
    ...redis.env,
    KEY_ROTATOR_CONFIG: inventoryPath,
    KEY_ROTATOR_HTTP_PORT: "0",
    LOG_LEVEL: "info",
  };
  const workers: CliProcess[] = [];
  return {
    sandbox,
    creds,
    dueOthers,
    env: childEnv,
    redis: redis.topology,
    prefix,
    async startWorker(extraEnv = {}) {
      const w = startLoggingToFile(["worker"], { ...childEnv, ...extraEnv }, join(dir, `worker-${workers.length}.log`));
      workers.push(w);
      const ready = await w.waitForLine(/"worker.ready"/, 120_000);
      const httpUrl = (JSON.parse(ready) as { http: string }).http;
      return { process: w, httpUrl };
    },
    async close() {
      await Promise.all(workers.map((w) => w.kill("SIGKILL")));
      await sandbox.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Credentials of a key-API vendor whose keys are 100 days old, written straight into the simulator and the emulator. */
function seedDueKeyApi(sandbox: Sandbox, vendor: SandboxKeyApiVendorId, count: number): SeededKeyApi[] {
  const v = SANDBOX_KEY_API_VENDORS[vendor];
  const managementSecretId = `bench/${vendor}/management`;
  sandbox.emulator.setClock(() => Date.now() - 100 * DAY);
  sandbox.emulator.state.CreateSecret({ Name: managementSecretId, SecretString: JSON.stringify(v.managementSecret) });
  const seeded: SeededKeyApi[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${vendor}-${i.toString().padStart(5, "0")}`;
    const made = sandbox[vendor].issueKey(`made by hand for ${id}`);
    const secretId = `bench/${vendor}/${id}`;
    sandbox.emulator.state.CreateSecret({
      Name: secretId,
      SecretString: JSON.stringify({ vendor, apiKey: made.key, keyId: made.id }),
    });
    seeded.push({
      id,
      vendor,
      secretId,
      keyId: made.id,
      apiKey: made.key,
      managementSecretId,
      fields: v.fields(sandbox),
    });
  }
  return seeded;
}

/**
 * Starts the compiled CLI, as the image runs it (its flags and environment), with stdout and
 * stderr written straight to a file, as a container's log is collected by another process.
 * Read through a pipe, every line a worker logs would cost CPU in
 * this process, which also serves the vendor and the store, and slow them down. The file is read
 * only when asked (`lines`, `waitForLine`, which looks every 50 ms).
 */
function startLoggingToFile(args: string[], env: Record<string, string>, logPath: string): CliProcess {
  const { command, args: base } = cliCommand({ useBuild: true });
  const fd = openSync(logPath, "a");
  const child = spawn(command, [...base, ...args], {
    env: { ...process.env, ...WORKER_ENV, ...env },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const read = () =>
    existsSync(logPath)
      ? readFileSync(logPath, "utf8")
          .split("\n")
          .filter((l) => l.length > 0)
      : [];
  return {
    child,
    get lines() {
      return read();
    },
    async waitForLine(match, timeoutMs = 20_000) {
      const test = typeof match === "function" ? match : (l: string) => match.test(l);
      const end = Date.now() + timeoutMs;
      for (;;) {
        const seen = read().find(test);
        if (seen !== undefined) return seen;
        if (child.exitCode !== null || Date.now() > end) {
          throw new Error(
            `no line matching ${String(match)} ${child.exitCode !== null ? "before the process exited" : `within ${timeoutMs} ms`}; last lines:\n${read().slice(-20).join("\n")}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    exited,
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Watches the CallCov simulator's revocations: `revokedAt(keyId)` is when a key was revoked
 * (performance.now()), and `revoked(keyId)` waits for it without polling (so the process serving
 * the vendor and the store is not kept busy by the measuring), failing after 30 s.
 */
export function watchRevocations(sandbox: Sandbox): {
  revokedAt(keyId: string): number | undefined;
  revoked(keyId: string): Promise<number>;
} {
  const at = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const state = sandbox.callcov.state;
  const revoke = state.revoke.bind(state);
  state.revoke = (id: string) => {
    const done = revoke(id);
    if (done) {
      at.set(id, performance.now());
      waiting.get(id)?.();
    }
    return done;
  };
  return {
    revokedAt: (keyId) => at.get(keyId),
    revoked: async (keyId) => {
      if (!at.has(keyId)) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve, reject) => {
          waiting.set(keyId, resolve);
          timer = setTimeout(() => reject(new Error(`${keyId} was not revoked within 30 s`)), 30_000);
        }).finally(() => clearTimeout(timer));
      }
      return at.get(keyId) ?? 0;
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export async function until(check: () => boolean, timeoutMs: number, what: string, everyMs = 1): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the maintenance queue has no job waiting or running, twice in a row a second apart
 * (a split job's shards are added as it ends). Delayed jobs (the next ticks, the late sweep after a
 * new Redis) do not count. Returns the time (performance.now()) it was found quiet.
 */
export async function maintenanceQuiet(queue: Pick<Queue, "getJobCounts">, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let quietReadings = 0;
  for (;;) {
    const counts = await queue.getJobCounts("active", "waiting", "prioritized", "waiting-children");
    quietReadings = Object.values(counts).every((n) => n === 0) ? quietReadings + 1 : 0;
    if (quietReadings >= 2) return performance.now();
    if (Date.now() > end) throw new Error(`maintenance jobs still waiting or running after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** CPU time a process has used so far, in clock ticks (1/100 s), from /proc. */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU seconds Redis has used so far (user + system), from INFO; on a cluster, its masters' together. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  let seconds = 0;
  for (const node of primaries(redis)) {
    const info = await node.info("cpu");
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    seconds += field("used_cpu_user") + field("used_cpu_sys");
  }
  return seconds;
}
