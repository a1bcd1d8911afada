/**
 * The due-check tick (a BullMQ job scheduler, hourly by default). It lists the fleet's secrets
 * (ListSecrets, 100 a call: stages and the finished-marker tag) and knows when each current key was
 * made from the versions it has seen (fleet-view.ts), so a steady fleet costs a hundredth of a call
 * a credential. For every credential it decides:
 *   a version pending and not current      -> resume that rotation
 *   the current version still pending      -> resume it (promoted, not yet finished), unless
 *                                             the secret's finished-marker names it
 *   the key is due (age or cron, window)   -> start a rotation
 * Only a due key gets a closer look (its versions, one call), for the rotation's id. A credential the
 * listing does not show is read alone: its versions (one call), and the finished-marker only for a
 * promoted version, remembered once seen (a finished rotation stays finished).
 * Redis is not asked: what it says was finished could be lost or forged.
 * Enqueueing is idempotent (one job per credential), so the tick may run on any replica, twice,
 * or after Redis was flushed. Also publishes key age and time-to-due metrics.
 *
 * Must not: rotate anything itself, or keep due-ness in memory between ticks.
 */
import { describeError } from "../core/errors.js";
import { STAGE_CURRENT, type SecretListing, type SecretStore } from "../core/ports.js";
import type { DueDecision } from "../schedule/cadence.js";
import type { Logger } from "../observability/logger.js";
import { type Metrics, recordKeyAge } from "../observability/metrics.js";
import { pendingRotation, promotedRotation } from "../rotation/reconcile.js";
import { type Enqueued, type RotationRequest, deterministicRotationId } from "../queue/rotation-queue.js";
import {
  CurrentVersionCache,
  type FleetView,
  currentVersionId,
  finishedMarker,
  listFleet,
  stagedVersions,
} from "./fleet-view.js";

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
  /** When current versions were made, kept between ticks (this process's memory). */
  currentVersions?: CurrentVersionCache;
  /** false: one call per credential, as before listings (for comparison). Default true. */
  listing?: boolean;
  /** How this run lists its secrets (a shard: its run of the listing's pages); default, listed whole by a filter. */
  fleetView?: () => Promise<FleetView | undefined>;
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
  const total = ctx.credentials.length;
  const finishedSeen = ctx.finishedSeen ?? new Map<string, string>();
  const cache = ctx.currentVersions ?? new CurrentVersionCache();
  const view =
    ctx.listing === false
      ? undefined
      : ctx.fleetView
        ? await ctx.fleetView()
        : await listFleet(
            ctx.store,
            ctx.credentials.map((c) => c.secretId),
            ctx.log,
          );
  // The creation times of current versions not seen before: 20 secrets a call. The values of those
  // due now are kept by a caching store: their rotation reads the old key by id at once.
  let idOf: Map<string, string> | undefined; // made only when a creation time is read
  const dueNow = (secretId: string, createdAt: Date) => {
    idOf ??= new Map(ctx.credentials.map((c) => [c.secretId, c.id]));
    const id = idOf.get(secretId);
    const verdict = id === undefined ? undefined : ctx.schedule(id, createdAt, ctx.now());
    return verdict?.due === true && verdict.heldUntil === undefined;
  };
  const unread = view
    ? await cache.fill(
        ctx.store,
        ctx.credentials.flatMap((c) => {
          const listed = view.of(c.secretId);
          const versionId = listed && currentVersionId(listed);
          return versionId ? [{ secretId: c.secretId, versionId }] : [];
        }),
        dueNow,
      )
    : new Map<string, Error>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      const c = ctx.credentials[i] as DueCheckCredential;
      try {
        const listed = view?.of(c.secretId);
        const outcome =
          listed && !unread.has(c.secretId)
            ? await checkListed(ctx, c, listed, cache, finishedSeen)
            : await checkOne(ctx, c, finishedSeen);
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

/** A credential seen in the listing: its stages and marker are there; a due key gets a closer look. */
async function checkListed(
  ctx: DueCheckContext,
  c: DueCheckCredential,
  listed: SecretListing,
  cache: CurrentVersionCache,
  finishedSeen: Map<string, string>,
): Promise<"started" | "resumed" | "held" | "checked"> {
  const staged = stagedVersions(listed);
  const promoted = promotedRotation(staged);
  const inProgress =
    pendingRotation(staged) ?? (promoted && finishedMarker(listed) !== promoted.versionId ? promoted : undefined);
  if (inProgress) return resume(ctx, c, inProgress.versionId);
  const currentId = currentVersionId(listed);
  const createdAt = currentId ? cache.createdAt(c.secretId, currentId) : undefined;
  if (!currentId || !createdAt) return checkOne(ctx, c, finishedSeen);
  const verdict = ctx.schedule(c.id, createdAt, ctx.now());
  recordKeyAge(ctx.metrics, { credential: c.id, vendor: c.vendor }, createdAt, verdict);
  if (!verdict.due) return "checked";
  if (verdict.heldUntil !== undefined) return "held";
  // The closer look: every version (unstaged ones too) makes the rotation's id, and a rotation
  // begun since the listing is resumed rather than started beside it.
  return checkOne(ctx, c, finishedSeen, true);
}

async function resume(ctx: DueCheckContext, c: DueCheckCredential, rotationId: string): Promise<"resumed" | "checked"> {
  const r = await ctx.enqueue({ credentialId: c.id, trigger: "resume", rotationId });
  if (!r.joined)
    ctx.log.info(
      { event: "due-check.resume", credentialId: c.id, rotationId: r.rotationId },
      `resuming rotation of ${c.id} found in the store`,
    );
  return r.joined ? "checked" : "resumed";
}

async function checkOne(
  ctx: DueCheckContext,
  c: DueCheckCredential,
  finishedSeen: Map<string, string>,
  ageRecorded = false,
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
  if (inProgress) return resume(ctx, c, inProgress.versionId);
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
  if (!ageRecorded) recordKeyAge(ctx.metrics, { credential: c.id, vendor: c.vendor }, current.createdAt, verdict);
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
