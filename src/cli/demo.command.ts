/**
 * `key-rotator demo` (`npm run demo`): the product end to end on the built-in local setup. Starts
 * the sandbox and a real worker process, then shows five scenarios, seven rotations:
 *   1. scheduled: a CallCov key reaches its (accelerated) age and the worker rotates it on its own;
 *   2. emergency: a person runs `rotate --emergency --wait`; grace 0, top priority;
 *   3. failed verify: the vendor refuses the new key; the rotation rolls back, current untouched;
 *   4. JustCall, operator-assisted: the demo plays the person at the vendor's dashboard;
 *   5. vendors added as definitions: one Twilio, one SendGrid and one Datadog key, `rotate --wait`.
 * Ends with a table of what happened (src/demo/demo-outcomes.ts judges each rotation from the
 * outside); exit 0 when all seven went as expected.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startCli, type CliProcess } from "../demo/cli-process.js";
import { activeKeyIds, callcovOutcome, justcallOutcome, keyApiOutcome, type Outcome } from "../demo/demo-outcomes.js";
import { ensureRedis } from "../demo/local-redis.js";
import { startSandbox } from "../sandbox/sandbox.js";
import type { SandboxKeyApiVendorId } from "../sandbox/key-api-sandbox.js";
import {
  type SeededCallCov,
  type SeededKeyApi,
  sandboxEnv,
  seedCallCovCredential,
  seedJustCallCredential,
  seedKeyApiCredential,
  seedManagementLogin,
  writeCallCovInventory,
} from "../sandbox/seed.js";
import { createSecretsManagerClient } from "../store/aws-secret-store.js";
import { type RedisTopology, connectRedis, dropPrefix } from "../queue/redis.js";
import { EXIT_FAILED, EXIT_OK, type Out, table } from "./output.js";

/** Scenario 5's credentials: one of each vendor added as a definition, beyond CallCov and JustCall. */
const DEFINITION_VENDORS: Array<[SandboxKeyApiVendorId, string]> = [
  ["twilio", "sms-alerts"],
  ["sendgrid", "mail-relay"],
  ["datadog", "metrics"],
];
/** Every rotation the demo runs: three CallCov, one JustCall, one per definition vendor. */
const ROTATIONS = 4 + DEFINITION_VENDORS.length;

