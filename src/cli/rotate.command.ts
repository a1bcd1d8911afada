/**
 * `key-rotator rotate <credential> [--emergency] [--wait] [--direct]`.
 * Normally puts a rotation on the queue (joining one in flight) and, with --wait, shows each step
 * until it ends; an emergency without --wait is asked of the worker over its local socket first,
 * when KEY_ROTATOR_SOCKET names one (worker-socket.ts). `--emergency --direct` runs the rotation
 * in this process without Redis, for an incident in which Redis is down: the store's pending stage
 * is the lock, and a rotation already pending in the store is taken over and finished as an
 * emergency. A rotation in grace is finished first (its old key revoked now), then the current key
 * is replaced.
 */
import { randomUUID } from "node:crypto";
import { describeError } from "../core/errors.js";
import { type RotationState, Step } from "../rotation/rotation-state.js";
import type { FlowRun } from "../rotation/runner.js";
import type { Redis } from "ioredis";
import type { EmergencyGate } from "../queue/emergency-limits.js";
import type { Enqueued } from "../queue/rotation-queue.js";
import type { RuntimeCredential } from "../config/runtime-config.js";
import type { Services } from "../worker/compose-services.js";
import type { CliContext } from "./cli-context.js";
import { cliActor } from "./actor.js";
import { awaitsAWorker, describeWait } from "./wait-description.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out, emergencyRefused, isoTime, jsonError } from "./output.js";

// Each path imports what it uses when it runs (`await import`): an emergency is often typed
// during an incident, and the queued one needs neither the AWS SDK nor the vendors nor the
// rotation code, the direct one no queue (issue 21: the CLI emergency started in 568 ms).

export interface RotateOptions {
  config: string;
  emergency?: boolean;
  direct?: boolean;
  wait?: boolean;
  reason?: string;
  /** With --emergency: past the credential's emergency cooldown; needs a reason. */
  force?: boolean;
  timeout: string;
  /** Who asks, for the audit trail (else $KEY_ROTATOR_ACTOR, else the OS user). */
  actor?: string;
  json?: boolean;
}

export async function rotateCommand(credentialId: string, o: RotateOptions, out: Out): Promise<number> {
  const timeoutMs = Number(o.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    out.stderr(`key-rotator rotate: --timeout must be a number of seconds, got "${o.timeout}"`);
    return EXIT_USAGE;
  }
  if (o.direct && !o.emergency) {
    out.stderr("key-rotator rotate: --direct is only for --emergency (it bypasses the queue)");
    return EXIT_USAGE;
  }
  const forceProblem = o.force
    ? !o.emergency
      ? "--force is only for --emergency"
      : o.direct
        ? "--force is not for --direct (it runs without Redis, where the cooldown is kept)"
        : !o.reason?.trim()
          ? "--force needs --reason <text>: forcing past the cooldown goes to the audit trail"
          : undefined
    : undefined;
  if (forceProblem) {
    out.stderr(`key-rotator rotate: ${forceProblem}`);
    return EXIT_USAGE;
  }
  const actor = cliActor(o.actor);
  // Beside a worker (the image and the chart set KEY_ROTATOR_SOCKET), an emergency that does not
  // wait is asked of it: no inventory read, no Redis opened here (worker-socket.ts).
  const socket = process.env.KEY_ROTATOR_SOCKET;
  if (socket && o.emergency && !o.direct && !o.wait) {
    const { emergencyViaWorker } = await import("./worker-socket.js");
    const asked = await emergencyViaWorker(socket, credentialId, o, actor, out);
    if (typeof asked === "number") return asked;
    if (asked === "unconfirmed") return queued(credentialId, o, actor, timeoutMs, out, { unconfirmed: true });
  }
  return o.direct ? direct(credentialId, o, actor, out) : queued(credentialId, o, actor, timeoutMs, out);
}

