/**
 * `key-rotator status [credential]`: per credential, the key's age (from the store), when it is
 * next due, the rotation step in flight (from the queue), whether it waits on a person (operator flow:
 * for a new pair, or for the old pair's revocation) since when and until which deadline, and the
 * last result. Works with Redis down: what only Redis knows shows as unknown.
 */
import { STAGE_CURRENT } from "../core/ports.js";
import { describeError } from "../core/errors.js";
import { pendingRotation } from "../rotation/reconcile.js";
import { type RotationState, Step } from "../rotation/rotation-state.js";
import { RotationHistory } from "../queue/rotation-history-store.js";
import { usageBaseline } from "../jobs/usage-watcher.js";
import { shownUrl } from "../queue/redis.js";
import { dedupIdFor } from "../queue/rotation-queue.js";
import { openCli } from "./cli-context.js";
import { RedisOpenAlertStore } from "../alerts/redis-open-alert-store.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out, humanDuration, table, isoTime } from "./output.js";

export interface CredentialStatus {
  credential: string;
  vendor: string;
  secretId: string;
  currentVersionId?: string | null;
  /** When AWSCURRENT's version was made (ISO 8601). */
  currentCreatedAt?: string | null;
  /** Due, and held by its maintenance window until then (ISO 8601). */
  heldByWindowUntil?: string | null;
  /** Health checks whose alert is open (Redis's open alerts), with when it was last sent. */
  health?: { failing: Array<{ check: string; since: string | null }> };
  /** Baseline use per minute; undefined without samples; "not observable" vendors have none. */
  usagePerMinute?: number;
  keyAgeMs?: number;
  dueAt?: string;
  overdue?: boolean;
  inFlight?: {
    rotationId: string;
    step: string;
    state: string;
    emergency: boolean;
    graceUntil?: string | null;
  } | null;
  /** Operator-assisted: the rotation in flight waits on a person. */
  awaitingOperator?: AwaitingOperator;
  lastResult?: { result: string; finishedAt: string; rotationId: string } | null;
  /** Baseline use per minute, or "not observable" where the vendor gives no signal. */
  usage?: string;
  error?: string;
}

export interface AwaitingOperator {
  for: "new-pair" | "old-pair-revocation";
  /** When the person was asked (ISO 8601). */
  since: string;
  /** When the wait escalates (ISO 8601). */
  deadline: string;
  overdue: boolean;
}

const WAITED_FOR = { [Step.AwaitPair]: "new-pair", [Step.AwaitRevoke]: "old-pair-revocation" } as const;
const WAITED_FOR_TEXT = { "new-pair": "a new pair", "old-pair-revocation": "the old pair's revocation" } as const;

/** The person-shaped wait of a rotation's saved state, if it is in one. */
export function awaitingOperator(data: RotationState, deadlineMs: number, now: number): AwaitingOperator | undefined {
  if ((data.step !== Step.AwaitPair && data.step !== Step.AwaitRevoke) || data.askedAt === undefined) return undefined;
  const deadline = data.askedAt + deadlineMs;
  return {
    for: WAITED_FOR[data.step],
    since: new Date(data.askedAt).toISOString(),
    deadline: new Date(deadline).toISOString(),
    overdue: now >= deadline,
  };
}

