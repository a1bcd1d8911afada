/**
 * `key-rotator history <credential>`: finished rotations, newest first, the audit trail (who asked
 * for what and why, refused and forced emergencies among it), and the secret's versions. Reads the
 * Redis record; a rotation Redis does not have (lost with Redis, pushed out by its cap, or Redis
 * down) is rebuilt from the store's versions, which show every rotation made: each version a
 * rotation wrote carries its id. The audit stream outside Redis (docs/audit.md) is the full record.
 *
 * Text for people has its control characters escaped: a reason or an actor is anyone's text.
 */
import { STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, type VersionInfo } from "../core/ports.js";
import { type AuditRecord, type HistoryRecord, RotationHistory } from "../queue/rotation-history-store.js";
import { shownUrl } from "../queue/redis.js";
import { openCli } from "./cli-context.js";
import { EXIT_OK, EXIT_USAGE, type Out, escapeControl, humanDuration, isoTime, jsonError, table } from "./output.js";

/** One row of the history: from Redis's record, or rebuilt from a store version. */
export interface HistoryRow {
  rotationId: string;
  source: "redis" | "store";
  result?: string;
  trigger?: string;
  emergency?: boolean;
  actor?: string;
  reason?: string;
  outcome?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Store rows: when the version was made, and where its stages are now. */
  versionCreatedAt?: string;
  stages?: string[];
  stepTimes?: Record<string, string>;
}

export async function historyCommand(
  credentialId: string,
  o: { config: string; json?: boolean },
  out: Out,
): Promise<number> {
  const cli = await openCli(o.config, { redis: "optional" });
  try {
    const { store } = await cli.services();
    const credential = cli.runtime.credentials.find((c) => c.id === credentialId);
    if (!credential) {
      const message = `no credential "${credentialId}" in ${o.config} (known: ${cli.runtime.credentials.map((c) => c.id).join(", ")})`;
      out.stderr(`key-rotator history: ${message}`);
      if (o.json) out.stdout(jsonError("bad_input", message));
      return EXIT_USAGE;
    }
    const history = cli.redis ? new RotationHistory(cli.redis, cli.runtime.settings.queuePrefix) : undefined;
    const records = history ? await history.list(credentialId) : [];
    const audit = history ? await history.auditTrail(credentialId) : [];
    const versions = [...(await store.listVersions(credential.secretId))].sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime(),
    );
    const rows = historyRows(records, versions);
    if (o.json) {
      out.stdout(
        JSON.stringify({
          credential: credentialId,
          secretId: credential.secretId,
          redis: cli.redis ? "ok" : "unreachable",
          order: "newest-first",
          rotations: rows,
          audit: audit.map(auditJson),
          versions: versions.map((v) => ({
            versionId: v.versionId,
            createdAt: v.createdAt.toISOString(),
            stages: v.stages,
          })),
        }),
      );
      return EXIT_OK;
    }
    if (!cli.redis)
      out.stdout(`Redis unreachable at ${shownUrl(cli.redisUrl)}: rotations rebuilt from the store's versions only.`);
    out.stdout(rows.length === 0 ? "No rotations recorded." : historyTable(rows));
    if (audit.length > 0) {
      out.stdout(`\nAudit trail (newest first, ${audit.length}):`);
      out.stdout(
        table(
          ["at", "event", "actor", "rotation", "refused for", "retry after", "reason"],
          audit.map((a) => [
            isoTime(a.at),
            a.event + (a.direct ? " (--direct)" : ""),
            a.actor,
            a.rotationId?.slice(0, 8),
            a.refusedFor,
            a.retryAfterSeconds === undefined ? undefined : `${a.retryAfterSeconds}s`,
            a.reason,
          ]),
        ),
      );
    }
    out.stdout(`\nStore versions of ${escapeControl(credential.secretId)} (newest first):`);
    out.stdout(
      table(
        ["version", "created", "stages"],
        versions.map((v) => [v.versionId, v.createdAt.toISOString(), labelStages(v.stages)]),
      ),
    );
    return EXIT_OK;
  } finally {
    await cli.close();
  }
}

/**
 * Redis's records and, for every store version Redis has no record of, a row rebuilt from it
 * (its version id is its rotation's id), newest first. The oldest version is the key the
 * credential was adopted with, not a rotation.
 */
export function historyRows(records: HistoryRecord[], versions: VersionInfo[]): HistoryRow[] {
  const known = new Set(records.map((r) => r.rotationId));
  const fromRedis = records.map((r): HistoryRow & { sortAt: number } => ({
    sortAt: r.finishedAt,
    rotationId: r.rotationId,
    source: "redis",
    result: r.result,
    trigger: r.trigger,
    emergency: r.emergency,
    ...(r.actor ? { actor: r.actor } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.outcome ? { outcome: r.outcome } : {}),
    startedAt: isoTime(r.startedAt) as string,
    finishedAt: isoTime(r.finishedAt) as string,
    ...(r.stepTimes
      ? {
          stepTimes: Object.fromEntries(
            Object.entries(r.stepTimes).flatMap(([k, v]) => (typeof v === "number" ? [[k, isoTime(v) as string]] : [])),
          ),
        }
      : {}),
  }));
  const oldest = versions.reduce<VersionInfo | undefined>(
    (o, v) => (o === undefined || v.createdAt < o.createdAt ? v : o),
    undefined,
  );
  const fromStore = versions
    .filter((v) => !known.has(v.versionId) && v !== oldest)
    .map((v): HistoryRow & { sortAt: number } => ({
      sortAt: v.createdAt.getTime(),
      rotationId: v.versionId,
      source: "store",
      result: storeResult(v.stages),
      versionCreatedAt: v.createdAt.toISOString(),
      stages: v.stages,
    }));
  return [...fromRedis, ...fromStore].sort((a, b) => b.sortAt - a.sortAt).map(({ sortAt: _s, ...row }) => row);
}

/** What a version's stages say of its rotation, as far as the store can tell. */
function storeResult(stages: string[]): string {
  if (stages.includes(STAGE_CURRENT)) return "current";
  if (stages.includes(STAGE_PENDING)) return "in flight";
  if (stages.includes(STAGE_PREVIOUS)) return "replaced (previous)";
  return "replaced or rolled back";
}

function historyTable(rows: HistoryRow[]): string {
  return table(
    ["finished", "rotation", "result", "trigger", "took", "actor", "reason / outcome"],
    rows.map((r) => [
      r.finishedAt ?? (r.versionCreatedAt ? `${r.versionCreatedAt} (made)` : undefined),
      r.rotationId.slice(0, 8),
      r.source === "store" ? `${r.result} (from the store)` : r.result,
      r.trigger ? (r.emergency ? `${r.trigger} (emergency)` : r.trigger) : undefined,
      r.startedAt && r.finishedAt ? humanDuration(Date.parse(r.finishedAt) - Date.parse(r.startedAt)) : undefined,
      r.actor,
      [r.reason, r.result === "completed" ? undefined : r.outcome].filter(Boolean).join(" / ") || undefined,
    ]),
  );
}

function auditJson(a: AuditRecord): Record<string, unknown> {
  return { ...a, at: isoTime(a.at) };
}

function labelStages(stages: string[]): string {
  if (stages.length === 0) return "(none: replaced or rolled back)";
  const order = [STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS];
  return [...stages].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join(", ");
}