async function queued(
  credentialId: string,
  o: RotateOptions,
  actor: string,
  timeoutMs: number,
  out: Out,
  /** `unconfirmed`: the worker's socket was asked first and may have started this emergency. */
  asked: { unconfirmed?: boolean } = {},
): Promise<number> {
  const [{ openCli }, { EmergencyRefusedError, gateEmergency }, { enqueueRotation }, { RotationHistory }] =
    await Promise.all([
      import("./cli-context.js"),
      import("../queue/emergency-limits.js"),
      import("../queue/rotation-queue.js"),
      import("../queue/rotation-history-store.js"),
    ]);
  const cli = await openCli(o.config, { redis: "required" });
  try {
    const credential = cli.runtime.credentials.find((c) => c.id === credentialId);
    if (!credential) {
      out.stderr(`key-rotator rotate: no credential "${credentialId}" in ${o.config}`);
      return EXIT_USAGE;
    }
    const { queue, redis } = cli;
    if (!queue || !redis) throw new Error("Redis is required");
    const started = Date.now();
    const request = {
      credentialId,
      trigger: o.emergency ? "emergency" : "manual",
      emergency: o.emergency ?? false,
      actor,
      ...(o.reason ? { reason: o.reason } : {}),
    } as const;
    let r: Enqueued;
    try {
      r = o.emergency
        ? await gateEmergency(
            await emergencyGate(cli, redis),
            { ...request, ...(o.force ? { force: true } : {}) },
            (req) => enqueueRotation(queue, redis, req),
          )
        : await enqueueRotation(queue, redis, request);
    } catch (err) {
      if (!(err instanceof EmergencyRefusedError)) throw err;
      const { refusedFor, retryAfterSeconds } = err;
      const message =
        asked.unconfirmed && refusedFor === "cooldown"
          ? `${err.message}. The worker's socket, asked first, did not confirm this request and may have started it: see key-rotator status ${credentialId}`
          : err.message;
      return emergencyRefused(out, o.json, { message, refusedFor, retryAfterSeconds });
    }
    // The request itself is audited: a rotation joined, or one that never reaches a worker, too.
    await new RotationHistory(redis, cli.runtime.settings.queuePrefix)
      .audit({
        at: Date.now(),
        credentialId,
        event: "rotation.requested",
        actor,
        ...(o.reason ? { reason: o.reason } : {}),
        emergency: o.emergency ?? false,
        rotationId: r.rotationId,
        joined: r.joined,
      })
      .catch(() => undefined);
    if (!o.wait) {
      out.stdout(
        o.json
          ? JSON.stringify({ credential: credentialId, ...r, emergency: o.emergency ?? false, actor })
          : `${r.joined ? "joined the rotation in flight" : "rotation queued"}: ${r.rotationId} (job ${r.jobId})`,
      );
      return EXIT_OK;
    }
    if (!o.json)
      out.stdout(
        `${r.joined ? "joined rotation" : "rotation"} ${r.rotationId} of ${credentialId}${o.emergency ? " (emergency)" : ""}`,
      );
    return await waitForEnd(cli, credential.secretId, r, { ...o, started, timeoutMs }, out);
  } finally {
    await cli.close();
  }
}

async function emergencyGate(cli: CliContext, redis: Redis): Promise<EmergencyGate> {
  const [{ EmergencyLimits }, { RotationHistory }] = await Promise.all([
    import("../queue/emergency-limits.js"),
    import("../queue/rotation-history-store.js"),
  ]);
  const prefix = cli.runtime.settings.queuePrefix;
  return {
    limits: new EmergencyLimits(redis, prefix, cli.runtime.settings.emergency),
    history: new RotationHistory(redis, prefix),
    log: cli.log,
    now: Date.now,
  };
}

/** How long a queued job may wait untaken before rotate --wait says that no worker took it. */
const NO_WORKER_AFTER_MS = 5_000;

/** How long a job may be missing from Redis, with no version of it in the store, before it counts as lost. */
const LOST_AFTER_MS = 5_000;

