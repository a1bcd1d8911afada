/**
 * `npm run test:chaos`: the proof suite. Real worker processes on the sandbox and real Redis:
 *   1. kill points: SIGKILL the worker at every step boundary and inside each vendor and store
 *      call (held open by the fault knobs), restart, and check DESIGN.md rule 7;
 *   2. the fault matrix: each vendor and store fault with its expected outcome (retry, rollback,
 *      alert, refuse) asserted;
 *   3. concurrency: three worker processes and 200 credentials all due at once: zero double
 *      rotations, all rotated.
 *   4. compound scenarios (compound.ts): several faults at once, and Redis content forged;
 *   5. the random fleet run (fleet-run.ts): 40 credentials, 3 workers, 120 s of mixed faults
 *      chosen by a seeded PRNG, then DESIGN.md's invariants judged from outside only.
 * Every scenario also scans Redis and the worker logs for secret values. Prints a closing table
 * and `chaos: N passed, N failed`; exits 1 on any violation.
 *
 * Flags: `--quick` (fewer kill points, a smaller concurrency run), `--seed N` (the fleet run's
 * seed, printed at its start; random when absent), `--fleet-only`, `--compound-only`,
 * `--fleet-seconds N` (a shorter fault phase, for development; CI uses the default 120),
 * `--case TEXT` (only the compound cases whose name contains TEXT).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PutSecretValueCommand, DeleteSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { table } from "../../src/cli/output.js";
import type { FaultRule } from "../../src/sandbox/faults.js";
import {
  type World,
  expectConverged,
  finishedPerCredential,
  keysMadePerCredential,
  leaks,
  startWorld,
} from "../support/rotation-world.js";
import { until } from "../support/alert-receiver.js";
import { compoundScenarios } from "./compound.js";
import { fleetRun } from "./fleet-run.js";

interface Row {
  scenario: string;
  case: string;
  expected: string;
  outcome: string;
  violations: string[];
}
const rows: Row[] = [];
const quick = process.argv.includes("--quick");
const fleetOnly = process.argv.includes("--fleet-only");
const compoundOnly = process.argv.includes("--compound-only");
/** A number after a flag (`--seed 42`), or undefined. */
function numberArg(flag: string): number | undefined {
  const i = process.argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`chaos: ${flag} needs a non-negative whole number\n`);
    process.exit(2);
  }
  return v;
}
const seed = numberArg("--seed") ?? Date.now() % 1_000_000_000;
const fleetSeconds = numberArg("--fleet-seconds");

async function secretScan(world: World): Promise<string[]> {
  const logs = world.workers.flatMap((w) => w.lines).join("\n");
  return [
    ...leaks(logs, world.secrets()).map((s) => `secret ${s} in a log line`),
    ...leaks(await world.redisDump(), world.secrets()).map((s) => `secret ${s} in Redis`),
  ];
}

// ---- 1. kill points ------------------------------------------------------------------------
type KillPoint = [string, "callcov" | "emulator" | "grace", FaultRule | undefined, "release" | "drop"];
const killPoints: KillPoint[] = [
  ["create: request lands after the kill", "callcov", { kind: "hold", match: "POST /api/v1/api-keys/" }, "release"],
  ["create: request lost", "callcov", { kind: "hold", match: "POST /api/v1/api-keys/" }, "drop"],
  ["store write lands after the kill", "emulator", { kind: "hold", match: "PutSecretValue" }, "release"],
  ["store write lost", "emulator", { kind: "hold", match: "PutSecretValue" }, "drop"],
  [
    "boundary create/verify: reading the new key",
    "emulator",
    { kind: "hold", match: "GetSecretValue", skip: 1 },
    "drop",
  ],
  ["verify", "callcov", { kind: "hold", match: "GET /api/v1/health" }, "drop"],
  ["promote lands", "emulator", { kind: "hold", match: "UpdateSecretVersionStage" }, "release"],
  ["promote lost", "emulator", { kind: "hold", match: "UpdateSecretVersionStage" }, "drop"],
  ["grace (delayed job)", "grace", undefined, "release"],
  ["revoke lands", "callcov", { kind: "hold", match: "DELETE /api/v1/api-keys/" }, "release"],
  ["revoke lost", "callcov", { kind: "hold", match: "DELETE /api/v1/api-keys/" }, "drop"],
  ["confirm", "callcov", { kind: "hold", match: "GET /api/v1/health", skip: 1 }, "drop"],
];

