/**
 * The emergency lane: an emergency a person asks of this worker (admin HTTP) runs here and now,
 * in this process, instead of waiting for a queue worker to take it up. In an incident the
 * hand-off through the queue is time the exposed key stays valid.
 *
 * The rotation is still a job, added first and held back (delayed) for a lease:
 * - it holds the credential's deduplication id, so a due check or another replica joins it
 *   instead of starting a second rotation (DESIGN.md rule 4);
 * - it is stored marked createAttempted, and the lane writes its state back once, when it hands
 *   the job back (each Redis write before the revocation is time the key stays valid);
 * - while the rotation runs here the lease is renewed; if this process dies, the lease runs out
 *   and any worker resumes the job from the store, as after any crash (every step is safe to
 *   repeat, and the first looks for a key made but never stored).
 * When the attempt ends, the job is released to the queue: a finished rotation completes there at
 * once with no further call (history, metrics), and anything else (a failed step, a vendor's
 * rate limit) is retried by the queue's own rules.
 *
 * Only CallCov-style rotations take the lane (a JustCall one waits for a person anyway), and at
 * most `maxInFlight` at a time per process: an incident touching many credentials queues the rest,
 * where the write-quota limiter paces them.
 */
import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { RateLimitedError, describeError } from "../core/errors.js";
import { type RotationJobContext, attemptRotation, jobLog } from "../../jobs/rotation.job.js";
import type { RotationState } from "../rotation/rotation-state.js";
import { type Enqueued, type RotationRequest, enqueueRotation } from "./rotation-queue.js";

export interface EmergencyLaneOptions {
  rotations: Queue;
  redis: Redis;
  ctx: RotationJobContext;
  /** How long the held job waits for this process before a worker may take it; renewed while it runs. */
  leaseMs: number;
  maxInFlight: number;
}

export interface EmergencyLane {
  /** Starts the rotation (in the lane if it may, else on the queue) and answers once it is started or joined. */
  rotate(request: RotationRequest): Promise<Enqueued>;
  /** Takes no more work in the lane and waits for the rotations in it to be handed back. */
  close(): Promise<void>;
}

export function emergencyLane(o: EmergencyLaneOptions): EmergencyLane {
  const running = new Set<Promise<void>>();
  let closed = false;
  const enqueue = (request: RotationRequest) => enqueueRotation(o.rotations, o.redis, request, o.ctx.now());
  return {
    async rotate(request) {
      const laneFits = request.emergency && !closed && running.size < o.maxInFlight && o.ctx.resolve(request.credentialId)?.kind === "key-api";
      if (!laneFits) return enqueue(request);
      const enqueued = await enqueue({ ...request, holdMs: o.leaseMs });
      const { held, ...started } = enqueued;
      if (held) {
        const run = runHere(o, held).finally(() => running.delete(run));
        running.add(run);
      }
      return started;
    },
    async close() {
      closed = true;
      await Promise.allSettled([...running]);
    },
  };
}

async function runHere(o: EmergencyLaneOptions, job: Job<RotationState>): Promise<void> {
  const log = jobLog(o.ctx, job);
  const renew = setInterval(() => {
    job.changeDelay(o.leaseMs).catch((err: unknown) => log.warn({ event: "lane.lease", error: describeError(err) }, `emergency lane: could not renew the lease: ${describeError(err)}`));
  }, Math.max(100, Math.floor(o.leaseMs / 3)));
  let release = () => job.promote();
  // The job was stored marked createAttempted, for whoever resumes it should this process die; this
  // first run has made no key yet. Its steps are saved once, when it hands the job back: every
  // step is safe to repeat and the store says how far it got, so a resume after a crash only
  // repeats some, and each Redis write before the revocation is time the exposed key stays valid.
  const progress = { last: job.data };
  log.info({ event: "lane.start", actor: job.data.actor }, "emergency: rotating now in this process (emergency lane)");
  try {
    const found = o.ctx.resolve(job.data.credentialId);
    if (!found) return; // left the inventory a moment ago: the queue's processor says so
    const result = await attemptRotation(o.ctx, job, found, progress, log, { from: { ...job.data, createAttempted: false }, saveEachStep: false });
    if (result.kind === "wait") release = () => job.changeDelay(Math.max(0, result.until - o.ctx.now()));
  } catch (err) {
    if (err instanceof RateLimitedError) release = () => job.changeDelay(Math.max(0, err.retryAt - o.ctx.now()));
    const message = describeError(err);
    log.warn({ event: "lane.handed-over", step: progress.last.step, error: message }, `emergency lane: step ${progress.last.step} failed, the queue takes the rotation over: ${message}`);
  } finally {
    clearInterval(renew);
    const handBack = async () => {
      if (progress.last !== job.data) await job.updateData({ ...progress.last, createAttempted: true });
      await release();
    };
    await handBack().catch((err: unknown) =>
      log.warn({ event: "lane.release", error: describeError(err) }, `emergency lane: could not hand the job to the queue (${describeError(err)}); a worker resumes it when its lease runs out`),
    );
  }
}