/**
 * Shows each step until the rotation ends or --timeout passes. Rides out Redis going away (a
 * restart): says so once, keeps polling, and says when it is back; a job that Redis lost is looked
 * for in the store, from which the worker resumes it under the same job id.
 */
async function waitForEnd(
  cli: CliContext,
  secretId: string,
  r: Enqueued,
  o: RotateOptions & { started: number; timeoutMs: number },
  out: Out,
): Promise<number> {
  const { started } = o;
  const queue = cli.queue as NonNullable<CliContext["queue"]>;
  const credentialId = (cli.runtime.credentials.find((c) => c.secretId === secretId) ?? { id: "?" }).id;
  const say = (line: string) => void (o.json ? undefined : out.stdout(line));
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  let lastStep = "";
  let warnedNoWorker = false;
  const credential = cli.runtime.credentials.find((c) => c.secretId === secretId);
  const { RedisOpenAlertStore } = await import("../alerts/redis-open-alert-store.js");
  const { redisProblem } = await import("../queue/redis.js");
  const alerts = new RedisOpenAlertStore(cli.redis as Redis, cli.runtime.settings.queuePrefix);
  let lastWait = { key: "", at: 0 };
  /** Each wait once with its reason and deadline, then a line a minute while it lasts. */
  const sayWait = async (data: RotationState, state: string) => {
    const grace = data.step === Step.Grace && data.graceUntil !== undefined && Date.now() >= data.graceUntil;
    const oldKeyUse = grace ? await alerts.get(`${credentialId}/old-key-in-use`).catch(() => undefined) : undefined;
    const perMinute = oldKeyUse?.alert.details?.perMinute;
    const operator = (credential as { operator?: { deadlineMs: number } } | undefined)?.operator;
    const wait = describeWait({
      data,
      state,
      now: Date.now(),
      maxGraceExtensionMs: credential?.maxGraceExtensionMs ?? 0,
      operatorDeadlineMs: operator?.deadlineMs,
      oldKeyPerMinute: typeof perMinute === "number" ? perMinute : undefined,
    });
    if (!wait) return;
    const key = `${wait.kind}:${wait.until}`;
    if (key === lastWait.key && Date.now() - lastWait.at < 60_000) return;
    lastWait = { key, at: Date.now() };
    say(`  ${elapsed()}s  ${wait.text}`);
  };
  let downSince: number | undefined;
  let missingSince: number | undefined;
  let lastProblem = "";
  for (
    ;
    ;
    await new Promise((res) => setTimeout(res, downSince === undefined && missingSince === undefined ? 100 : 500))
  ) {
    if (Date.now() - started > o.timeoutMs) {
      const why =
        downSince !== undefined
          ? `${lastProblem} for the last ${((Date.now() - downSince) / 1000).toFixed(0)}s`
          : `still at step ${lastStep || "(not started)"}`;
      const message = `gave up waiting after ${o.timeout}s: ${why}; rotation ${r.rotationId} goes on in the worker (see key-rotator status ${credentialId})`;
      out.stderr(`key-rotator rotate: ${message}`);
      if (o.json) out.stdout(jsonError("timeout", message, { rotationId: r.rotationId, step: lastStep || "queued" }));
      return EXIT_FAILED;
    }
    let job: Awaited<ReturnType<typeof queue.getJob>>;
    let state: string;
    try {
      job = await queue.getJob(r.jobId);
      state = job ? await job.getState() : "missing";
    } catch (err) {
      lastProblem = redisProblem(cli.redis, cli.redisUrl, err);
      if (downSince === undefined) {
        downSince = Date.now();
        say(
          `  ${elapsed()}s  ${lastProblem}; still waiting for rotation ${r.rotationId} (the worker goes on with it), at most until --timeout ${o.timeout}s`,
        );
      }
      continue;
    }
    if (downSince !== undefined) {
      say(`  ${elapsed()}s  Redis answers again (after ${((Date.now() - downSince) / 1000).toFixed(1)}s)`);
      downSince = undefined;
    }
    const data = job?.data as RotationState | undefined;
    if (data && data.step !== lastStep) {
      lastStep = data.step;
      say(`  ${elapsed()}s  ${data.step}`);
      if (data.step === Step.AwaitPair) say(`  a person must now ${operatorHint(cli, credentialId)}`);
    }
    if (data) await sayWait(data, state);
    if (!warnedNoWorker && awaitsAWorker(state) && Date.now() - started > NO_WORKER_AFTER_MS) {
      warnedNoWorker = true;
      const workers = await queue.getWorkersCount().catch(() => undefined);
      // stderr, so it reaches a person with --json too.
      out.stderr(
        `key-rotator rotate: no worker has taken the job after ${NO_WORKER_AFTER_MS / 1000}s (${workers === 0 ? "no worker is connected to this queue: is key-rotator worker running, with this Redis and queue prefix?" : `${workers ?? "?"} worker(s) connected, all busy or rate-limited`}); still waiting`,
      );
    }
    if (state === "missing") {
      const verdict = await missingVerdict(cli, secretId, r).catch(() => "unknown" as const);
      if (verdict === "completed")
        return report(
          o,
          out,
          {
            credential: credentialId,
            rotationId: r.rotationId,
            state: "completed",
            step: Step.Done,
            seconds: (Date.now() - started) / 1000,
          },
          true,
        );
      if (verdict === "in-store" && missingSince === undefined)
        say(`  ${elapsed()}s  the job is gone from Redis; the worker resumes rotation ${r.rotationId} from the store`);
      missingSince ??= Date.now();
      if (verdict === "lost" && Date.now() - missingSince > LOST_AFTER_MS) {
        const message = `rotation ${r.rotationId} is gone from Redis and never reached the store: nothing was changed; run key-rotator rotate ${credentialId} again`;
        out.stderr(`key-rotator rotate: ${message}`);
        if (o.json) out.stdout(jsonError("lost", message, { rotationId: r.rotationId }));
        return EXIT_FAILED;
      }
      continue;
    }
    missingSince = undefined;
    if (state === "completed" || state === "failed") {
      // The data read above may be from before the job ended (data and state are two reads): read
      // the ended job again, so a rotation that finished in between is not reported as not rotated.
      const ended = (await queue.getJob(r.jobId).catch(() => undefined)) ?? job;
      const final = (ended?.data as RotationState | undefined) ?? data;
      const ok = state === "completed" && final?.step === Step.Done;
      return report(
        o,
        out,
        {
          credential: credentialId,
          rotationId: r.rotationId,
          state,
          step: final?.step,
          outcome: final?.outcome ?? ended?.failedReason,
          seconds: (Date.now() - started) / 1000,
        },
        ok,
      );
    }
  }
}

