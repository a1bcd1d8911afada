/**
 * `key-rotator history <credential>`: finished rotations, newest first, and the audit trail of
 * emergency requests refused by their bounds or forced past them. Reads the Redis record; when
 * Redis has lost it, or does not answer, falls back to the store's versions, which show every
 * rotation made.
 */
import { STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS } from "../core/ports.js";
import { RotationHistory } from "../queue/rotation-history-store.js";
import { shownUrl } from "../queue/redis.js";
import { type CliContext, openCli } from "./cli-context.js";
import { EXIT_OK, EXIT_USAGE, type Out, humanDuration, table } from "./output.js";

export async function historyCommand(
  credentialId: string,
  o: { config: string; json?: boolean },
  out: Out,
): Promise<number> {
  const cli = await openCli(o.config, { redis: "optional" });
  try {
    const credential = cli.runtime.credentials.find((c) => c.id === credentialId);
    if (!credential) {
      out.stderr(
        `key-rotator: no credential "${credentialId}" in ${o.config} (known: ${cli.runtime.credentials.map((c) => c.id).join(", ")})`,
      );
      return EXIT_USAGE;
    }
    const history = cli.redis ? new RotationHistory(cli.redis, cli.runtime.settings.queuePrefix) : undefined;
    const records = history ? await history.list(credentialId) : [];
    const audit = history ? await history.auditTrail(credentialId) : [];
    const versions = await cli.store.listVersions(credential.secretId);
    if (o.json) {
      out.stdout(
        JSON.stringify({
          credential: credentialId,
          rotations: records,
          emergencyAudit: audit,
          versions: versions.map((v) => ({ ...v, createdAt: v.createdAt.toISOString() })),
          redis: cli.redis ? "ok" : "unreachable",
        }),
      );
      return EXIT_OK;
    }
    printHistory(cli, out, records);
    if (audit.length > 0) {
      out.stdout(`\nEmergency requests refused or forced (newest first, ${audit.length}):`);
      out.stdout(
        table(
          ["at", "event", "actor", "why refused", "retry after", "reason"],
          audit.map((a) => [
            new Date(a.at).toISOString(),
            a.event === "emergency.refused" ? "refused" : "forced",
            a.actor,
            a.refusedFor,
            a.retryAfterSeconds === undefined ? undefined : `${a.retryAfterSeconds}s`,
            a.reason,
          ]),
        ),
      );
    }
    out.stdout(`\nStore versions of ${credential.secretId} (newest first):`);
    const sorted = [...versions].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    out.stdout(
      table(
        ["version", "created", "stages"],
        sorted.map((v) => [v.versionId, v.createdAt.toISOString(), labelStages(v.stages)]),
      ),
    );
    return EXIT_OK;
  } finally {
    await cli.close();
  }
}

function printHistory(cli: CliContext, out: Out, records: Awaited<ReturnType<RotationHistory["list"]>>) {
  if (!cli.redis) {
    out.stdout(`Rotation records: Redis unreachable at ${shownUrl(cli.redisUrl)}; showing the store's versions only.`);
    return;
  }
  if (records.length === 0) {
    out.stdout("No finished rotations recorded in Redis.");
    return;
  }
  out.stdout(
    table(
      ["finished", "rotation", "result", "trigger", "took", "actor", "reason / outcome"],
      records.map((r) => [
        new Date(r.finishedAt).toISOString(),
        r.rotationId.slice(0, 8),
        r.result,
        r.emergency ? `${r.trigger} (emergency)` : r.trigger,
        humanDuration(r.finishedAt - r.startedAt),
        r.actor,
        [r.reason, r.result === "completed" ? undefined : r.outcome].filter(Boolean).join(" / ") || undefined,
      ]),
    ),
  );
}

function labelStages(stages: string[]): string {
  if (stages.length === 0) return "(none: replaced or rolled back)";
  const order = [STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS];
  return [...stages].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join(", ");
}