async function killPoint([name, target, rule, then]: KillPoint): Promise<void> {
  const world = await startWorld({ grace: "1s" });
  const violations: string[] = [];
  try {
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const faults = target === "callcov" ? world.sandbox.callcov.faults : world.sandbox.emulator.faults;
    if (rule) faults.add({ ...rule, count: 1 });
    const first = await world.startWorker();
    await world.enqueue(c.id);
    if (target === "grace") await first.waitForLine(/waiting: grace period/);
    else await until(() => faults.heldCount > 0, `a held ${rule?.match ?? ""}`);
    await first.kill("SIGKILL");
    if (then === "release") faults.release();
    else faults.dropHeld();
    await world.startWorker();
    await world.waitRotated(c, 40_000);
    // The old key revoked exactly once (one active -> inactive, and no revoke request ever for the
    // key now current); a repeat DELETE of the old key, answered 404, is allowed after the kill.
    violations.push(...(await expectConverged(world, c)));
    const { revoked: revokes, created } = world.sandbox.callcov.state.counters;
    // Every key made except the one current now was revoked (the seed made one too); the simulator
    // cannot revoke a key twice, so this also counts orphans revoked by the sweep exactly once.
    if (revokes !== created - 1) violations.push(`${created} keys made, ${revokes} revoked: expected ${created - 1}`);
    violations.push(...(await secretScan(world)));
  } catch (err) {
    violations.push(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
  } finally {
    await world.close();
  }
  rows.push({
    scenario: "kill point",
    case: name,
    expected: "converges",
    outcome: violations.length === 0 ? "converged" : "VIOLATION",
    violations,
  });
}

// JustCall: the person's two clicks happen around the kills.
type JcKillPoint = [string, "await-pair" | "verify" | "promote" | "await-revoke"];
const jcKillPoints: JcKillPoint[] = [
  ["JustCall: awaiting the pair", "await-pair"],
  ["JustCall: inside verify of the submitted pair", "verify"],
  ["JustCall: inside promote", "promote"],
  ["JustCall: awaiting the old pair's revocation", "await-revoke"],
];

async function jcKillPoint([name, where]: JcKillPoint): Promise<void> {
  const world = await startWorld({ jc: { count: 1, remindEvery: "1s" } });
  const violations: string[] = [];
  try {
    const jc = world.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const { startCli } = await import("../../src/demo/cli-process.js");
    const submit = async (pair: { apiKey: string; apiSecret: string }) => {
      const p = startCli(["submit", jc.id], { env: world.env, stdin: `${pair.apiKey}\n${pair.apiSecret}\n` });
      if ((await p.exited) !== 0) throw new Error(`submit failed: ${p.lines.join(" ")}`);
    };
    if (where === "verify")
      world.sandbox.justcall.faults.add({ kind: "hold", match: "GET /v2/account", skip: 1, count: 1 });
    if (where === "promote")
      world.sandbox.emulator.faults.add({ kind: "hold", match: "UpdateSecretVersionStage", count: 1 });
    const first = await world.startWorker();
    await world.enqueue(jc.id);
    await first.waitForLine(/a new API pair is needed/);
    const pair = world.sandbox.justcall.generatePair();
    world.jcSecrets.push(pair.apiSecret);
    if (where !== "await-pair") await submit(pair);
    if (where === "verify") await until(() => world.sandbox.justcall.faults.heldCount > 0, "the held verify");
    if (where === "promote") await until(() => world.sandbox.emulator.faults.heldCount > 0, "the held promote");
    if (where === "await-revoke") await first.waitForLine(/revoke the old pair/);
    await first.kill("SIGKILL");
    world.sandbox.justcall.faults.release();
    world.sandbox.emulator.faults.release();
    const second = await world.startWorker();
    if (where === "await-pair") await submit(pair);
    await second.waitForLine(/revoke the old pair/, 40_000);
    world.sandbox.justcall.revokePair(jc.apiKey);
    await until(
      async () =>
        (await world.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).every(
          (v) => !v.stages.includes("AWSPENDING"),
        ),
      "the rotation to finish",
    );
    const current = JSON.parse(
      (await world.client.send(new GetSecretValueCommand({ SecretId: jc.secretId }))).SecretString ?? "{}",
    ) as { apiKey: string; apiSecret: string };
    const works =
      (
        await fetch(`${world.sandbox.urls.justcall}/v2/account`, {
          headers: { authorization: `${current.apiKey}:${current.apiSecret}` },
        })
      ).status === 200;
    if (!works || current.apiKey !== pair.apiKey)
      violations.push("the current pair is not the submitted one, or does not work");
    violations.push(...(await secretScan(world)));
  } catch (err) {
    violations.push(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
  } finally {
    await world.close();
  }
  rows.push({
    scenario: "kill point",
    case: name,
    expected: "converges",
    outcome: violations.length === 0 ? "converged" : "VIOLATION",
    violations,
  });
}

// ---- 2. fault matrix -----------------------------------------------------------------------
interface FaultCase {
  name: string;
  expected: "completed (retried)" | "rolled back" | "refused, alert" | "failed, alert";
  arm(world: World, credentialIndex: number): Promise<void>;
}

const vendorFault = (rule: FaultRule) => async (w: World) => void w.sandbox.callcov.faults.add(rule);
const storeFault = (rule: FaultRule) => async (w: World) => void w.sandbox.emulator.faults.add(rule);
const faultCases: FaultCase[] = [
  {
    name: "vendor 503 on create",
    expected: "completed (retried)",
    arm: vendorFault({ kind: "error", status: 503, match: "POST /api/v1/api-keys/", count: 2 }),
  },
  {
    name: "vendor timeout on verify",
    expected: "completed (retried)",
    arm: vendorFault({ kind: "timeout", match: "GET /api/v1/health", count: 1 }),
  },
  {
    name: "vendor 429 with reset on create",
    expected: "completed (retried)",
    arm: vendorFault({ kind: "rate-limit", match: "POST /api/v1/api-keys/", count: 1 }),
  },
  {
    name: "vendor malformed JSON on create",
    expected: "completed (retried)",
    arm: vendorFault({ kind: "malformed", match: "POST /api/v1/api-keys/", count: 1 }),
  },
  {
    name: "vendor connection reset on revoke",
    expected: "completed (retried)",
    arm: vendorFault({ kind: "reset", match: "DELETE /api/v1/api-keys/", count: 1 }),
  },
  {
    name: "vendor 401 on verify",
    expected: "rolled back",
    arm: vendorFault({ kind: "error", status: 401, match: "GET /api/v1/health", count: 1 }),
  },
  {
    name: "vendor 403 on create",
    expected: "failed, alert",
    arm: vendorFault({ kind: "error", status: 403, match: "POST /api/v1/api-keys/", count: 1 }),
  },
  {
    name: "store throttling on put",
    expected: "completed (retried)",
    arm: storeFault({ kind: "rate-limit", match: "PutSecretValue", count: 4 }),
  },
  {
    name: "store 500 on promote",
    expected: "completed (retried)",
    arm: storeFault({ kind: "error", match: "UpdateSecretVersionStage", count: 4 }),
  },
  {
    name: "secret deleted",
    expected: "refused, alert",
    arm: async (w, i) =>
      void (await w.client.send(new DeleteSecretCommand({ SecretId: w.creds[i]?.secretId, RecoveryWindowInDays: 7 }))),
  },
  {
    name: "hand-edited value of the wrong shape",
    expected: "refused, alert",
    arm: async (w, i) =>
      void (await w.client.send(
        new PutSecretValueCommand({
          SecretId: w.creds[i]?.secretId,
          SecretString: JSON.stringify({ vendor: "callcov", apiKey: "edited-by-hand" }),
        }),
      )),
  },
];

async function faultMatrix(): Promise<void> {
  const alerts: Array<{ credentialId: string; kind: string; action: string }> = [];
  const hook = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      alerts.push(JSON.parse(body) as { credentialId: string; kind: string; action: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  const world = await startWorld({
    credentials: faultCases.length,
    grace: "0s",
    webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`,
  });
  try {
    await world.startWorker();
    for (const [i, fc] of faultCases.entries()) {
      const c = world.creds[i];
      if (!c) continue;
      const violations: string[] = [];
      let outcome = "?";
      try {
        const before = (await world.client.send(new GetSecretValueCommand({ SecretId: c.secretId }))).SecretString;
        const createdBefore = world.sandbox.callcov.state.counters.created;
        const hits = () =>
          [world.sandbox.callcov.faults.hits, world.sandbox.emulator.faults.hits]
            .flatMap((h) => Object.values(h))
            .reduce((a, b) => a + b, 0);
        const hitsBefore = hits();
        await fc.arm(world, i);
        const rotationId = await world.enqueue(c.id, true);
        const job = `rotation-${rotationId}`;
        // A 429 waits for X-RateLimit-Reset, the end of the vendor's minute: up to 60 s.
        await until(
          async () => ["completed", "failed"].includes((await (await world.queue.getJob(job))?.getState()) ?? ""),
          `${fc.name} to finish`,
          100_000,
        );
        const j = await world.queue.getJob(job);
        const state = await j?.getState();
        const step = (j?.data as { step?: string } | undefined)?.step;
        outcome =
          state === "completed"
            ? step === "done"
              ? "completed"
              : step === "rolled-back"
                ? "rolled back"
                : `completed at ${step ?? "?"}`
            : "failed";
        const alerted = () =>
          alerts.some((a) => a.credentialId === c.id && a.kind === "rotation-failed" && a.action === "trigger");
        if (fc.expected === "completed (retried)") {
          if (outcome !== "completed") violations.push(`expected completed, got ${outcome}`);
          violations.push(...(await expectConverged(world, c)));
          if (hits() === hitsBefore) violations.push("the fault never fired, so nothing was proven");
        } else if (fc.expected === "rolled back") {
          if (outcome !== "rolled back") violations.push(`expected rolled back, got ${outcome}`);
          await until(alerted, "the alert", 5_000).catch(() => violations.push("no alert"));
          if ((await world.currentKey(c)).keyId !== c.keyId) violations.push("the current key changed");
        } else {
          if (outcome !== "failed") violations.push(`expected failed, got ${outcome}`);
          await until(alerted, "the alert", 5_000).catch(() => violations.push("no alert"));
          if (world.sandbox.callcov.state.counters.created !== createdBefore)
            violations.push("a key was created at the vendor");
          if (fc.name.includes("hand-edited")) {
            const after = (await world.client.send(new GetSecretValueCommand({ SecretId: c.secretId }))).SecretString;
            if (after !== JSON.stringify({ vendor: "callcov", apiKey: "edited-by-hand" }))
              violations.push("the hand-edited value was overwritten");
            if (before === after) violations.push("the edit did not take");
          }
          if ((j?.attemptsMade ?? 0) > 1)
            violations.push(`a non-retryable failure was tried ${j?.attemptsMade ?? 0} times`);
        }
      } catch (err) {
        violations.push(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
      }
      world.sandbox.callcov.faults.reset();
      world.sandbox.emulator.faults.reset();
      rows.push({ scenario: "fault", case: fc.name, expected: fc.expected, outcome, violations });
    }
    const leaked = await secretScan(world);
    if (leaked.length > 0)
      rows.push({
        scenario: "fault",
        case: "secret scan",
        expected: "no secret",
        outcome: "VIOLATION",
        violations: leaked,
      });
  } finally {
    await world.close();
    hook.close();
  }
}

// ---- 3. concurrency ------------------------------------------------------------------------
async function concurrency(credentials: number, workers: number): Promise<void> {
  const violations: string[] = [];
  const world = await startWorld({ credentials, due: true, grace: "0s", concurrency: 16, storeWriteQuota: 10_000 });
  let outcome = "?";
  try {
    await Promise.all(Array.from({ length: workers }, () => world.startWorker()));
    for (const c of world.creds) await world.waitRotated(c, 120_000);
    await Promise.all(world.workers.map((w) => w.kill("SIGTERM")));
    // Seeded 100 days old on a 90d cadence: due once, and the new key is not due for 90 days, so
    // every credential must be rotated exactly once. Keys are counted per credential (parsed from
    // `key-rotator/<credential>/<rotationId>`): two rotations of one credential carry different
    // rotation ids, and counting per key name would miss them.
    const made = keysMadePerCredential(world);
    const finished = finishedPerCredential(world.workers.flatMap((w) => w.lines));
    let doubles = 0;
    for (const c of world.creds) {
      const n = made.get(c.id) ?? 0;
      if (n > 1) doubles += 1;
      if (n !== 1) violations.push(`${c.id}: ${n} keys made, expected exactly 1`);
      const results = finished.get(c.id) ?? [];
      if (results.length !== 1 || results[0] !== "completed")
        violations.push(`${c.id}: rotations finished ${JSON.stringify(results)}, expected ["completed"]`);
      violations.push(...(await expectConverged(world, c)));
    }
    const strangers = [...made.keys(), ...finished.keys()].filter((id) => !world.creds.some((c) => c.id === id));
    if (strangers.length > 0)
      violations.push(`keys made or rotations finished for unknown credentials: ${[...new Set(strangers)].join(", ")}`);
    const finishedTotal = [...finished.values()].flat().length;
    if (finishedTotal !== credentials)
      violations.push(`${finishedTotal} rotations finished, expected exactly ${credentials}`);
    if (doubles > 0) violations.push(`${doubles} credentials rotated more than once`);
    violations.push(...(await secretScan(world)));
    const perWorker = world.workers.map((w) => w.lines.filter((l) => l.includes('"rotation.finished"')).length);
    outcome = `${finishedTotal} of ${credentials} rotated; per worker ${perWorker.join("/")}; ${doubles} double`;
  } catch (err) {
    violations.push(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
  } finally {
    await world.close();
  }
  rows.push({
    scenario: "concurrency",
    case: `${workers} workers, ${credentials} credentials due at once`,
    expected: "each rotated once",
    outcome,
    violations,
  });
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const started = Date.now();
const only = fleetOnly || compoundOnly;
if (!only) {
  for (const kp of quick ? killPoints.slice(0, 3) : killPoints) {
    await killPoint(kp);
    process.stderr.write(`kill point: ${kp[0]}: ${rows.at(-1)?.outcome ?? "?"}\n`);
  }
  for (const kp of quick ? jcKillPoints.slice(0, 1) : jcKillPoints) {
    await jcKillPoint(kp);
    process.stderr.write(`kill point: ${kp[0]}: ${rows.at(-1)?.outcome ?? "?"}\n`);
  }
  await faultMatrix();
  process.stderr.write("fault matrix done\n");
  await concurrency(quick ? 30 : 200, 3);
  process.stderr.write("concurrency done\n");
}
if (!fleetOnly) {
  const caseIndex = process.argv.indexOf("--case");
  const caseFilter = caseIndex >= 0 ? (process.argv[caseIndex + 1] ?? "") : undefined;
  for await (const row of compoundScenarios(
    caseFilter === undefined ? undefined : (name) => name.includes(caseFilter),
  )) {
    rows.push(row);
    process.stderr.write(
      `compound: ${row.case}: ${row.violations.length === 0 ? "held" : `VIOLATION: ${row.violations.join("; ")}`}\n`,
    );
  }
}
if (!compoundOnly) {
  rows.push(await fleetRun({ seed, ...(fleetSeconds !== undefined ? { faultSeconds: fleetSeconds } : {}) }));
  process.stderr.write("fleet run done\n");
}

const failed = rows.filter((r) => r.violations.length > 0);
process.stdout.write(
  `\n${table(
    ["scenario", "case", "expected", "outcome", "violations"],
    rows.map((r) => [
      r.scenario,
      r.case,
      r.expected,
      r.outcome,
      r.violations.length === 0 ? "0" : r.violations.join("; "),
    ]),
  )}\n`,
);
const kills = rows.filter((r) => r.scenario === "kill point");
const fleet = rows.find((r) => r.scenario === "fleet run");
if (fleet) process.stdout.write(`\nfleet run: seed ${seed}; ${fleet.outcome}; violations ${fleet.violations.length}\n`);
process.stdout.write(
  `\nkill points tried ${kills.length}, converged ${kills.filter((r) => r.violations.length === 0).length}; fault cases ${rows.filter((r) => r.scenario === "fault").length}; violations ${failed.reduce((n, r) => n + r.violations.length, 0)}; ${Math.round((Date.now() - started) / 1000)} s\n`,
);
process.stdout.write(`chaos: ${rows.length - failed.length} passed, ${failed.length} failed\n`);
process.exit(failed.length === 0 ? 0 : 1);