/** A job Redis no longer has: recorded completed, staged in the store (being resumed), or lost before it reached the store. */
async function missingVerdict(
  cli: CliContext,
  secretId: string,
  r: Enqueued,
): Promise<"completed" | "in-store" | "lost"> {
  const { RotationHistory } = await import("../queue/rotation-history-store.js");
  const completed = await new RotationHistory(
    cli.redis as Redis,
    cli.runtime.settings.queuePrefix,
  ).completedRotations();
  const credentialId = cli.runtime.credentials.find((c) => c.secretId === secretId)?.id ?? "";
  if (completed.get(credentialId) === r.rotationId) return "completed";
  const versions = await (await cli.services()).store.listVersions(secretId);
  return versions.some((v) => v.versionId === r.rotationId) ? "in-store" : "lost";
}

function report(
  o: RotateOptions,
  out: Out,
  result: {
    credential: string;
    rotationId: string;
    state: string;
    step?: string | undefined;
    outcome?: string | undefined;
    seconds: number;
  },
  ok: boolean,
): number {
  const finishedAt = Date.now();
  if (o.json)
    out.stdout(
      JSON.stringify({
        ...result,
        outcome: result.outcome ?? null,
        startedAt: isoTime(finishedAt - result.seconds * 1000),
        finishedAt: isoTime(finishedAt),
      }),
    );
  else
    out.stdout(
      ok
        ? `done: ${result.credential} rotated in ${result.seconds.toFixed(1)}s`
        : result.step === Step.RolledBack
          ? `rolled back, the current key unchanged: ${result.outcome ?? "no reason recorded"}`
          : `not rotated: ${result.state}${result.outcome ? `: ${result.outcome}` : ""}`,
    );
  return ok ? EXIT_OK : EXIT_FAILED;
}

