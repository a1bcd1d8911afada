/**
 * `npm run test:image`: builds the image with podman from the unchanged Dockerfile (its base made
 * here by scripts/image-base.sh) and runs it the way the Helm chart does: read-only root, uid 1000,
 * every capability dropped, a tmpfs /tmp, the inventory and the secrets mounted read-only as files.
 * Against the sandbox (run here, on loopback) and the local Redis it checks that the worker gets
 * ready, answers /healthz, /readyz and /metrics on its probe port (and the admin API only on its own),
 * completes a rotation asked through the admin API and an emergency asked with the CLI inside the
 * container (`podman exec`, as `kubectl exec`: through the worker's local socket),
 * and, sent SIGTERM while a vendor call of a step is in hand, finishes that step and exits 0. It also
 * checks that the image holds no devDependency and no TypeScript source, and prints its figures:
 * image size, build time, time to ready, SIGTERM drain.
 *
 * Options (environment): KEY_ROTATOR_IMAGE_CONTEXT, the build context (default: the repository);
 * REDIS_URL (default redis://127.0.0.1:6379). Needs podman and runc (Debian's packages), and root.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { stringify } from "yaml";
import { startSandbox } from "../../src/sandbox/sandbox.js";
import { SANDBOX_ENV, sandboxEnv, seedCallCovCredential, seedManagementLogin } from "../../src/sandbox/seed.js";
import { podmanRunArgs, unexpectedFiles } from "./image-checks.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const CONTEXT = resolve(process.env.KEY_ROTATOR_IMAGE_CONTEXT ?? ROOT);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const VERSION = (JSON.parse(readFileSync(join(CONTEXT, "package.json"), "utf8")) as { version: string }).version;
const IMAGE = `localhost/key-rotator:${VERSION}-test`;
/** The two flags podman needs on these machines (DEVELOPERS.md): runc, and limits it may set. */
const PODMAN = ["--runtime", "runc"];
const ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=20000:20000"];

const results: Array<{ name: string; ok: boolean; detail?: string }> = [];
const figures: Record<string, string> = {};

async function check(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`  ok   ${name}`);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    results.push({ name, ok: false, detail });
    console.log(`  FAIL ${name}: ${detail}`);
  }
}

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

async function podman(args: string[], options: { maxBuffer?: number } = {}): Promise<string> {
  const { stdout } = await run("podman", [...PODMAN, ...args], { maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024 });
  return stdout;
}

