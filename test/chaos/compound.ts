/**
 * Compound scenarios (issue 16, item 11): several faults at once, and Redis content forged, each
 * in a small world of its own (its own private redis-server where it wipes Redis), judged from
 * outside (test/support/outside-checks.ts) plus what each case counts at the simulators:
 *
 *   1. crash inside create + Redis loss: the vendor's create held, the worker SIGKILLed, FLUSHALL,
 *      the create released (the key is made, its answer lost), a worker started again: no orphan
 *      by key id, invariants I1-I5.
 *   2. Redis loss in grace + an emergency: a rotation promoted and waiting out grace, FLUSHALL,
 *      an emergency over the admin HTTP: the key current at the request and the one it replaced
 *      are both revoked, the current key was made after the request (I6), I1-I5.
 *   3. Redis loss after completion: every credential rotated, then twice FLUSHALL and the worker
 *      restarted: at most one vendor call per credential in all to re-learn completion (DELETEs and
 *      creates counted per credential; once learned, completion is known from the store, so the
 *      second loss costs nothing), every vendor call counted and reported.
 *   4. forged job data: a `revoke` job added straight into the rotations queue naming credential
 *      A's current version and B's current key id, and one naming A's own current key: both
 *      current keys still accepted, and no revoke request ever reached either.
 *   5. an alert silenced by a forged open-alert entry (`at` far in the future) while its condition
 *      fails (the current key revoked at the vendor): the alert is delivered within its bound (the
 *      re-notify window, set short when the inventory has a setting for it, plus two health ticks).
 *   6. 600 emergencies in a minute for one credential over the admin HTTP: at most one rotation's
 *      store writes in the emulator's history, and every refused request answered 429 with a
 *      Retry-After header.
 * Each yields one row for chaos.ts's closing table.
 */
import { randomUUID } from "node:crypto";
import { builtInInventorySchema } from "../../src/config/inventory-schema.js";
import { ROTATE_JOB } from "../../src/queue/rotation-queue.js";
import type { CliProcess } from "../../src/demo/cli-process.js";
import { alertReceiver, until } from "../support/alert-receiver.js";
import { type EmergencyAsked, type VersionKeys, checkInvariants } from "../support/outside-checks.js";
import { type RestartableRedis, startRestartableRedis } from "../support/restartable-redis.js";
import { type World, leaks, startWorld } from "../support/rotation-world.js";
import { ADMIN_TOKEN, type FleetRow } from "./fleet-run.js";

const ADMIN = { KEY_ROTATOR_ADMIN_TOKEN: ADMIN_TOKEN };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));

async function httpOf(worker: CliProcess): Promise<string> {
  return (JSON.parse(await worker.waitForLine(/"worker.ready"/, 60_000)) as { http: string }).http;
}

async function askEmergency(
  http: string,
  credentialId: string,
  reason = "compound chaos",
): Promise<{ status: number; retryAfter: string | null; body: { joined?: boolean; rotationId?: string } }> {
  const res = await fetch(`${http}/v1/credentials/${credentialId}/rotate`, {
    method: "POST",
    signal: AbortSignal.timeout(15_000),
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ emergency: true, reason }),
  });
  const text = await res.text();
  let body: { joined?: boolean; rotationId?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not JSON: the status says enough.
  }
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body };
}

/** Polls the invariants until they hold or `timeoutMs` passes; returns the last violations. */
async function settle(
  world: World,
  timeoutMs: number,
  o: { emergencies?: EmergencyAsked[] } = {},
  cache: VersionKeys = new Map(),
): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await checkInvariants(world.sandbox, world.creds, cache, o);
    if (v.length === 0 || Date.now() > end) return v;
    await sleep(1_000);
  }
}

async function secretScan(world: World, redis?: RestartableRedis): Promise<string[]> {
  const logs = world.workers.flatMap((w) => w.lines).join("\n");
  const dump = redis ? await redis.dump() : await world.redisDump();
  return [
    ...leaks(logs, world.secrets()).map((s) => `secret ${s} in a log line`),
    ...leaks(dump, world.secrets()).map((s) => `secret ${s} in Redis`),
  ];
}