async function direct(credentialId: string, o: RotateOptions, actor: string, out: Out): Promise<number> {
  const { loadRuntime } = await import("../config/load-runtime.js");
  const { inventory, runtime } = await loadRuntime(o.config);
  const credential = runtime.credentials.find((c) => c.id === credentialId);
  if (!credential || credential.module.flow !== "key-api") {
    out.stderr(
      `key-rotator rotate: --direct needs a credential whose vendor has a key API; "${credentialId}" is ${credential ? `a ${credential.module.name} credential (its keys are made by a person)` : `not in ${o.config}`}`,
    );
    return EXIT_USAGE;
  }
  const [{ createServices }, { cliLogger }, { noMetrics }] = await Promise.all([
    import("../worker/compose-services.js"),
    import("./cli-logger.js"),
    import("./no-metrics.js"),
  ]);
  const services = await createServices(inventory, runtime, { log: cliLogger(), metrics: noMetrics() });
  const started = Date.now();
  const say = (line: string) => void (o.json ? undefined : out.stdout(line));
  const rotationId = randomUUID();
  try {
    // The runner finishes a rotation in grace first (its old key revoked now), takes over one
    // pending in the store, and answers the emergency only with a key made after it was asked.
    say(`emergency rotation ${rotationId} of ${credentialId}, in this process`);
    const asked = Date.now();
    const last = await runToEnd(
      credential,
      services,
      {
        credentialId,
        rotationId,
        step: Step.Create,
        emergency: true,
        emergencyAt: asked,
        trigger: "emergency",
        actor,
        startedAt: asked,
        ...(o.reason ? { reason: o.reason } : {}),
      },
      say,
      started,
    );
    const seconds = (Date.now() - started) / 1000;
    const ok = last.step === Step.Done;
    await recordDirect(o, { ...last, actor, emergency: true, ...(o.reason ? { reason: o.reason } : {}) }, ok);
    if (o.json)
      out.stdout(
        JSON.stringify({
          credential: credentialId,
          rotationId: last.rotationId,
          state: ok ? "completed" : "failed",
          step: last.step,
          outcome: last.outcome ?? null,
          seconds,
          startedAt: isoTime(started),
          finishedAt: isoTime(Date.now()),
          direct: true,
          emergency: true,
          actor,
        }),
      );
    else
      out.stdout(
        ok ? `done: ${credentialId} rotated in ${seconds.toFixed(1)}s` : `not rotated: ${last.outcome ?? last.step}`,
      );
    return ok ? EXIT_OK : EXIT_FAILED;
  } catch (err) {
    out.stderr(`key-rotator rotate: ${describeError(err)}`);
    return EXIT_FAILED;
  } finally {
    await services.close();
  }
}

/** Longest wait `--direct` sits out in this process (a vendor's rate-limit reset); past it, it stops. */
const MAX_DIRECT_WAIT_MS = 70_000;
const DIRECT_ATTEMPTS = 5;

/**
 * Runs one rotation to its end in this process through the runner, as the queue would: a
 * retryable failure is tried again a few times, a short wait is sat out, and giving up runs the
 * step's undo and alerts.
 */
