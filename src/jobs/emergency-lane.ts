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
 * Only key-API rotations take the lane (an operator-assisted one waits for a person anyway), and at
 * most `maxInFlight` at a time per process: an incident touching many credentials queues the rest,
 * where the write-quota limiter paces them.
 *
 * Bounds (emergency-limits.ts): every emergency passes the cooldown and the global cap first, and
 * a lane rotation takes its slot of the store's write budget (its region's bucket, then the very
 * counter BullMQ's limiter keeps for the queue's workers: one slot per rotation, as the queue
 * counts it), so lane and queue share one budget across replicas. The slot is taken in the
 * admission's own script, one round trip for both. When the budget for this second is spent, the
 * lane hands the rotation to the queue, whose limiter starts it when there is room.
 *
 * Must not: queue anything while Redis is down (RedisUnavailableError instead: a request that
 * would only wait in the connection's offline queue, and run minutes later, is refused now).
 */
import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { describeError } from "../core/errors.js";
import { type RotationJobContext, attemptRotation, jobLog } from "./rotation.job.js";
import type { RotationState } from "../rotation/rotation-state.js";
import { EmergencyLimits, type EmergencyRequest, type LaneBudget, gateEmergency } from "../queue/emergency-limits.js";
import { RedisUnavailableError, redisIsUp } from "../queue/redis.js";
import { type Enqueued, type RotationRequest, enqueueRotation } from "../queue/rotation-queue.js";
import type { EmergencySettings } from "../config/runtime-config.js";

export interface EmergencyLaneOptions {
  rotations: Queue;
  redis: Redis;
  ctx: RotationJobContext;
  /** How long the held job waits for this process before a worker may take it; renewed while it runs. */
  leaseMs: number;
  maxInFlight: number;
  /**
   * The rotation workers' limiter (rotations per `durationMs`): the lane counts against the same
   * limiter, and against the credential's region's bucket where `ctx.writeBudget` has one.
   */
  limiter: { max: number; durationMs: number };
  limits: EmergencySettings;
}

export interface EmergencyLane {
  /**
   * Starts the rotation (in the lane if it may, else on the queue) and answers once it is started
   * or joined. Throws EmergencyRefusedError past an emergency's bounds, RedisUnavailableError
   * while Redis is down.
   */
  rotate(request: EmergencyRequest): Promise<Enqueued>;
  /** Takes no more work in the lane and waits for the rotations in it to be handed back. */
  close(): Promise<void>;
}

export function emergencyLane(o: EmergencyLaneOptions): EmergencyLane {
  const running = new Set<Promise<void>>();
  let closed = false;
  const enqueue = (request: RotationRequest) => enqueueRotation(o.rotations, o.redis, request, o.ctx.now());
  const gate = {
    limits: new EmergencyLimits(o.redis, o.rotations.opts.prefix ?? "bull", o.limits),
    history: o.ctx.history,
    log: o.ctx.log,
    now: o.ctx.now,
  };
  const laneFits = (credentialId: string) =>
    !closed && running.size < o.maxInFlight && o.ctx.resolve(credentialId)?.kind === "key-api";
  // The queue's own limiter too, so the queue's workers count the lane's rotation.
  const limiter = {
    key: o.rotations.keys.limiter ?? `${o.rotations.opts.prefix ?? "bull"}:${o.rotations.name}:limiter`,
    max: o.limiter.max,
    windowMs: o.limiter.durationMs,
  };
  const budgetFor = (credentialId: string): LaneBudget | undefined =>
    laneFits(credentialId) ? { region: o.ctx.writeBudget?.bucketOf(credentialId), limiter } : undefined;
  // `budget`: the slot the admission took (false: spent), or undefined when the lane did not fit.
  const startHere = async (request: RotationRequest, budget: boolean | undefined): Promise<Enqueued> => {
    if (budget === undefined) return enqueue(request);
    if (!budget) {
      o.ctx.log.info(
        { event: "lane.budget-spent", credentialId: request.credentialId },
        "emergency lane: the store write budget for this second is spent; the queue starts the rotation when there is room",
      );
      return enqueue(request);
    }
    const enqueued = await enqueue({ ...request, holdMs: o.leaseMs });
    const { held, ...started } = enqueued;
    if (held) {
      const run = runHere(o, held).finally(() => running.delete(run));
      running.add(run);
      // The answer waits one turn of the event loop: the rotation's first store calls leave first.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return started;
  };
  return {
    async rotate(request) {
      if (!redisIsUp(o.redis))
        throw new RedisUnavailableError(
          `Redis does not answer (connection ${o.redis.status}): nothing was started; retry when it is back`,
        );
      const { force: _force, ...rotation } = request;
      if (!request.emergency) return enqueue(rotation);
      return gateEmergency(gate, request, startHere, budgetFor(request.credentialId));
    },
    async close() {
      closed = true;
      await Promise.allSettled([...running]);
    },
  };
}

async function runHere(o: EmergencyLaneOptions, job: Job<RotationState>): Promise<void> {
  const log = jobLog(o.ctx, job);
  const renew = setInterval(
    () => {
      job
        .changeDelay(o.leaseMs)
        .catch((err: unknown) =>
          log.warn(
            { event: "lane.lease", error: describeError(err) },
            `emergency lane: could not renew the lease: ${describeError(err)}`,
          ),
        );
    },
    Math.max(100, Math.floor(o.leaseMs / 3)),
  );
  let release = () => job.promote();
  // The job was stored marked createAttempted, for whoever resumes it should this process die; this
  // first run has made no key yet. Its steps are saved once, when it hands the job back: every
  // step is safe to repeat and the store says how far it got, so a resume after a crash only
  // repeats some, and each Redis write before the revocation is time the exposed key stays valid.
  let last = job.data;
  // Logged once the rotation's first calls are on their way.
  setImmediate(() =>
    log.info(
      { event: "lane.start", actor: job.data.actor },
      "emergency: rotating now in this process (emergency lane)",
    ),
  );
  try {
    const found = o.ctx.resolve(job.data.credentialId);
    if (!found) return; // left the inventory a moment ago: the queue's processor says so
    // The lane never gives up itself: a failure hands the job to the queue, whose attempts decide.
    const outcome = await attemptRotation(o.ctx, job, found, log, {
      from: { ...job.data, createAttempted: false },
      saveEachStep: false,
      attempt: { number: 1, of: 1, mayGiveUp: false },
    });
    last = outcome.state;
    if (outcome.kind === "wait") release = () => job.changeDelay(Math.max(0, outcome.until - o.ctx.now()));
    if (outcome.kind === "retry") {
      log.warn(
        { event: "lane.handed-over", step: last.step, error: outcome.message },
        `emergency lane: step ${last.step} failed, the queue takes the rotation over: ${outcome.message}`,
      );
    }
  } catch (err) {
    log.warn(
      { event: "lane.handed-over", step: last.step, error: describeError(err) },
      `emergency lane: the queue takes the rotation over: ${describeError(err)}`,
    );
  } finally {
    clearInterval(renew);
    const handBack = async () => {
      const { heldByLane: _held, ...handedBack } = last;
      await job.updateData({ ...handedBack, createAttempted: true });
      await release();
    };
    await handBack().catch((err: unknown) =>
      log.warn(
        { event: "lane.release", error: describeError(err) },
        `emergency lane: could not hand the job to the queue (${describeError(err)}); a worker resumes it when its lease runs out`,
      ),
    );
  }
}