/** On a violation, the workers' last lines that say what the rotation did, to stderr (not a verdict: the evidence). */
function explain(world: World): void {
  for (const [i, w] of world.workers.entries()) {
    const lines = w.lines.filter((l) => !/"due-check\.done"|"health-check\.done"|"usage\./.test(l)).slice(-25);
    process.stderr.write(`  worker ${i + 1}, last lines:\n${lines.map((l) => `    ${l.slice(0, 400)}`).join("\n")}\n`);
  }
}

interface Case {
  name: string;
  expected: string;
  run(): Promise<{ outcome: string; violations: string[] }>;
}

/** 1. Crash inside create plus Redis loss. */
const crashInCreateRedisLoss: Case = {
  name: "crash inside create + Redis loss",
  expected: "no orphan by key id",
  async run() {
    const redis = await startRestartableRedis();
    const world = await startWorld({
      redisUrl: redis.url,
      due: true,
      grace: "1s",
      maxGraceExtension: "2s",
      orphanMinAge: "5s",
      orphanSweepEvery: "3s",
    });
    try {
      const faults = world.sandbox.callcov.faults;
      faults.add({ kind: "hold", match: "POST /api/v1/api-keys/", count: 1 });
      const first = await world.startWorker();
      await until(() => faults.heldCount > 0, "the held create");
      await first.kill("SIGKILL");
      await redis.wipe();
      faults.release();
      await until(
        () => world.sandbox.callcov.keyHistory().some((k) => k.name.startsWith("key-rotator/")),
        "the released create to land",
      );
      await world.startWorker();
      const violations = await settle(world, 40_000);
      if (violations.length > 0) explain(world);
      violations.push(...(await secretScan(world, redis)));
      const ours = world.sandbox.callcov.keyHistory().filter((k) => k.name.startsWith("key-rotator/"));
      return {
        outcome: `${ours.length} keys made (${new Set(ours.map((k) => k.name)).size} names), ${ours.filter((k) => k.active).length} active`,
        violations,
      };
    } finally {
      await world.close();
      await redis.stop();
    }
  },
};

/** 2. Redis loss during grace, then an emergency. */
const graceRedisLossEmergency: Case = {
  name: "Redis loss in grace + emergency",
  expected: "keys live at the request revoked; current made after it",
  async run() {
    const redis = await startRestartableRedis();
    const world = await startWorld({
      redisUrl: redis.url,
      grace: "30s",
      maxGraceExtension: "1s",
      orphanMinAge: "5s",
      orphanSweepEvery: "3s",
    });
    try {
      const c = world.creds[0];
      if (!c) throw new Error("no credential");
      const worker = await world.startWorker(ADMIN);
      const http = await httpOf(worker);
      await world.enqueue(c.id);
      await worker.waitForLine(/waiting: grace period/, 30_000);
      const promoted = (await world.currentKey(c)).keyId;
      await redis.wipe();
      const at = Date.now();
      const asked = await askEmergency(http, c.id);
      if (asked.status !== 202)
        return {
          outcome: `emergency answered ${asked.status}`,
          violations: [`the emergency after the wipe was answered ${asked.status}, expected 202`],
        };
      // Grace is 30 s: within 25 s only the emergency can have revoked anything.
      const violations = await settle(world, 25_000, { emergencies: [{ credentialId: c.id, at, via: "admin HTTP" }] });
      if (violations.length > 0) explain(world);
      violations.push(...(await secretScan(world, redis)));
      const keys = world.sandbox.callcov.keyHistory();
      const state = (id: string) => (keys.find((k) => k.id === id)?.active ? "live" : "revoked");
      return {
        outcome: `replaced ${c.keyId} ${state(c.keyId)}, current-at-request ${promoted} ${state(promoted)}`,
        violations,
      };
    } finally {
      await world.close();
      await redis.stop();
    }
  },
};

/** 3. Redis loss after every rotation completed. */
const redisLossAfterCompletion: Case = {
  name: "Redis loss after completion",
  expected: "≤ 1 vendor call per credential to re-learn",
  async run() {
    const redis = await startRestartableRedis();
    const n = 5;
    const world = await startWorld({
      credentials: n,
      redisUrl: redis.url,
      due: true,
      grace: "0s",
      orphanMinAge: "5s",
      orphanSweepEvery: "3s",
    });
    try {
      const first = await world.startWorker();
      const rotated = await until(
        () => world.creds.every((c) => !world.sandbox.callcov.isKeyActive(c.keyId)),
        "every seed key revoked",
        60_000,
      ).then(
        () => true,
        () => false,
      );
      const before = await settle(world, 20_000);
      if (before.length > 0 || !rotated)
        return {
          outcome: "did not finish the first rotations",
          violations: [`before the wipe: ${before.join("; ") || "seed keys still active"}`],
        };
      // Let the completed rotations' jobs end (nothing in flight), then lose Redis and restart.
      await sleep(3_000);
      const counters = world.sandbox.callcov.state.counters;
      const revokesBefore = { ...counters.revokeRequestsByKey };
      const routesBefore = { ...counters.requestsByRoute };
      const keysBefore = world.sandbox.callcov.keyHistory().length;
      // Two losses: the first may cost one call per credential to learn completion again; once
      // learned, completion is known from the store, so the second costs none.
      await first.kill("SIGKILL");
      await redis.wipe();
      const second = await world.startWorker();
      await sleep(10_000);
      await second.kill("SIGKILL");
      await redis.wipe();
      await world.startWorker();
      await sleep(10_000);
      const violations = await checkInvariants(world.sandbox, world.creds);
      const keys = world.sandbox.callcov.keyHistory();
      const credentialOf = (keyId: string) => {
        const k = keys.find((x) => x.id === keyId);
        const named = k ? /^key-rotator\/([^/]+)\//.exec(k.name)?.[1] : undefined;
        return named ?? world.creds.find((c) => c.keyId === keyId)?.id ?? "?";
      };
      const perCredential = new Map<string, number>();
      let deletes = 0;
      for (const [keyId, count] of Object.entries(counters.revokeRequestsByKey)) {
        const added = count - (revokesBefore[keyId] ?? 0);
        if (added <= 0) continue;
        deletes += added;
        const id = credentialOf(keyId);
        perCredential.set(id, (perCredential.get(id) ?? 0) + added);
      }
      for (const k of keys.slice(keysBefore)) {
        const id = /^key-rotator\/([^/]+)\//.exec(k.name)?.[1] ?? "?";
        perCredential.set(id, (perCredential.get(id) ?? 0) + 1);
      }
      for (const [id, calls] of perCredential)
        if (calls > 1)
          violations.push(
            `${id}: ${calls} vendor calls (revokes and creates) after two Redis losses, expected at most 1`,
          );
      const routes = Object.entries(counters.requestsByRoute)
        .map(([r, v]) => [r, v - (routesBefore[r] ?? 0)] as const)
        .filter(([, v]) => v > 0);
      violations.push(...(await secretScan(world, redis)));
      return {
        outcome: `after two wipes: ${deletes} revoke requests, ${keys.length - keysBefore} keys made; calls ${routes.map(([r, v]) => `${r} ${v}`).join(", ")}`,
        violations,
      };
    } finally {
      await world.close();
      await redis.stop();
    }
  },
};

/** 4. Forged revoke jobs naming other keys. */
const forgedJobData: Case = {
  name: "forged job data (revoke B's key; A's own key)",
  expected: "both current keys still accepted",
  async run() {
    const world = await startWorld({ credentials: 2, grace: "0s" });
    try {
      const [a, b] = world.creds;
      if (!a || !b) throw new Error("two credentials needed");
      await world.startWorker();
      const aCurrent = await world.currentKey(a);
      const bCurrent = await world.currentKey(b);
      const forged = (oldKeyId: string) => ({
        credentialId: a.id,
        rotationId: aCurrent.versionId,
        step: "revoke",
        oldKeyId,
        emergency: false,
        trigger: "manual",
        startedAt: Date.now(),
      });
      const q = world.queue;
      const jobs = [
        await q.add(ROTATE_JOB, forged(bCurrent.keyId), { jobId: `forged-${randomUUID()}` }),
        await q.add(ROTATE_JOB, forged(aCurrent.keyId), { jobId: `forged-${randomUUID()}` }),
      ];
      await until(
        async () =>
          (await Promise.all(jobs.map((j) => q.getJobState(j.id ?? "")))).every(
            (s) => s === "completed" || s === "failed",
          ),
        "the forged jobs to be taken",
        30_000,
      ).catch(() => undefined);
      await sleep(2_000);
      const violations: string[] = [];
      const status = async (apiKey: string) =>
        (await fetch(`${world.sandbox.urls.callcov}/api/v1/health`, { headers: { "X-API-Key": apiKey } })).status;
      const aNow = await status(aCurrent.apiKey);
      const bNow = await status(bCurrent.apiKey);
      if (bNow !== 200)
        violations.push(`B's current key ${bCurrent.keyId} is refused (${bNow}) after a forged job named it`);
      if (aNow !== 200)
        violations.push(`A's current key ${aCurrent.keyId} is refused (${aNow}) after a forged job named it`);
      const requests = world.sandbox.callcov.state.counters.revokeRequestsByKey;
      for (const [who, k] of [
        ["B", bCurrent.keyId],
        ["A", aCurrent.keyId],
      ] as const)
        if ((requests[k] ?? 0) > 0)
          violations.push(`${requests[k] ?? 0} revoke requests reached ${who}'s current key ${k}`);
      const states = await Promise.all(jobs.map((j) => q.getJobState(j.id ?? "")));
      violations.push(...(await checkInvariants(world.sandbox, world.creds)), ...(await secretScan(world)));
      return { outcome: `forged jobs ${states.join("/")}; A ${aNow}, B ${bNow}`, violations };
    } finally {
      await world.close();
    }
  },
};

/** The inventory setting for the alert re-notify window, if the schema has one. */
function renotifySetting(): string | undefined {
  try {
    const settings = (
      builtInInventorySchema().shape.settings as unknown as {
        _zod: { def: { innerType: { shape: Record<string, unknown> } } };
      }
    )._zod.def.innerType.shape;
    return Object.keys(settings).find((k) => /renotif|re-notif/i.test(k));
  } catch {
    return undefined;
  }
}

/** 5. A forged open-alert entry must not silence a failing condition past its bound. */
const forgedAlertEntry: Case = {
  name: "alert silenced by a forged entry",
  expected: "alert delivered within its bound",
  async run() {
    const receiver = await alertReceiver();
    const setting = renotifySetting();
    const renotifyS = setting ? 10 : 3_600;
    const healthS = 2;
    const world = await startWorld({
      grace: "0s",
      healthCheckEvery: `${healthS}s`,
      webhookUrl: receiver.url,
      ...(setting ? { extraSettings: { [setting]: `${renotifyS}s` } } : {}),
    });
    try {
      const c = world.creds[0];
      if (!c) throw new Error("no credential");
      await world.startWorker();
      const key = `${world.prefix}:alerts:open:${c.id}/health-key`;
      const forged = {
        alert: { credentialId: c.id, severity: "critical", kind: "health-key", summary: "forged: all is well" },
        sentTo: ["hook"],
        at: Date.now() + 10 * 365 * 86_400_000,
      };
      await world.redis.set(key, JSON.stringify(forged));
      const at = Date.now();
      world.sandbox.callcov.state.revoke((await world.currentKey(c)).keyId);
      // The bound: the re-notify window, plus two health ticks to notice, plus slack; waited at most 60 s.
      const boundS = renotifyS + 2 * healthS + 5;
      const waitS = Math.min(boundS, 60);
      const delivered = await until(
        () => receiver.got.some((g) => g.credentialId === c.id && g.kind === "health-key" && g.action === "trigger"),
        "the alert",
        waitS * 1000,
      ).then(
        () => true,
        () => false,
      );
      const tookS = (Date.now() - at) / 1000;
      const violations: string[] = [];
      if (!delivered)
        violations.push(
          `no health-key alert within ${waitS} s of the key failing (bound ${boundS} s: ${setting ? `settings.${setting} ${renotifyS}s` : "no re-notify setting in the inventory; the default window is 1 h"} + 2 health ticks), while a forged open entry says sent at ${new Date(forged.at).toISOString().slice(0, 10)}`,
        );
      violations.push(...(await secretScan(world)));
      return { outcome: delivered ? `delivered within ${Math.ceil(tookS)} s` : `silenced for ${waitS}+ s`, violations };
    } finally {
      await world.close();
      receiver.server.close();
    }
  },
};

/** 6. 600 admin emergencies in a minute for one credential. */
const emergencyFlood: Case = {
  name: "600 emergencies in a minute, one credential",
  expected: "≤ 1 rotation's writes; rest 429 + Retry-After",
  async run() {
    const world = await startWorld({ grace: "0s" });
    try {
      const c = world.creds[0];
      if (!c) throw new Error("no credential");
      const worker = await world.startWorker(ADMIN);
      const http = await httpOf(worker);
      const historyBefore = world.sandbox.emulator.history(c.secretId).length;
      const answers = { accepted: 0, joined: 0, refused: 0, withRetryAfter: 0, other: new Map<string, number>() };
      const started = Date.now();
      const inFlight: Array<Promise<void>> = [];
      for (let i = 0; i < 600; i++) {
        // 10 a second, each on its own (a person's script or an incident tool gone wild).
        const due = started + i * 100;
        if (due > Date.now()) await sleep(due - Date.now());
        inFlight.push(
          askEmergency(http, c.id, `flood ${i}`).then(
            (r) => {
              if (r.status === 202 && r.body.joined) answers.joined += 1;
              else if (r.status === 202) answers.accepted += 1;
              else if (r.status === 429) {
                answers.refused += 1;
                if (r.retryAfter !== null && /^\d+$/.test(r.retryAfter)) answers.withRetryAfter += 1;
              } else answers.other.set(String(r.status), (answers.other.get(String(r.status)) ?? 0) + 1);
            },
            (err: unknown) =>
              void answers.other.set(
                firstLine(err).slice(0, 40),
                (answers.other.get(firstLine(err).slice(0, 40)) ?? 0) + 1,
              ),
          ),
        );
      }
      await Promise.all(inFlight);
      await sleep(5_000);
      const events = world.sandbox.emulator.history(c.secretId).slice(historyBefore);
      const puts = events.filter((e) => e.op === "PutSecretValue" && e.versionId !== undefined);
      // One UpdateSecretVersionStage call moves one label; AWS's own AWSPREVIOUS move comes with an AWSCURRENT move.
      const stageCalls = events.filter((e) => e.op === "UpdateSecretVersionStage" && e.stage !== "AWSPREVIOUS");
      const versionsMade = new Set(puts.filter((e) => e.created).map((e) => e.versionId)).size;
      const violations: string[] = [];
      if (versionsMade > 1)
        violations.push(`${versionsMade} new versions (rotations) within the minute, expected at most 1`);
      if (puts.length + stageCalls.length > 3)
        violations.push(
          `${puts.length} PutSecretValue and ${stageCalls.length} UpdateSecretVersionStage for ${c.secretId} within the minute, more than one rotation's writes (≤ 3)`,
        );
      if (answers.accepted > 1)
        violations.push(`${answers.accepted} emergencies accepted as new rotations, expected at most 1`);
      if (answers.withRetryAfter < answers.refused)
        violations.push(
          `${answers.refused - answers.withRetryAfter} of ${answers.refused} 429s without a Retry-After in seconds`,
        );
      const expectedRefused = 600 - answers.accepted;
      if (answers.refused < expectedRefused)
        violations.push(
          `${expectedRefused - answers.refused} requests not refused with 429 (joined ${answers.joined}${[...answers.other].map(([k, v]) => `, ${k} ${v}`).join("")})`,
        );
      violations.push(...(await settle(world, 20_000)), ...(await secretScan(world)));
      return {
        outcome: `202 new ${answers.accepted}, joined ${answers.joined}, 429 ${answers.refused} (Retry-After ${answers.withRetryAfter}); ${versionsMade} versions, ${puts.length} puts, ${stageCalls.length} stage moves`,
        violations,
      };
    } finally {
      await world.close();
    }
  },
};

export const COMPOUND_CASES: Case[] = [
  crashInCreateRedisLoss,
  graceRedisLossEmergency,
  redisLossAfterCompletion,
  forgedJobData,
  forgedAlertEntry,
  emergencyFlood,
];

export async function* compoundScenarios(only?: (name: string) => boolean): AsyncGenerator<FleetRow> {
  for (const c of COMPOUND_CASES) {
    if (only && !only(c.name)) continue;
    let outcome = "ERROR";
    let violations: string[];
    try {
      ({ outcome, violations } = await c.run());
    } catch (err) {
      violations = [firstLine(err)];
    }
    yield {
      scenario: "compound",
      case: c.name,
      expected: c.expected,
      outcome: violations.length === 0 ? outcome : `VIOLATION: ${outcome}`,
      violations,
    };
  }
}
