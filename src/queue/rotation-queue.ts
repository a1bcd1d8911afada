/**
 * Puts rotations on the BullMQ queue. One rotation per credential at a time: every rotation job
 * carries the deduplication id `rotation-<credential>`, held while the job waits, runs or sleeps
 * through grace, so any number of replicas enqueueing at once produce one job. An emergency for a
 * credential with a rotation in flight joins it: the job is marked emergency, moved to the top and,
 * if it is waiting out grace, woken now.
 *
 * Must not: put anything but ids, flags and short reasons in job data.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { VersionInfo } from "../core/ports.js";
import { type RotationState, Step, type Trigger } from "../rotation/rotation-state.js";

export const ROTATION_QUEUE = "rotations";
export const ROTATE_JOB = "rotate";

const PRIORITY = { emergency: 1, manual: 5, schedule: 10 } as const;

export interface RotationRequest {
  credentialId: string;
  trigger: Trigger;
  emergency?: boolean;
  actor?: string;
  reason?: string;
  /** Resume this rotation (a version id found staged in the store) instead of starting one. */
  rotationId?: string;
  /** Internal: set on the one retry after a stale deduplication lock was freed. */
  retriedStaleLock?: boolean;
  /** Internal: set when a failed job of this rotation id was taken out to run it again. */
  retriedFailed?: boolean;
  /**
   * Add the job held back (delayed) this long, for the emergency lane to run it here and now. It
   * still holds the credential's deduplication id; if nobody releases it, a worker takes it then.
   */
  holdMs?: number;
}

export interface Enqueued {
  jobId: string;
  rotationId: string;
  /** True when a rotation was already in flight and this request joined it. */
  joined: boolean;
  /** The new job, when it was added held back (holdMs) and is the caller's to run or release. */
  held?: Job<RotationState>;
}

export function dedupIdFor(credentialId: string): string {
  return `rotation-${credentialId}`;
}

export function jobIdFor(rotationId: string): string {
  return `rotation-${rotationId}`;
}

/**
 * A rotation id that every replica computes alike from the same store state, so two replicas
 * that find a credential due at the same moment ask for the same rotation. It changes whenever a
 * version is added (after a rollback, say), so a token is never reused with another value.
 */
