/**
 * The BullMQ processor for rotation jobs: runs `rotate` with the job's saved state, saves progress
 * to job data after every step, turns "wait" into a delayed continuation (never a sleep), and
 * decides what an error means: retry later, wait for the vendor's rate-limit reset, or give up.
 * Giving up before promote rolls back what the rotation made; after promote it alerts.
 * This is the only place that turns an error into BullMQ's UnrecoverableError.
 */
import type { Job } from "bullmq";
import { DelayedError, UnrecoverableError } from "../queue/bullmq.js";
import { RateLimitedError, RotatorError, describeError } from "../core/errors.js";
import type { Logger } from "../observability/logger.js";
import { type RotationCredential, type RotationDeps, type RotationResult, rotate } from "../rotation/rotation.js";
import { undoUnpromoted } from "../rotation/revocation.js";
import { type OperatorCredential, type OperatorDeps, operatorRotate } from "../rotation/operator-rotation.js";
import { type RotationState, Step, isBefore } from "../rotation/rotation-state.js";
import type { RotationHistory, RotationResultKind } from "../queue/rotation-history-store.js";
import type { Metrics } from "../observability/metrics.js";

export interface RotationJobContext {
  /** The credential and the ports to rotate it with, or undefined when it left the inventory. */
  resolve(
    credentialId: string,
  ):
    | { kind: "key-api"; credential: RotationCredential & { vendor: string }; deps: RotationDeps }
    | { kind: "operator"; credential: OperatorCredential & { vendor: string }; deps: OperatorDeps }
    | undefined;
  history: RotationHistory;
  log: Logger;
  metrics?: Metrics;
  /** Reads (and clears) an emergency asked for this credential while its job ran: the request's epoch ms. */
  emergencyRequested(credentialId: string): Promise<number | undefined>;
  now(): number;
}

export type ResolvedRotation = NonNullable<ReturnType<RotationJobContext["resolve"]>>;

export function rotationProcessor(ctx: RotationJobContext) {
  return async (job: Job<RotationState>, token?: string): Promise<{ step: Step; outcome?: string }> => {
    const found = ctx.resolve(job.data.credentialId);
    if (!found) throw new UnrecoverableError(`credential ${job.data.credentialId} is not in the inventory`);
    const { credential } = found;
    const log = jobLog(ctx, job);
    const progress = { last: job.data };
    try {
      // A job a lane's lease let go of (its process died) is this worker's now.
      const { heldByLane: _held, ...data } = job.data;
      const result = await attemptRotation(ctx, job, found, progress, log, { from: data });
      if (result.kind === "wait") {
        log.info(
          { event: "rotation.wait", until: new Date(result.until).toISOString(), reason: result.reason },
          `waiting: ${result.reason}`,
        );
        await job.moveToDelayed(result.until, token);
        throw new DelayedError();
      }
      await finish(ctx, credential, result.state, result.state.step === Step.Done ? "completed" : "rolled-back", log);
      return { step: result.state.step, ...(result.state.outcome ? { outcome: result.state.outcome } : {}) };
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof RateLimitedError) {
        log.warn(
          { event: "rotation.rate-limited", retryAt: new Date(err.retryAt).toISOString() },
          "vendor rate limit: waiting for its reset",
        );
        await job.moveToDelayed(err.retryAt, token);
        throw new DelayedError();
      }
      const retryable = !(err instanceof RotatorError) || err.retryable;
      const attempts = job.opts.attempts ?? 1;
      const final = !retryable || job.attemptsMade + 1 >= attempts;
      const message = describeError(err);
      if (!final) {
        log.warn(
          {
            event: "rotation.retry",
            step: progress.last.step,
            attempt: job.attemptsMade + 1,
            attempts,
            error: message,
          },
          `step ${progress.last.step} failed, will retry: ${message}`,
        );
        throw err;
      }
      await giveUp(ctx, found, progress.last, message, log);
      throw new UnrecoverableError(
        `${credential.id}: rotation ${job.data.rotationId} failed at step ${progress.last.step}: ${message}`,
      );
    }
  };
}

export function jobLog(ctx: RotationJobContext, job: Job<RotationState>): Logger {
  return ctx.log.child({ credentialId: job.data.credentialId, rotationId: job.data.rotationId, jobId: job.id });
}

/**
 * Runs the rotation once from the job's saved state (or `options.from`): saves each step's state
 * to the job data unless told not to (`progress.last` follows it either way), logs and times each
 * step. What the outcome means, and what an error means, is the caller's to decide: the queue
 * processor above, or the emergency lane.
 */
export async function attemptRotation(
  ctx: RotationJobContext,
  job: Job<RotationState>,
  found: ResolvedRotation,
  progress: { last: RotationState },
  log: Logger,
  options: { from?: RotationState; saveEachStep?: boolean } = {},
): Promise<RotationResult> {
  const saved = options.from ?? job.data;
  const { credential } = found;
  const inFlight = ctx.metrics?.rotationsInFlight.labels({ vendor: credential.vendor });
  inFlight?.inc();
  try {
    const onStep = (state: RotationState, step: Step, durationMs: number) => {
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
    };
    const save = async (state: RotationState) => {
      progress.last = state;
      if (options.saveEachStep ?? true) await job.updateData(state);
    };
    return found.kind === "operator"
      ? await operatorRotate(found.credential, { ...found.deps, onStep }, saved, save)
      : await rotate(
          found.credential,
          { ...found.deps, emergencyRequested: () => ctx.emergencyRequested(saved.credentialId), onStep },
          saved,
          save,
        );
  } finally {
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

/**
 * The last attempt failed. Before promote, undo what exists (the new key at the vendor, the
 * pending stage) so the current key stays the only one; after promote, the new key is already
 * current and only a person should decide, so alert. What is undone is what the store shows of
 * this rotation, never what job data names.
 */
async function giveUp(
  ctx: RotationJobContext,
  found: ResolvedRotation,
  state: RotationState,
  message: string,
  log: Logger,
) {
  const { credential, deps } = found;
  let undone = "";
  if (found.kind === "key-api" && isBefore(state.step, Step.Grace)) {
    try {
      const versions = await deps.store.listVersions(credential.secretId);
      if ((await undoUnpromoted(found.deps, credential, versions, state.rotationId)) === "undone") {
        undone = "; what it made was revoked and unstaged, the current key is unchanged";
      }
    } catch (err) {
      undone = `; undoing it also failed (${describeError(err)}): the orphan sweep and the next due check will clean up`;
    }
  }
  const failed = { ...state, outcome: `failed at ${state.step}: ${message}` };
  await deps.alerter.raise({
    credentialId: credential.id,
    severity: "critical",
    kind: "rotation-failed",
    step: state.step,
    rotationId: state.rotationId,
    summary: `rotation failed at step ${state.step}: ${message}${undone}`,
  });
  await finish(ctx, credential, failed, "failed", log).catch(() => undefined);
}