/** npm inside the build trusts what Node on this machine trusts (NODE_EXTRA_CA_CERTS), without baking it in. */
function buildTrustMounts(dir: string): string[] {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca) return [];
  const npmrc = join(dir, "npmrc");
  writeFileSync(npmrc, "cafile=/run/key-rotator-build/ca.crt\n");
  return ["--volume", `${ca}:/run/key-rotator-build/ca.crt:ro`, "--volume", `${npmrc}:/usr/local/etc/npmrc:ro`];
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Alert webhook receiver: counts what arrives and keeps the signature header the HMAC secret file makes. */
async function webhookReceiver(): Promise<{ url: string; signed: () => number; server: Server }> {
  let signed = 0;
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on("end", () => {
      if (Object.keys(req.headers).some((h) => h.includes("signature"))) signed += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, signed: () => signed, server };
}

async function main(): Promise<number> {
  // This process runs on the machine's Node (20 here): the SDK's notice about it is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const work = mkdtempSync(join(tmpdir(), "kr-image-"));
  const started: ChildProcess[] = [];
  const containers: string[] = [];
  const sandbox = await startSandbox();
  const hook = await webhookReceiver();
  try {
    console.log("test:image: the base image");
    const base = Date.now();
    await run("bash", [join(CONTEXT, "scripts/image-base.sh")], { cwd: CONTEXT, maxBuffer: 16 * 1024 * 1024 }).then(
      ({ stdout }) => process.stdout.write(stdout),
    );
    figures["base image (make or reuse)"] = `${((Date.now() - base) / 1000).toFixed(1)} s`;

    console.log(`test:image: podman build ${IMAGE} from ${CONTEXT}`);
    const build = Date.now();
    await podman(
      ["build", "--pull=never", "--network", "host", ...ULIMITS, ...buildTrustMounts(work), "-t", IMAGE, CONTEXT],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    figures["image build"] = `${((Date.now() - build) / 1000).toFixed(1)} s`;
    const size = Number(await podman(["image", "inspect", "--format", "{{.Size}}", IMAGE]));
    figures["image size"] = `${(size / 1e6).toFixed(1)} MB`;

    await check("the image holds no devDependency and no TypeScript source", async () => {
      const pkg = JSON.parse(readFileSync(join(CONTEXT, "package.json"), "utf8")) as {
        devDependencies?: Record<string, string>;
      };
      const listing = await podman([
        "run",
        "--rm",
        ...ULIMITS,
        "--network",
        "none",
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        "cd /app && ls -1 node_modules node_modules/@* | sed 's/^/nm:/'; find . -path ./node_modules -prune -o -type f -print",
      ]);
      const problems = unexpectedFiles(listing, Object.keys(pkg.devDependencies ?? {}));
      assert(problems.length === 0, problems.join("; "));
    });

    // The cluster as the chart makes it: the inventory, the admin token and an alert secret as files.
    const client = new SecretsManagerClient({
      endpoint: sandbox.urls.secretsManager,
      region: SANDBOX_ENV.AWS_REGION,
      credentials: { accessKeyId: "sandbox", secretAccessKey: "sandbox" },
    });
    const management = await seedManagementLogin(client);
    const cred = await seedCallCovCredential(sandbox, client, `image-${randomBytes(3).toString("hex")}`);
    const config = join(work, "config");
    const secrets = join(work, "secrets");
    mkdirSync(config);
    mkdirSync(secrets);
    const adminToken = randomBytes(24).toString("hex");
    writeFileSync(join(secrets, "admin-token"), adminToken);
    writeFileSync(join(secrets, "webhook-hmac"), randomBytes(16).toString("hex"));
    const port = await freePort();
    const adminPort = await freePort();
    writeFileSync(
      join(config, "inventory.yaml"),
      stringify({
        settings: { queuePrefix: `{kr-image-${randomBytes(4).toString("hex")}}`, httpPort: port },
        alertRoutes: {
          hook: { type: "webhook", url: hook.url, hmacSecret: { file: "/var/run/secrets/key-rotator/webhook-hmac" } },
        },
        credentials: [
          {
            id: cred.id,
            vendor: "callcov",
            secretId: cred.secretId,
            baseUrl: sandbox.urls.callcov,
            managementSecretId: management,
            rotation: { every: "90d", grace: "0s" },
            alerts: { warning: ["hook"], critical: ["hook"] },
          },
        ],
      }),
    );
    for (const f of ["admin-token", "webhook-hmac"]) chmodSync(join(secrets, f), 0o444);
    chmodSync(work, 0o755);

    const name = `kr-image-${randomBytes(4).toString("hex")}`;
    const env = {
      ...sandboxEnv(sandbox),
      REDIS_URL,
      KEY_ROTATOR_CONFIG: "/etc/key-rotator/config/inventory.yaml",
      KEY_ROTATOR_ADMIN_TOKEN_FILE: "/var/run/secrets/key-rotator/admin-token",
      // As the chart runs it: probes and metrics on one port, the admin API on its own.
      KEY_ROTATOR_HTTP_PORT: String(port),
      KEY_ROTATOR_HTTP_HOST: "127.0.0.1",
      KEY_ROTATOR_ADMIN_PORT: String(adminPort),
      KEY_ROTATOR_ADMIN_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    };
    const runStart = Date.now();
    containers.push(name);
    const worker = spawn(
      "podman",
      [
        ...PODMAN,
        ...podmanRunArgs({ name, image: IMAGE, env, ulimits: ULIMITS, config, secrets, uid: 1000 }),
        "worker",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    started.push(worker);
    let logs = "";
    worker.stdout.on("data", (c: Buffer) => (logs += c.toString()));
    worker.stderr.on("data", (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((r) => worker.once("exit", (code) => r(code)));
    const url = `http://127.0.0.1:${port}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;

    await check("the worker becomes ready", async () => {
      await waitFor("GET /readyz answers 200", 60_000, async () =>
        (await fetch(`${url}/readyz`)).ok ? true : undefined,
      );
      figures["time to ready (podman run to /readyz 200)"] = `${((Date.now() - runStart) / 1000).toFixed(1)} s`;
    });

    await check("/healthz, /readyz and /metrics answer", async () => {
      assert((await fetch(`${url}/healthz`)).status === 200, "/healthz is not 200");
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: Array<{ name: string; ok: boolean }> };
      assert(
        ready.checks.some((c) => c.name === "secrets-manager" && c.ok),
        `/readyz: ${JSON.stringify(ready)}`,
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const name of [
        "key_rotator_build_info",
        "process_resident_memory_bytes",
        "key_rotator_health_check_failing",
      ])
        assert(metrics.includes(name), `/metrics has no ${name}`);
      assert(metrics.includes(`version="${VERSION}"`), "key_rotator_build_info does not carry the package version");
      const onProbePort = await fetch(`${url}/v1/credentials/x/rotate`, { method: "POST" });
      assert(onProbePort.status === 404, `the admin API answers on the probe port (${onProbePort.status})`);
      assert((await fetch(`${adminUrl}/metrics`)).status === 404, "/metrics answers on the admin port");
    });

    const rotate = async (reason: string) => {
      const res = await fetch(`${adminUrl}/v1/credentials/${cred.id}/rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ reason }),
      });
      assert(res.status === 202, `POST rotate answered ${res.status}: ${await res.text()}`);
    };
    const current = async () => {
      const out = await client.send(new GetSecretValueCommand({ SecretId: cred.secretId }));
      return JSON.parse(out.SecretString ?? "{}") as { keyId?: string };
    };

    await check("a rotation asked through the admin API completes", async () => {
      await rotate("image test");
      const next = await waitFor("a new current key", 60_000, async () => {
        const now = await current();
        return now.keyId && now.keyId !== cred.keyId ? now.keyId : undefined;
      });
      await waitFor("the old key revoked at the vendor", 30_000, async () =>
        sandbox.callcov.isKeyActive(cred.keyId) ? undefined : true,
      );
      assert(sandbox.callcov.isKeyActive(next), "the new current key is not active at the vendor");
      const metrics = await waitFor("a completed rotation in /metrics", 10_000, async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return /key_rotator_rotations_total\{[^}]*result="completed"[^}]*\} 1/.test(text) ? text : undefined;
      });
      const leaked = [adminToken, readFileSync(join(secrets, "webhook-hmac"), "utf8")].filter(
        (s) => metrics.includes(s) || logs.includes(s),
      );
      assert(leaked.length === 0, "a secret shows in /metrics or the logs");
    });

    await check(
      "an emergency from the CLI in the container (as kubectl exec) goes through the worker's socket",
      async () => {
        const before = (await current()).keyId;
        const cli = ["exec", name, "node", "dist/src/cli/main.js", "rotate", cred.id, "--emergency"];
        const out = await podman([...cli, "--reason", "image test: socket", "--actor", "imagetest", "--json"]);
        const answer = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { socket?: boolean; rotationId?: string };
        assert(answer.socket === true && answer.rotationId, `not through the socket: ${out.slice(0, 300)}`);
        await waitFor("a new current key after the emergency", 60_000, async () => {
          const now = (await current()).keyId;
          return now && now !== before ? now : undefined;
        });
        await waitFor("the replaced key revoked at once (an emergency has no grace)", 30_000, async () =>
          before && !sandbox.callcov.isKeyActive(before) ? true : undefined,
        );
        // Its job ends when the queue takes it back from the lane, after the revocation: until then a
        // rotation asked (the next check's) joins it and makes no key of its own.
        await waitFor("the emergency's rotation finished", 30_000, async () =>
          logs.split("\n").some((l) => l.includes('"rotation.finished"') && l.includes(String(answer.rotationId)))
            ? true
            : undefined,
        );
      },
    );

    await check("SIGTERM while a step is in hand: the step finishes, then exit 0", async () => {
      const before = (await current()).keyId;
      sandbox.callcov.faults.add({ kind: "hold", match: "POST /api/v1/api-keys", count: 1 });
      await rotate("image test: SIGTERM drain");
      await waitFor("the create call held at the vendor", 30_000, async () =>
        sandbox.callcov.faults.heldCount > 0 ? true : undefined,
      );
      const term = Date.now();
      await podman(["kill", "--signal", "TERM", name]);
      await new Promise((r) => setTimeout(r, 1_500));
      assert(worker.exitCode === null, "the worker exited with a vendor call in hand");
      const released = Date.now();
      sandbox.callcov.faults.release();
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 55_000))]);
      assert(code !== "timeout", "the worker did not exit within the chart's 60 s grace period");
      figures["SIGTERM drain (SIGTERM to exit, 1.5 s of it a held vendor call)"] =
        `${((Date.now() - term) / 1000).toFixed(1)} s`;
      figures["drain after the held call returned"] = `${((Date.now() - released) / 1000).toFixed(1)} s`;
      assert(code === 0, `exit code ${String(code)}\n${logs.split("\n").slice(-10).join("\n")}`);
      assert(/"worker\.stopped"/.test(logs), "no worker.stopped line in the logs");
      // Rule 2: the key made in the step in hand reached the store before the process left.
      const made = sandbox.callcov.keyHistory().at(-1);
      assert(made && made.id !== before, "the held create never made a key");
      const stored = await Promise.all(
        ["AWSPENDING", "AWSCURRENT"].map((stage) =>
          client
            .send(new GetSecretValueCommand({ SecretId: cred.secretId, VersionStage: stage }))
            .then((o) => (JSON.parse(o.SecretString ?? "{}") as { keyId?: string }).keyId)
            .catch(() => undefined),
        ),
      );
      assert(stored.includes(made.id), `the key ${made.id} made in the step in hand is not in the store`);
    });
  } finally {
    for (const c of containers) await podman(["rm", "-f", "-t", "0", c]).catch(() => undefined);
    // Old build layers go; the last day's stay as the next run's cache (the machine is kept).
    await podman(["image", "prune", "-f", "--filter", "until=24h"]).catch(() => undefined);
    for (const p of started) if (p.exitCode === null) p.kill("SIGKILL");
    await sandbox.close();
    await new Promise<void>((r) => hook.server.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  }
  console.log("\ntest:image figures:");
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k}: ${v}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\nimage: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main().catch((err: unknown) => {
  console.error(`test:image: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return 1;
});