export async function statusCommand(
  credentialId: string | undefined,
  o: { config: string; json?: boolean },
  out: Out,
): Promise<number> {
  const cli = await openCli(o.config, { redis: "optional" });
  try {
    const { store } = await cli.services();
    const chosen = credentialId
      ? cli.runtime.credentials.filter((c) => c.id === credentialId)
      : cli.runtime.credentials;
    if (chosen.length === 0) {
      out.stderr(`key-rotator: no credential "${credentialId ?? ""}" in ${o.config}`);
      return EXIT_USAGE;
    }
    const history = cli.redis ? new RotationHistory(cli.redis, cli.runtime.settings.queuePrefix) : undefined;
    const alerts = cli.redis ? new RedisOpenAlertStore(cli.redis, cli.runtime.settings.queuePrefix) : undefined;
    const open = await alerts?.keys().catch(() => undefined);
    const now = Date.now();
    const rows: CredentialStatus[] = [];
    for (const c of chosen) {
      const row: CredentialStatus = { credential: c.id, vendor: c.vendor, secretId: c.secretId };
      try {
        const versions = await store.listVersions(c.secretId);
        const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
        row.currentVersionId = current?.versionId ?? null;
        row.currentCreatedAt = current ? current.createdAt.toISOString() : null;
        row.heldByWindowUntil = null;
        if (current) {
          row.keyAgeMs = now - current.createdAt.getTime();
          const verdict = c.schedule(current.createdAt, now);
          row.dueAt = new Date(verdict.dueAt).toISOString();
          row.overdue = verdict.dueAt < now;
          if (verdict.heldUntil !== undefined) row.heldByWindowUntil = new Date(verdict.heldUntil).toISOString();
        }
        if (open && alerts) {
          const failing = [...open].filter((k) => k.startsWith(`${c.id}/health-`)).sort();
          row.health = {
            failing: await Promise.all(
              failing.map(async (k) => ({
                check: k.slice(c.id.length + 1),
                since: isoTime((await alerts.get(k).catch(() => undefined))?.at) ?? null,
              })),
            ),
          };
        }
        const pending = pendingRotation(versions);
        if (cli.queue) {
          const jobId = await cli.queue.getDeduplicationJobId(dedupIdFor(c.id));
          const job = jobId ? await cli.queue.getJob(jobId) : undefined;
          const state = job ? await job.getState() : undefined;
          const data = job?.data as RotationState | undefined;
          row.inFlight =
            data && state && !["completed", "failed"].includes(state)
              ? {
                  rotationId: data.rotationId,
                  step: data.step,
                  state,
                  emergency: data.emergency,
                  graceUntil: isoTime(data.graceUntil) ?? null,
                }
              : null;
          const waiting =
            row.inFlight && data && c.operator ? awaitingOperator(data, c.operator.deadlineMs, now) : undefined;
          if (waiting) row.awaitingOperator = waiting;
        } else if (pending) {
          row.inFlight = {
            rotationId: pending.versionId,
            step: "verify or later (from the store)",
            state: "unknown",
            emergency: false,
          };
        }
        if (!c.usage) row.usage = "not observable";
        else if (cli.redis) {
          const mean = await usageBaseline(cli.redis, cli.runtime.settings.queuePrefix, c.id);
          row.usage = mean === undefined ? "no samples yet" : `~${Math.round(mean)}/min`;
          if (mean !== undefined) row.usagePerMinute = Math.round(mean);
        }
        const last = history ? (await history.list(c.id, 1))[0] : undefined;
        row.lastResult = last
          ? { result: last.result, finishedAt: new Date(last.finishedAt).toISOString(), rotationId: last.rotationId }
          : history
            ? null
            : undefined;
      } catch (err) {
        row.error = describeError(err);
      }
      rows.push(row);
    }
    if (o.json)
      out.stdout(
        JSON.stringify({
          redis: cli.redis ? "ok" : "unreachable",
          at: isoTime(now),
          credentials: rows.map(statusJson),
        }),
      );
    else {
      if (!cli.redis)
        out.stdout(`(Redis unreachable at ${shownUrl(cli.redisUrl)}: steps in flight and last results unknown)`);
      out.stdout(
        table(
          ["credential", "vendor", "key age", "next due", "in flight", "last result", "health", "usage"],
          rows.map((r) => [
            r.credential,
            r.vendor,
            r.error ? `error: ${r.error}` : r.keyAgeMs === undefined ? "no current key" : humanDuration(r.keyAgeMs),
            r.dueAt
              ? `${r.dueAt}${r.overdue ? " (OVERDUE)" : ""}${r.heldByWindowUntil ? `, held by its window until ${r.heldByWindowUntil}` : ""}`
              : undefined,
            r.inFlight
              ? `${r.inFlight.step} (${r.inFlight.state}${r.inFlight.emergency ? ", emergency" : ""})${r.awaitingOperator ? `: ${describeWait(r.awaitingOperator)}` : ""}`
              : r.inFlight === null
                ? "none"
                : "unknown",
            r.lastResult
              ? `${r.lastResult.result} ${r.lastResult.finishedAt}`
              : r.lastResult === null
                ? "none"
                : "unknown",
            r.health
              ? r.health.failing.length === 0
                ? "ok"
                : `FAILING: ${r.health.failing.map((f) => f.check.replace(/^health-/, "")).join(", ")}`
              : "unknown",
            r.usage,
          ]),
        ),
      );
    }
    return rows.some((r) => r.error) ? EXIT_FAILED : EXIT_OK;
  } finally {
    await cli.close();
  }
}

function describeWait(w: AwaitingOperator): string {
  return `awaiting operator (${WAITED_FOR_TEXT[w.for]}) since ${w.since}, deadline ${w.deadline}${w.overdue ? " (OVERDUE)" : ""}`;
}

/** docs/json.md, `status`: usage as a number, and null where a value is absent. */
function statusJson(r: CredentialStatus): Record<string, unknown> {
  const { usage, usagePerMinute, ...rest } = r;
  return {
    ...rest,
    awaitingOperator: r.awaitingOperator ?? null,
    usage: { observable: usage !== "not observable", perMinute: usagePerMinute ?? null },
  };
}