export async function demoCommand(o: { json?: boolean }, out: Out): Promise<number> {
  const say = (text: string) => {
    if (!o.json) out.stdout(text);
  };
  const redis = await ensureRedis();
  say(`Redis: ${redis.shown}${redis.started ? " (started for the demo)" : ""}`);
  const sandbox = await startSandbox();
  const sims = Object.keys(sandbox.urls).filter((k) => k !== "secretsManager");
  say(`Sandbox: Secrets Manager emulator ${sandbox.urls.secretsManager}; simulators on 127.0.0.1: ${sims.join(", ")}`);
  const env = sandboxEnv(sandbox);
  Object.assign(process.env, env);
  const client = createSecretsManagerClient({ endpoint: sandbox.urls.secretsManager });
  const dir = mkdtempSync(join(tmpdir(), "key-rotator-demo-"));
  const prefix = `{key-rotator-demo-${randomBytes(3).toString("hex")}}`;
  let worker: CliProcess | undefined;
  const outcomes: Outcome[] = [];
  try {
    const login = await seedManagementLogin(client);
    const creds: SeededCallCov[] = [];
    for (const id of ["billing-api", "support-bot", "analytics"])
      creds.push(await seedCallCovCredential(sandbox, client, id));
    const phones = await seedJustCallCredential(sandbox, client, "phones");
    const defined: SeededKeyApi[] = [];
    for (const [vendor, id] of DEFINITION_VENDORS)
      defined.push(await seedKeyApiCredential(sandbox, client, vendor, id));
    const inventory = join(dir, "inventory.yaml");
    writeCallCovInventory(inventory, sandbox, creds, login, {
      queuePrefix: prefix,
      everyById: { "billing-api": "10s" },
      grace: "2s",
      dueCheckEvery: "1s",
      justcall: [{ ...phones, every: "90d", remindEvery: "2s", deadline: "1h" }],
      keyApi: defined.map((k) => ({ ...k, grace: "1s" })),
    });
    say(
      `Inventory: ${inventory} (3 CallCov credentials, billing-api every 10s: an accelerated 90 days, grace 2s; 1 JustCall credential; 1 Twilio, 1 SendGrid, 1 Datadog credential, grace 1s)\n`,
    );
    const childEnv = {
      ...env,
      ...redis.env,
      KEY_ROTATOR_CONFIG: inventory,
      KEY_ROTATOR_HTTP_PORT: "0",
      LOG_LEVEL: "info",
      // Not the image's socket: a demo run inside a worker's container must not take (or fail on) its path.
      KEY_ROTATOR_SOCKET: "",
    };

    worker = startCli(["worker"], { env: childEnv, onLine: (line) => say(workerLine(line)) });
    await worker.waitForLine(/worker ready/, 30_000);

    say("\n== 1. Scheduled rotation: waiting for billing-api's key to come due ...");
    const t1 = Date.now();
    const billing = creds[0] as SeededCallCov;
    await waitFor(() => !sandbox.callcov.isKeyActive(billing.keyId), 40_000, "billing-api's scheduled rotation");
    outcomes.push(
      await callcovOutcome(client, sandbox, billing, {
        how: "scheduled (key age)",
        expected: "completed",
        result: "completed",
        since: t1,
      }),
    );

    say("\n== 2. Emergency rotation of support-bot: key-rotator rotate support-bot --emergency --wait");
    const support = creds[1] as SeededCallCov;
    const t2 = Date.now();
    const emergency = startCli(
      ["rotate", support.id, "--emergency", "--wait", "--reason", "key pasted in a public channel"],
      { env: childEnv, onLine: (l) => say(`  cli     | ${l}`) },
    );
    const emergencyCode = await emergency.exited;
    outcomes.push(
      await callcovOutcome(client, sandbox, support, {
        how: "emergency (person)",
        expected: "completed",
        result: emergencyCode === 0 ? "completed" : `exit ${emergencyCode ?? "?"}`,
        since: t2,
      }),
    );

    say("\n== 3. Failed verify: the vendor refuses analytics' new key; the rotation must roll back");
    const analytics = creds[2] as SeededCallCov;
    sandbox.callcov.faults.add({ kind: "error", status: 401, match: "GET /api/v1/health", count: 1 });
    const t3 = Date.now();
    const refused = startCli(["rotate", analytics.id, "--wait"], {
      env: childEnv,
      onLine: (l) => say(`  cli     | ${l}`),
    });
    const refusedCode = await refused.exited;
    outcomes.push(
      await callcovOutcome(client, sandbox, analytics, {
        how: "manual, verify refused",
        expected: "rolled back",
        result: refusedCode === 1 ? "rolled back" : `exit ${refusedCode ?? "?"}`,
        since: t3,
        rollback: true,
      }),
    );

    say("\n== 4. JustCall, operator-assisted: the demo plays the person at JustCall's dashboard");
    const t4 = Date.now();
    const asked = startCli(["rotate", phones.id], { env: childEnv, onLine: (l) => say(`  cli     | ${l}`) });
    await asked.exited;
    await worker.waitForLine((l) => l.includes("pair-needed") || l.includes("a new API pair is needed"), 20_000);
    const made = (await (await fetch(`${sandbox.urls.justcall}/__dashboard/pairs`, { method: "POST" })).json()) as {
      apiKey: string;
      apiSecret: string;
    };
    say(
      `  person  | generated a new pair in the dashboard (key ${made.apiKey.slice(0, 4)}…) and runs: key-rotator submit ${phones.id}`,
    );
    const submitted = startCli(["submit", phones.id], {
      env: childEnv,
      stdin: `${made.apiKey}\n${made.apiSecret}\n`,
      onLine: (l) => say(`  cli     | ${l}`),
    });
    await submitted.exited;
    await worker.waitForLine((l) => l.includes("revoke the old pair"), 20_000);
    await fetch(`${sandbox.urls.justcall}/__dashboard/pairs/${phones.apiKey}`, { method: "DELETE" });
    say(`  person  | revoked the old pair (key ${phones.apiKey.slice(0, 4)}…) in the dashboard`);
    await worker.waitForLine((l) => l.includes('"rotation.finished"') && l.includes(phones.id), 30_000);
    outcomes.push(await justcallOutcome(client, sandbox, phones, t4));

    say("\n== 5. Vendors added as definitions (vendors/*.yaml): one key each of Twilio, SendGrid and Datadog");
    for (const k of defined) {
      say(`  -- ${k.id} (${k.vendor}): key-rotator rotate ${k.id} --wait`);
      const activeBefore = activeKeyIds(sandbox, k);
      const since = Date.now();
      const rotated = startCli(["rotate", k.id, "--wait"], { env: childEnv, onLine: (l) => say(`  cli     | ${l}`) });
      const exitCode = await rotated.exited;
      outcomes.push(await keyApiOutcome(client, sandbox, k, { exitCode, activeBefore, since }));
    }
  } finally {
    await worker?.kill("SIGTERM");
    await sandbox.close();
    await dropQueuePrefix(redis.topology, prefix);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const allOk = outcomes.length === ROTATIONS && outcomes.every((x) => x.ok);
  if (o.json) out.stdout(JSON.stringify({ ok: allOk, outcomes }));
  else {
    out.stdout(
      `\n${table(
        ["credential", "vendor", "how", "expected", "result", "old key", "current key works", "seconds"],
        outcomes.map((x) => [x.credential, x.vendor, x.how, x.expected, x.result, x.oldKey, x.currentWorks, x.seconds]),
      )}`,
    );
    out.stdout(
      allOk ? "\nDemo finished: every rotation ended as expected." : "\nDemo finished with a surprise: see the table.",
    );
  }
  return allOk ? EXIT_OK : EXIT_FAILED;
}

/** One worker log line for people: time, credential, what happened. */
function workerLine(line: string): string {
  try {
    const e = JSON.parse(line) as { time?: string; msg?: string; credentialId?: string; event?: string };
    const time = e.time?.slice(11, 19) ?? "";
    return `  worker  | ${time} ${e.credentialId ? `${e.credentialId.padEnd(12)} ` : ""}${e.msg ?? ""}`;
  } catch {
    return `  worker  | ${line}`;
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function dropQueuePrefix(topology: RedisTopology, prefix: string): Promise<void> {
  const redis = connectRedis(topology, { failFast: true });
  redis.on("error", () => undefined);
  try {
    await dropPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
