/**
 * A whole local world for integration tests: the sandbox in this process, seeded CallCov
 * credentials, an inventory file, and real `key-rotator worker` processes that can be killed.
 * Also the checks every crash test ends with (DESIGN.md rule 7) and a scan of Redis for secrets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import { SANDBOX_LOGIN, type Sandbox, startSandbox } from "../../src/sandbox/sandbox.js";
import {
  type InventoryOptions,
  type SeededCallCov,
  type SeededJustCall,
  sandboxEnv,
  seedCallCovCredential,
  seedJustCallCredential,
  seedManagementLogin,
  writeCallCovInventory,
} from "../../src/sandbox/seed.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";
import { type RedisTopology, connectRedis, redisEnvFor, scanKeys } from "../../src/queue/redis.js";
import { ROTATION_QUEUE, enqueueRotation } from "../../src/queue/rotation-queue.js";
import { pendingRotation } from "../../src/rotation/reconcile.js";
import { REDIS_URL, dropPrefix, testPrefix } from "./redis.js";

export interface World {
  sandbox: Sandbox;
  client: SecretsManagerClient;
  creds: SeededCallCov[];
  jcCreds: SeededJustCall[];
  /** JustCall secrets the test made (the dashboard shows them once): part of the leak scan. */
  jcSecrets: string[];
  env: Record<string, string>;
  prefix: string;
  redis: Redis;
  queue: Queue;
  workers: CliProcess[];
  /** The inventory file the workers read. */
  inventory: string;
  /** Writes the inventory again with these options changed (a deploy of new settings; running workers keep the old). */
  rewriteInventory(changes: Partial<Omit<InventoryOptions, "justcall" | "queuePrefix">>): void;
  startWorker(extraEnv?: Record<string, string>): Promise<CliProcess>;
  enqueue(credentialId: string, emergency?: boolean): Promise<string>;
  currentKey(c: SeededCallCov): Promise<{ versionId: string; apiKey: string; keyId: string }>;
  stagesOf(c: SeededCallCov): Promise<Array<{ versionId: string; stages: string[] }>>;
  /** Waits until the credential has a new current key whose rotation Redis records as completed, and the original key revoked. */
  waitRotated(c: SeededCallCov, timeoutMs?: number): Promise<void>;
  /** Every secret the world has seen: all keys the vendor made and the management password. */
  secrets(): string[];
  redisDump(): Promise<string>;
  close(): Promise<void>;
}

export interface JustCallWorldOptions {
  count: number;
  singlePair?: boolean;
  every?: string;
  remindEvery?: string;
  deadline?: string;
}

