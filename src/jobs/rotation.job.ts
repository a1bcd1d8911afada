/**
 * The BullMQ processor for rotation jobs: one attempt through the runner (runner.ts) from the
 * job's saved state, saving progress to job data after every step, then what the attempt's end
 * means in BullMQ's terms: a wait is a delayed continuation (never a sleep), a retry is a thrown
 * error (BullMQ's attempts and backoff), a give-up is UnrecoverableError, after the runner has run
 * the step's undo and alerted. Records every ending once in history and metrics.
 * This is the only place that turns an error into BullMQ's UnrecoverableError.
 */
import type { Job } from "bullmq";
import { describeError } from "../core/errors.js";
import { DelayedError, UnrecoverableError } from "../queue/bullmq.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { RotationHistory, RotationResultKind } from "../queue/rotation-history-store.js";
import type { CredentialWriteBudget } from "../queue/write-budget.js";
import { type Attempt, type AttemptOutcome, type FlowRun, runAttempt } from "../rotation/runner.js";
import { type RotationState, Step } from "../rotation/rotation-state.js";

export interface RotationJobContext {
  /** The credential, its flow and the ports to rotate it with, or undefined when it left the inventory. */
  resolve(credentialId: string): FlowRun | undefined;
  history: RotationHistory;
  log: Logger;
  metrics?: Metrics;
  /**
   * The store's write budget of the credential's region (write-budget.ts): the processor takes a
   * slot before each run, the emergency lane in its admission. Absent: BullMQ's own limiter alone.
   */
  writeBudget?: CredentialWriteBudget;
  /** Reads (and clears) an emergency asked for this credential while its job ran: the request's epoch ms. */
  emergencyRequested(credentialId: string): Promise<number | undefined>;
  now(): number;
}

export function rotationProcessor(ctx: RotationJobContext) {
  return async (job: Job<RotationState>, token?: string): Promise<{ step: Step; outcome?: string }> => {
    const found = ctx.resolve(job.data.credentialId);
    if (!found) throw new UnrecoverableError(`credential ${job.data.credentialId} is not in the inventory`);
    const log = jobLog(ctx, job);
    if (ctx.writeBudget && !(await ctx.writeBudget.take(job.data.credentialId))) {
      // Its region's write budget for this second is spent: a second later, not an attempt.
      await job.moveToDelayed(ctx.now() + 1_000, token);
      throw new DelayedError();
    }
    // A job a lane's lease let go of (its process died) is this worker's now.
    const { heldByLane: _held, ...data } = job.data;
    const attempts = job.opts.attempts ?? 1;
    const outcome = await attemptRotation(ctx, job, found, log, {
      from: data,
      attempt: { number: job.attemptsMade + 1, of: attempts },
    });
    switch (outcome.kind) {
      case "wait":
        log.info(
          { event: "rotation.wait", until: new Date(outcome.until).toISOString(), reason: outcome.reason },
          `waiting: ${outcome.reason}`,
        );
        await job.moveToDelayed(outcome.until, token);
        throw new DelayedError();
      case "retry":
        log.warn(
          {
            event: "rotation.retry",
            step: outcome.state.step,
            attempt: job.attemptsMade + 1,
            attempts,
            error: outcome.message,
          },
          `step ${outcome.state.step} failed, will retry: ${outcome.message}`,
        );
        throw outcome.error;
      case "failed":
        await finish(ctx, found.credential, outcome.state, "failed", log).catch(() => undefined);
        throw new UnrecoverableError(
          `${found.credential.id}: rotation ${job.data.rotationId} failed at step ${outcome.state.step}: ${outcome.message}`,
        );
      case "finished": {
        const { state } = outcome;
        await finish(ctx, found.credential, state, state.step === Step.Done ? "completed" : "rolled-back", log);
        return { step: state.step, ...(state.outcome ? { outcome: state.outcome } : {}) };
      }
    }
  };
}

export function jobLog(ctx: RotationJobContext, job: Job<RotationState>): Logger {
  return ctx.log.child({ credentialId: job.data.credentialId, rotationId: job.data.rotationId, jobId: job.id });
}

/**
 * Runs one attempt of the job's rotation through the runner (from `options.from`, else the job's
 * data): saves each step's state to the job data unless told not to, logs and times each step, and
 * answers emergencies asked while it runs. What the outcome means is the caller's to decide: the
 * queue processor above, or the emergency lane.
 */
export async function attemptRotation(
  ctx: RotationJobContext,
  job: Job<RotationState>,
  found: FlowRun,
  log: Logger,
  options: { from?: RotationState; saveEachStep?: boolean; attempt: Attempt },
): Promise<AttemptOutcome> {
  const saved = options.from ?? job.data;
  const { credential } = found;
  const inFlight = ctx.metrics?.rotationsInFlight.labels({ vendor: credential.vendor });
  inFlight?.inc();
  let recorded: Promise<void> | undefined;
  try {
    // A step's bookkeeping (metrics, log line, audit line) runs once the next step's call is on
    // its way: it is CPU the call's round trip hides, not time ahead of it (an emergency's exposed
    // key stays valid for every millisecond before its revocation). setImmediate keeps their order.
    const onStep = (state: RotationState, step: Step, durationMs: number) => {
      recorded = new Promise((resolve) =>
        setImmediate(() => {
          try {
            recordStep(state, step, durationMs);
          } catch (err) {
            log.warn({ event: "rotation.step-record", step, error: describeError(err) }, "could not record a step");
          }
          resolve();
        }),
      );
    };
    const recordStep = (state: RotationState, step: Step, durationMs: number) => {
      ctx.metrics?.stepDurationSeconds.labels({ vendor: credential.vendor, step }).observe(durationMs / 1000);
      log.info(
        {
          event: "rotation.step",
          step,
          next: state.step,
          trigger: state.trigger,
          actor: state.actor,
          reason: state.reason,
          emergency: state.emergency,
          durationMs,
        },
        `step ${step} done`,
      );
      ctx.history.step(state, step, durationMs);
    };
    const save = async (state: RotationState) => {
      if (options.saveEachStep ?? true) await job.updateData(state);
    };
    const run: FlowRun =
      found.kind === "operator"
        ? { ...found, deps: { ...found.deps, onStep } }
        : {
            ...found,
            deps: { ...found.deps, emergencyRequested: () => ctx.emergencyRequested(saved.credentialId), onStep },
          };
    return await runAttempt(run, saved, save, options.attempt);
  } finally {
    await recorded; // the attempt ends with its steps recorded
    inFlight?.dec();
  }
}

async function finish(
  ctx: RotationJobContext,
  credential: { id: string; vendor: string },
  state: RotationState,
  result: RotationResultKind,
  log: Logger,
) {
  const now = ctx.now();
  ctx.metrics?.rotationsTotal
    .labels({ credential: credential.id, vendor: credential.vendor, result, trigger: state.trigger })
    .inc();
  if (result === "completed")
    ctx.metrics?.lastSuccessTimestamp.labels({ credential: credential.id, vendor: credential.vendor }).set(now / 1000);
  await ctx.history.record(state, result, now);
  log.info(
    { event: "rotation.finished", result, outcome: state.outcome, trigger: state.trigger, actor: state.actor },
    `rotation ${result}`,
  );
}
