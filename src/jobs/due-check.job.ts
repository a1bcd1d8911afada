/**
 * The due-check tick (a BullMQ job scheduler, hourly by default). For every credential it reads
 * the store's versions (one call) and decides:
 *   a version pending and not current      -> resume that rotation
 *   the current version still pending      -> resume it (promoted, not yet finished), unless
 *                                             the secret's finished-marker names it
 *   the key is due (age or cron, window)   -> start a rotation
 * The marker is read only for a promoted version, and a marker once seen is remembered in this
 * process (a finished rotation stays finished), so a steady fleet costs one call a credential.
 * Redis is not asked: what it says was finished could be lost or forged.
 * Enqueueing is idempotent (one job per credential), so the tick may run on any replica, twice,
 * or after Redis was flushed. Also publishes key age and time-to-due metrics.
 *
 * Must not: rotate anything itself, or keep due-ness in memory between ticks.
 */
import { describeError } from "../core/errors.js";
import { STAGE_CURRENT, type SecretStore } from "../core/ports.js";
import type { DueDecision } from "../schedule/cadence.js";
import type { Logger } from "../observability/logger.js";
import { type Metrics, recordKeyAge } from "../observability/metrics.js";
import { pendingRotation, promotedRotation } from "../rotation/reconcile.js";
import { type Enqueued, type RotationRequest, deterministicRotationId } from "../queue/rotation-queue.js";

export interface DueCheckCredential {
  id: string;
  vendor: string;
  secretId: string;
}

export interface DueCheckContext {
  credentials: DueCheckCredential[];
  store: SecretStore;
  schedule(credentialId: string, keyCreatedAt: Date, now: number): DueDecision;
  enqueue(request: RotationRequest): Promise<Enqueued>;
  /** Credential id -> the version its secret's finished-marker was seen naming (this process's memory). */
  finishedSeen?: Map<string, string>;
  log: Logger;
  metrics?: Metrics;
  now(): number;
  concurrency?: number;
}

export interface DueCheckSummary {
  checked: number;
  started: number;
  resumed: number;
  held: number;
  errors: number;
}

export async function runDueCheck(
  ctx: DueCheckContext,
  progress?: (done: number, total: number) => Promise<void> | void,
): Promise<DueCheckSummary> {
  const summary: DueCheckSummary = { checked: 0, started: 0, resumed: 0, held: 0, errors: 0 };
  const queue = [...ctx.credentials];
  const total = queue.length;
  const finishedSeen = ctx.finishedSeen ?? new Map<string, string>();
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      try {
        const outcome = await checkOne(ctx, c, finishedSeen);
        if (outcome !== "checked") summary[outcome] += 1;
      } catch (err) {
        summary.errors += 1;
        ctx.log.warn(
          { event: "due-check.error", credentialId: c.id, error: describeError(err) },
          `due check of ${c.id} failed`,
        );
      }
      summary.checked += 1;
      if (progress && summary.checked % 100 === 0) await progress(summary.checked, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, ctx.concurrency ?? 8) }, worker));
  return summary;
}

async function checkOne(
  ctx: DueCheckContext,
  c: DueCheckCredential,
  finishedSeen: Map<string, string>,
): Promise<"started" | "resumed" | "held" | "checked"> {
  const versions = await ctx.store.listVersions(c.secretId);
  const promoted = promotedRotation(versions);
  if (promoted && finishedSeen.get(c.id) !== promoted.versionId) {
    const finished = await ctx.store.finishedRotation(c.secretId);
    if (finished === undefined) finishedSeen.delete(c.id);
    else finishedSeen.set(c.id, finished);
  }
  const inProgress =
    pendingRotation(versions) ?? (promoted && finishedSeen.get(c.id) !== promoted.versionId ? promoted : undefined);
  if (inProgress) {
    const r = await ctx.enqueue({ credentialId: c.id, trigger: "resume", rotationId: inProgress.versionId });
    if (!r.joined)
      ctx.log.info(
        { event: "due-check.resume", credentialId: c.id, rotationId: r.rotationId },
        `resuming rotation of ${c.id} found in the store`,
      );
    return r.joined ? "checked" : "resumed";
  }
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current) {
    ctx.log.warn(
      { event: "due-check.no-current", credentialId: c.id, secretId: c.secretId },
      `${c.id}: the secret has no AWSCURRENT version`,
    );
    return "checked";
  }
  const now = ctx.now();
  const verdict = ctx.schedule(c.id, current.createdAt, now);
  const labels = { credential: c.id, vendor: c.vendor };
  recordKeyAge(ctx.metrics, labels, current.createdAt, verdict.dueAt);
  if (!verdict.due) return "checked";
  if (verdict.heldUntil !== undefined) return "held";
  const r = await ctx.enqueue({
    credentialId: c.id,
    trigger: "schedule",
    rotationId: deterministicRotationId(c.id, versions),
  });
  if (!r.joined)
    ctx.log.info(
      { event: "due-check.start", credentialId: c.id, rotationId: r.rotationId },
      `${c.id} is due: rotation started`,
    );
  return r.joined ? "checked" : "started";
}