export async function startWorld(
  o: {
    credentials?: number;
    redisUrl?: string;
    /** Redis of another topology (a cluster, Sentinel, TLS with a login): used instead of redisUrl. */
    redis?: RedisTopology;
    jc?: JustCallWorldOptions;
    /** Seed keys 100 days old: all due at once, once. */ due?: boolean;
    /** The CallCov account's management budget per minute (the simulator's default, 120, when absent). */
    managementPerMinute?: number;
    /** The worker's log level (debug when absent). */
    logLevel?: string;
  } & Partial<Omit<InventoryOptions, "justcall">> = {},
): Promise<World> {
  const sandbox = await startSandbox({
    ...(o.jc?.singlePair ? { justcallSinglePair: true } : {}),
    ...(o.managementPerMinute ? { managementPerMinute: o.managementPerMinute } : {}),
  });
  const env = { ...sandboxEnv(sandbox) };
  process.env.AWS_ACCESS_KEY_ID ??= env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY ??= env.AWS_SECRET_ACCESS_KEY;
  const client = createSecretsManagerClient({ endpoint: sandbox.urls.secretsManager });
  if (o.due) sandbox.emulator.setClock(() => Date.now() - 100 * 86_400_000);
  const login = await seedManagementLogin(client);
  const creds: SeededCallCov[] = [];
  for (let i = 0; i < (o.credentials ?? 1); i++) creds.push(await seedCallCovCredential(sandbox, client, `cred-${i}`));
  sandbox.emulator.setClock(Date.now);
  const jcCreds: SeededJustCall[] = [];
  for (let i = 0; i < (o.jc?.count ?? 0); i++) jcCreds.push(await seedJustCallCredential(sandbox, client, `jc-${i}`));
  const dir = mkdtempSync(join(tmpdir(), "kr-world-"));
  const prefix = o.queuePrefix ?? testPrefix("world");
  const inventory = join(dir, "inventory.yaml");
  const {
    jc,
    due: _due,
    managementPerMinute: _mpm,
    logLevel,
    redisUrl: _url,
    redis: _topology,
    credentials: _n,
    ...inventoryOptions
  } = o;
  const write = (changes: Partial<InventoryOptions>) =>
    writeCallCovInventory(inventory, sandbox, creds, login, {
      every: "90d",
      grace: "1s",
      lockDuration: "2s",
      dueCheckEvery: "1s",
      orphanMinAge: "0s",
      ...inventoryOptions,
      ...changes,
      queuePrefix: prefix,
      ...(jc
        ? {
            justcall: jcCreds.map((j) => ({
              ...j,
              ...(jc.every ? { every: jc.every } : {}),
              singlePair: jc.singlePair ?? false,
              ...(jc.remindEvery ? { remindEvery: jc.remindEvery } : {}),
              ...(jc.deadline ? { deadline: jc.deadline } : {}),
            })),
          }
        : {}),
    });
  write({});
  const topology: RedisTopology = o.redis ?? { kind: "node", url: o.redisUrl ?? REDIS_URL };
  const childEnv = {
    ...env,
    ...redisEnvFor(topology),
    KEY_ROTATOR_CONFIG: inventory,
    KEY_ROTATOR_HTTP_PORT: "0",
    LOG_LEVEL: logLevel ?? "debug",
  };
  const redis = connectRedis(topology);
  const queue = new Queue(ROTATION_QUEUE, { connection: redis, prefix });
  const workers: CliProcess[] = [];
  // Should the test process die midway, its workers must not live on.
  const killWorkers = () => void workers.forEach((w) => w.child.kill("SIGKILL"));
  process.on("exit", killWorkers);
  // JustCall secrets are shown once; the world remembers the ones it made or was handed.
  const jcSecrets: string[] = jcCreds.map((j) => j.apiSecret);

  const stagesOf = async (c: SeededCallCov) => {
    const out = await client.send(new ListSecretVersionIdsCommand({ SecretId: c.secretId }));
    return (out.Versions ?? []).map((v) => ({ versionId: v.VersionId ?? "", stages: v.VersionStages ?? [] }));
  };
  const currentKey = async (c: SeededCallCov) => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: c.secretId }));
    const v = JSON.parse(out.SecretString ?? "{}") as { apiKey: string; keyId: string };
    return { versionId: out.VersionId ?? "", apiKey: v.apiKey, keyId: v.keyId };
  };

  return {
    sandbox,
    client,
    creds,
    jcCreds,
    jcSecrets,
    env: childEnv,
    prefix,
    redis,
    queue,
    workers,
    stagesOf,
    currentKey,
    inventory,
    rewriteInventory: (changes) => write(changes),
    async startWorker(extraEnv = {}) {
      const w = startCli(["worker"], { env: { ...childEnv, ...extraEnv } });
      workers.push(w);
      await w.waitForLine(/worker ready/, 30_000);
      return w;
    },
    async enqueue(credentialId, emergency = false) {
      const r = await enqueueRotation(queue, redis, {
        credentialId,
        trigger: emergency ? "emergency" : "manual",
        emergency,
      });
      return r.rotationId;
    },
    async waitRotated(c, timeoutMs = 25_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const current = await currentKey(c);
        const pending = pendingRotation(await stagesOf(c)) !== undefined;
        const completed = (await redis.hget(`${prefix}:completed`, c.id)) === current.versionId;
        if (current.keyId !== c.keyId && !pending && completed && !sandbox.callcov.isKeyActive(c.keyId)) return;
        if (Date.now() > end) {
          const lines = workers.flatMap((w) => w.lines.slice(-25)).join("\n");
          throw new Error(
            `${c.id} did not converge: current ${current.keyId}, pending ${String(pending)}, recorded completed ${String(completed)}, original active ${String(sandbox.callcov.isKeyActive(c.keyId))}\n${lines}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    secrets() {
      return [...sandbox.callcov.state.keys.values()].map((k) => k.key).concat(SANDBOX_LOGIN.password, ...jcSecrets);
    },
    async redisDump() {
      const parts: string[] = [];
      for (const key of await scanKeys(redis, `${prefix}*`)) {
        const type = await redis.type(key);
        if (type === "string") parts.push(key, (await redis.get(key)) ?? "");
        else if (type === "hash") parts.push(key, JSON.stringify(await redis.hgetall(key)));
        else if (type === "list") parts.push(key, ...(await redis.lrange(key, 0, -1)));
        else if (type === "set") parts.push(key, ...(await redis.smembers(key)));
        else if (type === "zset") parts.push(key, ...(await redis.zrange(key, 0, -1)));
        else if (type === "stream") parts.push(key, JSON.stringify(await redis.xrange(key, "-", "+")));
      }
      return parts.join("\n");
    },
    async close() {
      await Promise.all(workers.map((w) => w.kill("SIGKILL")));
      await queue.close();
      await dropPrefix(redis, prefix).catch(() => undefined);
      redis.disconnect();
      client.destroy();
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
      process.off("exit", killWorkers);
    },
  };
}

/**
 * DESIGN.md rule 7 for one credential: one working current key, the old one revoked exactly once,
 * no orphan, no rotation in progress (AWSPENDING on a version that is not current; a completed
 * rotation leaves it on the version it made current).
 *
 * "Revoked exactly once", as the product promises it: the old key went from active to inactive
 * exactly one time and is inactive now (the simulator has no way back to active, so it was never
 * re-activated), and no revoke request was ever sent for the key that is current now. Repeat
 * DELETEs of the old key are allowed: after a crash or a lost answer (a reset, a 429) the product
 * asks again, and DESIGN.md counts the 404 for a key already gone as done.
 */
export async function expectConverged(world: World, c: SeededCallCov): Promise<string[]> {
  const problems: string[] = [];
  const current = await world.currentKey(c);
  const works =
    (await fetch(`${world.sandbox.urls.callcov}/api/v1/health`, { headers: { "X-API-Key": current.apiKey } }))
      .status === 200;
  if (!works) problems.push(`${c.id}: the current key is refused by the vendor`);
  if (world.sandbox.callcov.isKeyActive(c.keyId)) problems.push(`${c.id}: the old key ${c.keyId} is still active`);
  const { revocationsByKey, revokeRequestsByKey } = world.sandbox.callcov.state.counters;
  const revocations = revocationsByKey[c.keyId] ?? 0;
  if (revocations !== 1)
    problems.push(`${c.id}: the old key ${c.keyId} was revoked ${revocations} times, expected exactly 1`);
  const againstCurrent = revokeRequestsByKey[current.keyId] ?? 0;
  if (againstCurrent > 0)
    problems.push(`${c.id}: ${againstCurrent} revoke requests for the current key ${current.keyId}`);
  const active = [...world.sandbox.callcov.state.keys.values()].filter(
    (k) => k.active && k.name.startsWith(`key-rotator/${c.id}/`),
  );
  const orphans = active.filter((k) => k.id !== current.keyId);
  if (orphans.length > 0) problems.push(`${c.id}: orphan keys at the vendor: ${orphans.map((k) => k.id).join(", ")}`);
  const pending = pendingRotation(await world.stagesOf(c));
  if (pending) problems.push(`${c.id}: AWSPENDING left on ${pending.versionId}, which is not current`);
  return problems;
}

/** The credential id in a vendor key name `key-rotator/<credential>/<rotationId>`, or undefined for a key not ours. */
export function credentialOfKeyName(name: string): string | undefined {
  return /^key-rotator\/([^/]+)\/[^/]+$/.exec(name)?.[1];
}

/** How many keys key-rotator made at the vendor for each credential (of any rotation). */
export function keysMadePerCredential(world: World): Map<string, number> {
  const made = new Map<string, number>();
  for (const k of world.sandbox.callcov.state.keys.values()) {
    const credential = credentialOfKeyName(k.name);
    if (credential !== undefined) made.set(credential, (made.get(credential) ?? 0) + 1);
  }
  return made;
}

/** Per credential, the results (`completed`, `rolled-back`) of its `rotation.finished` log lines, in order. */
export function finishedPerCredential(lines: string[]): Map<string, string[]> {
  const finished = new Map<string, string[]>();
  for (const line of lines) {
    if (!line.includes('"rotation.finished"')) continue;
    const entry = JSON.parse(line) as { credentialId?: string; result?: string };
    const id = entry.credentialId ?? "(no credential id)";
    finished.set(id, [...(finished.get(id) ?? []), entry.result ?? "(no result)"]);
  }
  return finished;
}

export function leaks(text: string, secrets: string[]): string[] {
  return secrets.filter((s) => s.length >= 8 && text.includes(s)).map((s) => `${s.slice(0, 7)}…`);
}
