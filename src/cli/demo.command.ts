/**
 * `key-rotator demo` (`npm run demo`): the product end to end on the built-in local setup. Starts
 * the sandbox and a real worker process, then shows four rotations, three of CallCov keys:
 *   1. scheduled: a key reaches its (accelerated) age and the worker rotates it on its own;
 *   2. emergency: a person runs `rotate --emergency --wait`; grace 0, top priority;
 *   3. failed verify: the vendor refuses the new key; the rotation rolls back, current untouched;
 *   4. JustCall, operator-assisted: the demo plays the person at the vendor's dashboard.
 * Ends with a table of what happened; exit 0 when all four went as expected.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { startCli, type CliProcess } from "../demo/cli-process.js";
import { ensureRedis } from "../demo/local-redis.js";
import { startSandbox } from "../sandbox/sandbox.js";
import {
  type SeededCallCov,
  type SeededJustCall,
  sandboxEnv,
  seedCallCovCredential,
  seedJustCallCredential,
  seedManagementLogin,
  writeCallCovInventory,
} from "../sandbox/seed.js";
import { createSecretsManagerClient } from "../store/aws-secret-store.js";
import { type RedisTopology, connectRedis, dropPrefix } from "../queue/redis.js";
import { EXIT_FAILED, EXIT_OK, type Out, table } from "./output.js";

interface Outcome {
  credential: string;
  how: string;
  expected: string;
  result: string;
  oldKey: string;
  currentWorks: string;
  seconds: string;
  ok: boolean;
}

export async function demoCommand(o: { json?: boolean }, out: Out): Promise<number> {
  const say = (text: string) => {
    if (!o.json) out.stdout(text);
  };
  const redis = await ensureRedis();
  say(`Redis: ${redis.shown}${redis.started ? " (started for the demo)" : ""}`);
  const sandbox = await startSandbox();
  say(`Sandbox: Secrets Manager emulator ${sandbox.urls.secretsManager}, CallCov simulator ${sandbox.urls.callcov}`);
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
    const inventory = join(dir, "inventory.yaml");
    writeCallCovInventory(inventory, sandbox, creds, login, {
      queuePrefix: prefix,
      everyById: { "billing-api": "10s" },
      grace: "2s",
      dueCheckEvery: "1s",
      justcall: [{ ...phones, every: "90d", remindEvery: "2s", deadline: "1h" }],
    });
    say(
      `Inventory: ${inventory} (3 CallCov credentials, billing-api every 10s: an accelerated 90 days, grace 2s; 1 JustCall credential)\n`,
    );
    const childEnv = {
      ...env,
      ...redis.env,
      KEY_ROTATOR_CONFIG: inventory,
      KEY_ROTATOR_HTTP_PORT: "0",
      LOG_LEVEL: "info",
    };

    worker = startCli(["worker"], { env: childEnv, onLine: (line) => say(workerLine(line)) });
    await worker.waitForLine(/worker ready/, 30_000);

    say("\n== 1. Scheduled rotation: waiting for billing-api's key to come due ...");
    const t1 = Date.now();
    const billing = creds[0] as SeededCallCov;
    await waitFor(() => !sandbox.callcov.isKeyActive(billing.keyId), 40_000, "billing-api's scheduled rotation");
    outcomes.push(await outcome(billing, "scheduled (key age)", "completed", "completed", t1));

    say("\n== 2. Emergency rotation of support-bot: key-rotator rotate support-bot --emergency --wait");
    const support = creds[1] as SeededCallCov;
    const t2 = Date.now();
    const emergency = startCli(
      ["rotate", support.id, "--emergency", "--wait", "--reason", "key pasted in a public channel"],
      { env: childEnv, onLine: (l) => say(`  cli     | ${l}`) },
    );
    const emergencyCode = await emergency.exited;
    outcomes.push(
      await outcome(
        support,
        "emergency (person)",
        "completed",
        emergencyCode === 0 ? "completed" : `exit ${emergencyCode ?? "?"}`,
        t2,
      ),
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
      await outcome(
        analytics,
        "manual, verify refused",
        "rolled back",
        refusedCode === 1 ? "rolled back" : `exit ${refusedCode ?? "?"}`,
        t3,
        true,
      ),
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
    outcomes.push(await justcallOutcome(phones, t4));
  } finally {
    await worker?.kill("SIGTERM");
    await sandbox.close();
    await dropQueuePrefix(redis.topology, prefix);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const allOk = outcomes.length === 4 && outcomes.every((x) => x.ok);
  if (o.json) out.stdout(JSON.stringify({ ok: allOk, outcomes }));
  else {
    out.stdout(
      `\n${table(
        ["credential", "how", "expected", "result", "old key", "current key works", "seconds"],
        outcomes.map((x) => [x.credential, x.how, x.expected, x.result, x.oldKey, x.currentWorks, x.seconds]),
      )}`,
    );
    out.stdout(
      allOk ? "\nDemo finished: every rotation ended as expected." : "\nDemo finished with a surprise: see the table.",
    );
  }
  return allOk ? EXIT_OK : EXIT_FAILED;

  async function justcallOutcome(c: SeededJustCall, since: number): Promise<Outcome> {
    return justcallOutcomeOf(client, sandbox.urls.justcall, c, since);
  }

  async function outcome(
    c: SeededCallCov,
    how: string,
    expected: string,
    result: string,
    since: number,
    rollback = false,
  ): Promise<Outcome> {
    const current = await client.send(new GetSecretValueCommand({ SecretId: c.secretId }));
    const value = JSON.parse(current.SecretString ?? "{}") as { apiKey?: string; keyId?: string };
    const works =
      (await fetch(`${sandbox.urls.callcov}/api/v1/health`, { headers: { "X-API-Key": value.apiKey ?? "" } }))
        .status === 200;
    const oldActive = sandbox.callcov.isKeyActive(c.keyId);
    const ok =
      result === expected &&
      works &&
      (rollback ? oldActive && value.keyId === c.keyId : !oldActive && value.keyId !== c.keyId);
    return {
      credential: c.id,
      how,
      expected,
      result,
      oldKey: oldActive ? (rollback ? "kept (still current)" : "STILL ACTIVE") : "revoked",
      currentWorks: works ? "yes" : "NO",
      seconds: ((Date.now() - since) / 1000).toFixed(1),
      ok,
    };
  }
}

async function justcallOutcomeOf(
  client: ReturnType<typeof createSecretsManagerClient>,
  justcallUrl: string,
  c: SeededJustCall,
  since: number,
): Promise<Outcome> {
  const current = JSON.parse(
    (await client.send(new GetSecretValueCommand({ SecretId: c.secretId }))).SecretString ?? "{}",
  ) as { apiKey?: string; apiSecret?: string };
  const works =
    (
      await fetch(`${justcallUrl}/v2/account`, {
        headers: { authorization: `${current.apiKey ?? ""}:${current.apiSecret ?? ""}` },
      })
    ).status === 200;
  const pairs = (await (await fetch(`${justcallUrl}/__dashboard/pairs`)).json()) as {
    data: Array<{ apiKey: string; active: boolean }>;
  };
  const oldActive = pairs.data.find((p) => p.apiKey === c.apiKey)?.active ?? false;
  const ok = works && !oldActive && current.apiKey !== c.apiKey;
  return {
    credential: c.id,
    how: "operator-assisted (JustCall)",
    expected: "completed",
    result: ok ? "completed" : "not completed",
    oldKey: oldActive ? "STILL ACTIVE" : "revoked",
    currentWorks: works ? "yes" : "NO",
    seconds: ((Date.now() - since) / 1000).toFixed(1),
    ok,
  };
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