async function runToEnd(
  credential: RuntimeCredential,
  services: Services,
  state: RotationState,
  say: (line: string) => void,
  started: number,
): Promise<RotationState> {
  const module = credential.module;
  if (module.flow !== "key-api") throw new Error(`${credential.id}: --direct is for key-API vendors`);
  const { runAttempt } = await import("../rotation/runner.js");
  const run: FlowRun = {
    kind: "key-api",
    credential,
    deps: {
      store: services.store,
      vendor: services.vendorFor(credential),
      value: module.value,
      replicas: services.replicasFor(credential),
      alerter: services.alerter,
      clock: services.clock,
      onStep: (_s, step) => say(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${step} done`),
    },
  };
  let saved = state;
  const save = async (s: RotationState) => void (saved = s);
  for (let attempt = 1; ; attempt++) {
    const outcome = await runAttempt(run, saved, save, { number: attempt, of: DIRECT_ATTEMPTS });
    saved = outcome.state;
    if (outcome.kind === "finished") return outcome.state;
    if (outcome.kind === "failed") return outcome.state;
    const waitMs = outcome.kind === "wait" ? outcome.until - Date.now() : 500 * attempt;
    if (outcome.kind === "wait" && waitMs > MAX_DIRECT_WAIT_MS) {
      return {
        ...saved,
        outcome: `stopped at step ${saved.step}: ${outcome.reason} (until ${new Date(outcome.until).toISOString()})`,
      };
    }
    say(
      `  step ${saved.step}: ${outcome.kind === "wait" ? outcome.reason : `failed (${outcome.message})`}; trying again`,
    );
    await new Promise((res) => setTimeout(res, Math.max(0, waitMs)));
  }
}

/** What the person must do for an operator-assisted credential, in its vendor's words. */
function operatorHint(cli: CliContext, credentialId: string): string {
  const module = cli.runtime.credentials.find((c) => c.id === credentialId)?.module;
  if (module?.flow !== "operator") return `hand in a new key: key-rotator submit ${credentialId}`;
  return `generate a new ${module.guide.noun} in ${module.guide.dashboard} and run: key-rotator submit ${credentialId}`;
}

/**
 * A --direct emergency runs without the queue, so nothing else records it: the audit stream gets
 * it (who, why, the emergency flag, how it ended), and so does Redis's history when Redis answers
 * by now (it is often down: that is why --direct was used).
 */
async function recordDirect(o: RotateOptions, state: RotationState, ok: boolean): Promise<void> {
  const [{ auditLog, parseActor }, { openCli }, { RotationHistory }] = await Promise.all([
    import("../audit/audit-log.js"),
    import("./cli-context.js"),
    import("../queue/rotation-history-store.js"),
  ]);
  auditLog().emit({
    event: "emergency.direct",
    credentialId: state.credentialId,
    rotationId: state.rotationId,
    actor: parseActor(state.actor),
    reason: state.reason,
    emergency: true,
    direct: true,
    step: state.step,
    outcome: state.outcome,
  });
  const cli = await openCli(o.config, { redis: "optional", queue: false }).catch(() => undefined);
  try {
    if (!cli?.redis) return;
    const history = new RotationHistory(cli.redis, cli.runtime.settings.queuePrefix);
    await history.audit({
      at: Date.now(),
      credentialId: state.credentialId,
      event: "rotation.requested",
      actor: state.actor ?? "cli:unknown",
      ...(state.reason ? { reason: state.reason } : {}),
      emergency: true,
      direct: true,
      rotationId: state.rotationId,
      ...(state.outcome ? { outcome: state.outcome } : {}),
    });
    await history.record(
      state,
      ok ? "completed" : state.step === Step.RolledBack ? "rolled-back" : "failed",
      Date.now(),
    );
  } catch {
    // Redis went away meanwhile: the audit stream has it.
  } finally {
    await cli?.close();
  }
}