export function deterministicRotationId(credentialId: string, versions: VersionInfo[]): string {
  const ids = versions
    .map((v) => v.versionId)
    .sort()
    .join(",");
  const h = createHash("sha256").update(`${credentialId}|${ids}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Redis key holding an emergency asked for a credential whose rotation job is running right now:
 * JSON `{ at, actor }`. The running processor takes it (GETDEL) at its next step boundary.
 */
export function emergencyFlagKey(queue: Queue, credentialId: string): string {
  return `${queue.opts.prefix ?? "bull"}:${ROTATION_QUEUE}:emergency:${credentialId}`;
}

/** Reads an emergency flag's request time; garbage or a time ahead of `now` counts as asked now. */
export function parseEmergencyFlag(raw: string, now: number): { at: number; actor: string } {
  try {
    const v = JSON.parse(raw) as { at?: unknown; actor?: unknown };
    const at = typeof v.at === "number" && Number.isFinite(v.at) ? Math.min(v.at, now) : now;
    return { at, actor: typeof v.actor === "string" ? v.actor.slice(0, 200) : "unknown" };
  } catch {
    return { at: now, actor: "unknown" };
  }
}

export async function enqueueRotation(
  queue: Queue,
  redis: Redis,
  request: RotationRequest,
  now = Date.now(),
): Promise<Enqueued> {
  const emergency = request.emergency ?? false;
  const rotationId = request.rotationId ?? randomUUID();
  const data: RotationState = {
    credentialId: request.credentialId,
    rotationId,
    step: Step.Create,
    emergency,
    trigger: request.trigger,
    startedAt: now,
    ...(emergency ? { emergencyAt: now } : {}),
    // A failed attempt may have made a key at the vendor that never reached the store; so may a
    // held job's run in the emergency lane, if that process dies: whoever resumes it looks first.
    ...(request.retriedFailed || request.holdMs ? { createAttempted: true } : {}),
    ...(request.holdMs ? { heldByLane: true } : {}),
    ...(request.actor ? { actor: request.actor } : {}),
    ...(request.reason ? { reason: request.reason } : {}),
  };
  // Add first (one round trip when nothing is in flight, which is what an emergency needs most);
  // BullMQ answers with the job already holding the credential's deduplication id, if any.
  const job = await queue.add(ROTATE_JOB, data, {
    jobId: jobIdFor(rotationId),
    deduplication: { id: dedupIdFor(request.credentialId) },
    priority: emergency
      ? PRIORITY.emergency
      : request.trigger === "schedule" || request.trigger === "resume"
        ? PRIORITY.schedule
        : PRIORITY.manual,
    attempts: 10,
    backoff: { type: "exponential", delay: emergency ? 500 : 5_000 },
    removeOnComplete: { count: 1_000 },
    removeOnFail: { count: 1_000 },
    ...(request.holdMs ? { delay: request.holdMs } : {}),
  });
  const jobId = job.id ?? jobIdFor(rotationId);
  if (jobId === jobIdFor(rotationId)) {
    // A caller-given id (the due check's, derived from the store) may name a job that already ran:
    // BullMQ then hands back that job and adds nothing. A failed one left the store as it was, so
    // the same id comes back every tick: run it again, or the credential is never rotated.
    if (request.rotationId && !request.retriedFailed && (await queue.getJobState(jobId)) === "failed") {
      const removed = await queue.remove(jobId).catch(() => 0);
      if (removed) return enqueueRotation(queue, redis, { ...request, retriedFailed: true }, now);
    }
    return { jobId, rotationId, joined: false, ...(request.holdMs ? { held: job as Job<RotationState> } : {}) };
  }
  const existing = await queue.getJob(jobId);
  const existingState = existing ? await existing.getState() : "missing";
  if (["missing", "completed", "failed"].includes(existingState) && !request.retriedStaleLock) {
    // The lock names a job that no longer exists (removed by hand) or has ended (a lock BullMQ
    // would have freed: left behind, or forged): nothing is in flight. Free it and ask once more.
    await queue.removeDeduplicationKey(dedupIdFor(request.credentialId));
    return enqueueRotation(queue, redis, { ...request, rotationId, retriedStaleLock: true }, now);
  }
  const existingData = existing?.data as RotationState | undefined;
  if (existing && existingData && emergency) {
    // Every emergency counts from its own request, even one joining a rotation already made an
    // emergency: a key made before this request is replaced again (DESIGN.md rule 10).
    const after = await escalate(queue, redis, jobId, existingData, existingState, request, now);
    if (after === "ended") return enqueueRotation(queue, redis, { ...request, retriedStaleLock: true }, now);
  }
  return { jobId, rotationId: existingData?.rotationId ?? rotationId, joined: true };
}

/** How long an emergency waits to see a running job take its flag, before it assumes the job ended without it. */
const FLAG_TAKEN_WITHIN_MS = 2_000;

async function escalate(
  queue: Queue,
  redis: Redis,
  jobId: string,
  data: RotationState,
  state: string,
  request: RotationRequest,
  now: number,
): Promise<"joined" | "ended"> {
  const job = await queue.getJob(jobId);
  if (!job) return "joined";
  const reason = request.reason ? `${data.reason ? `${data.reason}; ` : ""}emergency: ${request.reason}` : data.reason;
  if (state === "active" || (state === "delayed" && data.heldByLane)) {
    // A running processor (a queue worker's, or the lane's that holds the job) owns job data; it
    // takes this flag at its next step boundary. If the job ends before it does, nobody answered
    // this emergency: the caller starts a rotation.
    const key = emergencyFlagKey(queue, data.credentialId);
    await redis.set(key, JSON.stringify({ at: now, actor: request.actor ?? "emergency" }), "EX", 86_400);
    for (const end = Date.now() + FLAG_TAKEN_WITHIN_MS; Date.now() < end;) {
      if ((await redis.exists(key)) === 0) return "joined";
      if (["completed", "failed"].includes(await job.getState()))
        return (await redis.del(key)) === 1 ? "ended" : "joined";
      await new Promise((r) => setTimeout(r, 50));
    }
    return "joined";
  }
  // Who made it an emergency is part of the audit trail: keep whoever started it, and add them.
  const actor = request.actor
    ? data.actor
      ? `${data.actor}; emergency: ${request.actor}`
      : request.actor
    : data.actor;
  await job.updateData({
    ...data,
    emergency: true,
    trigger: "emergency",
    emergencyAt: Math.max(now, data.emergencyAt ?? 0),
    ...(reason ? { reason } : {}),
    ...(actor ? { actor } : {}),
  });
  if (state === "delayed") await job.promote();
  else if (state === "waiting" || state === "prioritized") await job.changePriority({ priority: PRIORITY.emergency });
  return "joined";
}
