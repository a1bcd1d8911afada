/**
 * The random fleet run (issue 16, item 11): a fleet under a seeded mix of faults at once, judged
 * afterwards from outside only (test/support/outside-checks.ts: the CallCov simulator's keys with
 * their times, the emulator's versions, stages and stage history; never Redis or worker memory).
 *
 * The world: FLEET_CREDENTIALS CallCov credentials, seeded due, rotating `every: 30s` with 8 s of
 * grace (a rotation is in grace about a third of the time); 3 worker processes (each with an admin token) sharing ONE private redis-server that this
 * run starts on a port of its own, so FLUSHALL and restarts touch nothing else. Ticks are cut into
 * shard jobs of 8 credentials, so the faults also fall between a tick's splitter and its shards.
 *
 * The fault phase (FAULT_SECONDS): every 1.5-3.5 s the seeded PRNG picks one of
 *   - SIGKILL a worker, restarted 0.5-3 s later;
 *   - FLUSHALL;
 *   - restart redis-server (SIGKILL, 0.3-3 s down, started again empty on the same port);
 *   - a vendor fault window (503s, connection resets, timeouts or 429s, on one of the calls or on
 *     all, at a rate of 20-50%, for 3-8 s);
 *   - a store fault window (ThrottlingException or 500s, likewise);
 *   - an emergency over the admin HTTP (`POST /v1/credentials/{id}/rotate`), sometimes a burst
 *     of three for one credential, or over the CLI (`key-rotator rotate <id> --emergency`, two in three
 *     naming a worker's local socket, `KEY_ROTATOR_SOCKET`: a killed worker's is left behind);
 *   - a crash of every worker while a vendor create is held open, with FLUSHALL half the time,
 *     the create then landing (70%) or lost, and the workers back 0.5-3 s later.
 * No Redis loss is chosen in the last 30 s of the fault phase, so the emergencies accepted then
 * must be honoured (I6); the other faults go on to the end.
 * A worker that exits by itself is counted and started again a second later, as Kubernetes would.
 * The same seed gives the same choices (the timing of the processes does not repeat exactly).
 *
 * Then: all faults off, Redis up, and a deploy of the calm cadence (`every: 90d`, every worker
 * restarted with SIGTERM), so the fleet can settle; the invariants are polled until they hold or
 * CONVERGE_SECONDS pass, and the last result counts. On top of I1-I6 (I6 for every emergency that
 * was accepted after the last Redis wipe or restart: one accepted before may have been lost with
 * Redis), the run counts as violations: a secret value in a worker's log or anywhere in Redis, an
 * admin request with no answer within 15 s, and a CLI emergency with no exit within 30 s or with a
 * stack trace in its output. 429 from the admin endpoint and exit 1 with a cooldown message from
 * the CLI are the bounded-emergency answers and count as answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FaultRule } from "../../src/sandbox/faults.js";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import {
  type EmergencyAsked,
  type VersionKeys,
  checkInvariants,
  completedRotations,
  snapshotVersions,
} from "../support/outside-checks.js";
import { startRestartableRedis } from "../support/restartable-redis.js";
import { leaks, startWorld } from "../support/rotation-world.js";

export interface FleetRow {
  scenario: string;
  case: string;
  expected: string;
  outcome: string;
  violations: string[];
}

export const ADMIN_TOKEN = "chaos-admin-token-0123456789";
const FLEET_CREDENTIALS = 40;
const WORKERS = 3;
const LOSS_FREE_MS = 30_000;

export interface FleetOptions {
  seed: number;
  faultSeconds?: number;
  convergeSeconds?: number;
  credentials?: number;
  log?: (line: string) => void;
}

/** mulberry32: a small seeded PRNG, so a seed names one sequence of choices. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const STACK_LINE = /^\s+at .+(:\d+:\d+\)?|\(native\))$/;

export async function fleetRun(o: FleetOptions): Promise<FleetRow> {
  const log = o.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const faultMs = (o.faultSeconds ?? 120) * 1000;
  const convergeMs = (o.convergeSeconds ?? 90) * 1000;
  const n = o.credentials ?? FLEET_CREDENTIALS;
  const random = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  log(`fleet run: seed ${o.seed} (again: npm run test:chaos -- --fleet-only --seed ${o.seed})`);

  const fig = {
    rotations: 0,
    poolCrashes: 0,
    kills: 0,
    ownExits: 0,
    wipes: 0,
    redisRestarts: 0,
    vendorWindows: 0,
    storeWindows: 0,
    http: {
      sent: 0,
      accepted: 0,
      refused429: 0,
      retryAfter: 0,
      unavailable: 0,
      // Any other status, by status: a 500 is a worker's error, not a fault's.
      unexpected: new Map<number, number>(),
      // The connection reset: its worker was killed mid-request.
      reset: 0,
      noAnswer: 0,
    },
    cli: { sent: 0, accepted: 0, viaSocket: 0, cooldown: 0, failedClearly: 0, noExit: 0, stack: 0 },
  };
  const answerViolations: string[] = [];
  const violations: string[] = [];
  const redis = await startRestartableRedis();
  const world = await startWorld({
    credentials: n,
    redisUrl: redis.url,
    due: true,
    every: "30s",
    grace: "8s",
    maxGraceExtension: "5s",
    dueCheckEvery: "2s",
    healthCheckEvery: "10s",
    lockDuration: "5s",
    orphanMinAge: "20s",
    orphanSweepEvery: "10s",
    concurrency: 4,
    managementPerMinute: 600,
    logLevel: "info",
    // Due and health ticks cut into shard jobs of 8 (5 a tick), as a fleet past 2,000 runs them, so
    // kills, wipes and forged Redis content land between a splitter and its shards too.
    extraSettings: { tickShardSize: 8 },
  });
  // The harness's own connections see Redis go away too; they reconnect by themselves.
  world.redis.on("error", () => undefined);
  world.queue.on("error", () => undefined);
  const allProcs: CliProcess[] = [];
  const cliProcs: CliProcess[] = [];
  interface Slot {
    proc?: CliProcess;
    http?: string;
    /** The worker's local socket, as the chart gives it; a killed worker leaves it behind. */
    socket: string;
    killedByUs: boolean;
  }
  const socketDir = mkdtempSync(join(tmpdir(), "kr-chaos-"));
  const slots: Slot[] = Array.from({ length: WORKERS }, (_, i) => ({
    socket: join(socketDir, `worker-${i}.sock`),
    killedByUs: false,
  }));
  let shuttingDown = false;
  const pendingActions = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const q = p
      .catch((err: unknown) =>
        log(`fleet run: action failed: ${err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err)}`),
      )
      .finally(() => pendingActions.delete(q));
    pendingActions.add(q);
  };
  const startSlot = (slot: Slot) => {
    const proc = startCli(["worker"], {
      env: { ...world.env, KEY_ROTATOR_ADMIN_TOKEN: ADMIN_TOKEN, KEY_ROTATOR_SOCKET: slot.socket },
    });
    allProcs.push(proc);
    slot.proc = proc;
    slot.killedByUs = false;
    delete slot.http;
    // Killed before it was ready, a worker never says so: its wait ends in a rejection that only an awaiting caller reads.
    const ready = proc.waitForLine(/"worker.ready"/, 60_000);
    ready.then(
      (line) => {
        if (slot.proc === proc) slot.http = (JSON.parse(line) as { http: string }).http;
      },
      () => undefined,
    );
    void proc.exited.then(() => {
      if (slot.proc !== proc || slot.killedByUs || shuttingDown) return;
      fig.ownExits += 1;
      log(
        `fleet run: a worker exited by itself (${proc.lines
          .filter((l) => !l.startsWith("{"))
          .slice(-2)
          .join(" | ")
          .slice(0, 300)})`,
      );
      track(
        sleep(1_000).then(() =>
          slot.proc === proc && !shuttingDown
            ? startSlot(slot).then(
                () => undefined,
                () => undefined,
              )
            : undefined,
        ),
      );
    });
    return ready;
  };
  const versionCache: VersionKeys = new Map();
  const emergencies: EmergencyAsked[] = [];
  let lastRedisLoss = 0;

  const httpEmergency = async (credentialId: string) => {
    const target = slots.filter((s) => s.http !== undefined);
    const slot = target.length > 0 ? pick(target) : undefined;
    if (!slot?.http) return;
    fig.http.sent += 1;
    const at = Date.now();
    try {
      const res = await fetch(`${slot.http}/v1/credentials/${credentialId}/rotate`, {
        method: "POST",
        signal: AbortSignal.timeout(15_000),
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ emergency: true, reason: "chaos fleet run" }),
      });
      await res.text();
      if (res.status === 202) {
        fig.http.accepted += 1;
        emergencies.push({ credentialId, at, via: "admin HTTP" });
      } else if (res.status === 429) {
        fig.http.refused429 += 1;
        if (res.headers.get("retry-after")) fig.http.retryAfter += 1;
      } else if (res.status === 503) fig.http.unavailable += 1;
      else fig.http.unexpected.set(res.status, (fig.http.unexpected.get(res.status) ?? 0) + 1);
    } catch (err) {
      // A worker killed mid-request resets the connection: that is the kill, not a missing answer.
      if ((err as { name?: string }).name === "TimeoutError") {
        fig.http.noAnswer += 1;
        answerViolations.push(`admin emergency for ${credentialId}: no answer within 15 s`);
      } else fig.http.reset += 1;
    }
  };
  const cliEmergency = async (credentialId: string) => {
    fig.cli.sent += 1;
    const at = Date.now();
    // Two in three name a worker's socket, as `kubectl exec` into a pod does: a live worker decides
    // it, a killed one's socket is left behind and the CLI goes through the queue; the rest queue.
    const socket = random() < 2 / 3 ? pick(slots).socket : undefined;
    const p = startCli(["rotate", credentialId, "--emergency", "--reason", "chaos fleet run"], {
      env: { ...world.env, ...(socket ? { KEY_ROTATOR_SOCKET: socket } : {}) },
    });
    cliProcs.push(p);
    const code = await Promise.race([p.exited, sleep(30_000).then(() => "timeout" as const)]);
    if (code === "timeout") {
      fig.cli.noExit += 1;
      answerViolations.push(`CLI emergency for ${credentialId}: no exit within 30 s`);
      await p.kill("SIGKILL");
      return;
    }
    if (p.lines.some((l) => STACK_LINE.test(l))) {
      fig.cli.stack += 1;
      answerViolations.push(
        `CLI emergency for ${credentialId}: a stack trace in its output (exit ${String(code)}): ${p.lines.find((l) => !STACK_LINE.test(l))?.slice(0, 160) ?? ""}`,
      );
    }
    if (code === 0) {
      fig.cli.accepted += 1;
      if (p.lines.some((l) => l.includes("through the worker's socket"))) fig.cli.viaSocket += 1;
      emergencies.push({ credentialId, at, via: "CLI" });
    } else if (code === 1 && p.lines.some((l) => /cooldown|cap of emergencies|retry in|retry after|too many/i.test(l)))
      fig.cli.cooldown += 1;
    else fig.cli.failedClearly += 1;
  };

  const vendorMatches = [
    "POST /api/v1/api-keys/",
    "DELETE /api/v1/api-keys/",
    "GET /api/v1/health",
    "GET /api/v1/api-keys/",
    undefined,
  ] as const;
  const vendorKinds: FaultRule[] = [
    { kind: "error", status: 503 },
    { kind: "reset" },
    { kind: "timeout" },
    { kind: "rate-limit" },
  ];
  const storeMatches = [
    "PutSecretValue",
    "UpdateSecretVersionStage",
    "GetSecretValue",
    "DescribeSecret",
    undefined,
  ] as const;
  const storeKinds: FaultRule[] = [{ kind: "rate-limit" }, { kind: "error", status: 500 }];
  const window = (faults: typeof world.sandbox.callcov.faults, rule: FaultRule) => {
    const stored = faults.addRule(rule);
    track(sleep(between(3_000, 8_000)).then(() => faults.remove(stored)));
  };

  // Should this process die midway, its workers must not live on.
  const killAll = () => void [...allProcs, ...cliProcs].forEach((p) => p.child.kill("SIGKILL"));
  process.on("exit", killAll);
  const started = Date.now();
  // No Redis loss in the last LOSS_FREE_MS of the fault phase: the emergencies accepted then must be honoured (I6).
  const lossesAllowed = () => Date.now() - started < faultMs - LOSS_FREE_MS;
  try {
    await Promise.all(slots.map((s) => startSlot(s)));
    log(
      `fleet run: ${n} credentials, ${WORKERS} workers ready on ${redis.url} in ${Math.round((Date.now() - started) / 1000)} s; faults for ${faultMs / 1000} s`,
    );
    const actions: Array<[number, () => void]> = [
      [
        3,
        () => {
          const slot = pick(slots);
          if (!slot.proc || slot.killedByUs) return;
          fig.kills += 1;
          slot.killedByUs = true;
          const proc = slot.proc;
          track(
            proc
              .kill("SIGKILL")
              .then(() => sleep(between(500, 3_000)))
              .then(() =>
                slot.proc === proc
                  ? startSlot(slot).then(
                      () => undefined,
                      () => undefined,
                    )
                  : undefined,
              ),
          );
        },
      ],
      [
        1,
        () => {
          if (!redis.isUp() || !lossesAllowed()) return;
          fig.wipes += 1;
          lastRedisLoss = Date.now();
          track(redis.wipe());
        },
      ],
      [
        1,
        () => {
          if (!redis.isUp() || !lossesAllowed()) return;
          fig.redisRestarts += 1;
          lastRedisLoss = Date.now();
          track(redis.restart(between(300, 3_000)));
        },
      ],
      [
        2,
        () => {
          fig.vendorWindows += 1;
          const match = pick(vendorMatches);
          window(world.sandbox.callcov.faults, {
            ...pick(vendorKinds),
            ...(match ? { match } : {}),
            rate: between(0.2, 0.5),
          });
        },
      ],
      [
        2,
        () => {
          fig.storeWindows += 1;
          const match = pick(storeMatches);
          window(world.sandbox.emulator.faults, {
            ...pick(storeKinds),
            ...(match ? { match } : {}),
            rate: between(0.2, 0.5),
          });
        },
      ],
      [
        2,
        () => {
          const c = pick(world.creds);
          const burst = random() < 0.3 ? 3 : 1;
          for (let i = 0; i < burst; i++) track(httpEmergency(c.id));
        },
      ],
      [1, () => track(cliEmergency(pick(world.creds).id))],
      [
        1,
        () => {
          // The compound the issue saw: every worker dies while a create is in flight at the vendor,
          // Redis is lost with it (half the time), and the create's answer lands (or is lost) later.
          if (!lossesAllowed() || pendingActions.size > 6) return;
          fig.poolCrashes += 1;
          const faults = world.sandbox.callcov.faults;
          const hold = faults.addRule({ kind: "hold", match: "POST /api/v1/api-keys/", count: 1 });
          const wipe = random() < 0.5;
          const release = random() < 0.7;
          const downMs = between(500, 3_000);
          track(
            (async () => {
              const until = Date.now() + 5_000;
              while (faults.heldCount === 0 && Date.now() < until) await sleep(50);
              faults.remove(hold);
              const victims = slots.filter((s) => s.proc && !s.killedByUs);
              for (const slot of victims) slot.killedByUs = true;
              fig.kills += victims.length;
              await Promise.all(victims.map((s) => s.proc?.kill("SIGKILL")));
              if (wipe && redis.isUp()) {
                fig.wipes += 1;
                lastRedisLoss = Date.now();
                await redis.wipe();
              }
              if (release) faults.release();
              else faults.dropHeld();
              await sleep(downMs);
              await Promise.all(victims.map((s) => startSlot(s).catch(() => undefined)));
            })(),
          );
        },
      ],
    ];
    const total = actions.reduce((s, [w]) => s + w, 0);
    while (Date.now() - started < faultMs + 0) {
      let r = random() * total;
      const action = actions.find(([w]) => (r -= w) < 0) ?? actions[0];
      action?.[1]();
      snapshotVersions(world.sandbox, world.creds, versionCache);
      await sleep(between(1_500, 3_500));
    }

    // Calm: no more faults, Redis up, every worker up, then a deploy of the calm cadence.
    world.sandbox.callcov.faults.reset();
    world.sandbox.emulator.faults.reset();
    await Promise.race([Promise.all([...pendingActions]), sleep(40_000)]);
    if (!redis.isUp()) await redis.start();
    log(`fleet run: faults off after ${Math.round((Date.now() - started) / 1000)} s; deploying every: 90d`);
    world.rewriteInventory({ every: "90d" });
    for (const slot of slots) {
      slot.killedByUs = true;
      const proc = slot.proc;
      if (proc) await Promise.race([proc.kill("SIGTERM"), sleep(15_000).then(() => proc.kill("SIGKILL"))]);
      await startSlot(slot);
    }
    const calmFrom = Date.now();
    const held = emergencies.filter((e) => e.at > lastRedisLoss);
    let last: string[] = [];
    for (;;) {
      snapshotVersions(world.sandbox, world.creds, versionCache);
      last = await checkInvariants(world.sandbox, world.creds, versionCache, { emergencies: held });
      if (last.length === 0 || Date.now() - calmFrom > convergeMs) break;
      await sleep(3_000);
    }
    const convergedIn = Math.round((Date.now() - calmFrom) / 1000);
    violations.push(...last);
    violations.push(...answerViolations);

    shuttingDown = true;
    await Promise.race([Promise.all(slots.map((s) => s.proc?.kill("SIGTERM"))), sleep(15_000)]);
    const secrets = world.secrets();
    const logs = [...allProcs, ...cliProcs].flatMap((p) => p.lines).join("\n");
    violations.push(...leaks(logs, secrets).map((s) => `secret ${s} in a log line`));
    violations.push(...leaks(await redis.dump(), secrets).map((s) => `secret ${s} in Redis`));

    fig.rotations = completedRotations(world.sandbox, world.creds);
    const counters = world.sandbox.callcov.state.counters;
    const revokeRequests = Object.values(counters.revokeRequestsByKey).reduce((a, b) => a + b, 0);
    const figures = [
      `seed ${o.seed}`,
      `credentials ${n}`,
      `workers ${WORKERS}`,
      `rotations completed ${fig.rotations}`,
      `keys made ${counters.created}, revoked ${counters.revoked}, revoke requests ${revokeRequests}`,
      `vendor 429s ${counters.rateLimited}`,
      `kills ${fig.kills} (of them in ${fig.poolCrashes} crashes of every worker inside a create)`,
      `worker exits by themselves ${fig.ownExits}`,
      `Redis wipes ${fig.wipes}`,
      `Redis restarts ${fig.redisRestarts}`,
      `vendor fault windows ${fig.vendorWindows}`,
      `store fault windows ${fig.storeWindows}`,
      `emergencies HTTP ${fig.http.sent} (202 ${fig.http.accepted}, 429 ${fig.http.refused429} with Retry-After ${fig.http.retryAfter}, 503 ${fig.http.unavailable}${[...fig.http.unexpected].map(([status, count]) => `, ${status} ${count}`).join("")}, reset by a kill ${fig.http.reset}, no answer ${fig.http.noAnswer})`,
      `emergencies CLI ${fig.cli.sent} (exit 0 ${fig.cli.accepted}, ${fig.cli.viaSocket} of them through a worker's socket, cooldown ${fig.cli.cooldown}, other exit ${fig.cli.failedClearly}, no exit ${fig.cli.noExit}, stack traces ${fig.cli.stack})`,
      `emergency contracts checked ${held.length}`,
      `converged in ${convergedIn} s`,
      `violations ${violations.length}`,
      `${Math.round((Date.now() - started) / 1000)} s`,
    ];
    log(`fleet run figures: ${figures.join("; ")}`);
    for (const v of violations.slice(0, 40)) log(`fleet run violation: ${v}`);
    return {
      scenario: "fleet run",
      case: `seed ${o.seed}: ${n} credentials, ${WORKERS} workers, ${faultMs / 1000} s of mixed faults`,
      expected: "invariants hold",
      outcome: `${fig.rotations} rotations, ${fig.kills} kills, ${fig.wipes} wipes, ${fig.redisRestarts} Redis restarts, ${fig.vendorWindows}+${fig.storeWindows} fault windows, ${fig.http.sent}+${fig.cli.sent} emergencies (${fig.http.refused429 + fig.cli.cooldown} refused)`,
      violations,
    };
  } catch (err) {
    violations.push(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
    return { scenario: "fleet run", case: `seed ${o.seed}`, expected: "invariants hold", outcome: "ERROR", violations };
  } finally {
    shuttingDown = true;
    world.sandbox.callcov.faults.reset();
    world.sandbox.emulator.faults.reset();
    await Promise.all([...allProcs, ...cliProcs].map((p) => p.kill("SIGKILL")));
    if (!redis.isUp()) await redis.start().catch(() => undefined);
    await Promise.race([world.close(), sleep(10_000)]);
    await redis.stop();
    rmSync(socketDir, { recursive: true, force: true });
    process.off("exit", killAll);
  }
}
