/**
 * `key-rotator rotate --emergency --vendor <id> --reason <text> [--force]`: the breach drill
 * (src/queue/breach-drill.ts). Declares the vendor breached: every credential of that vendor in
 * the inventory gets an emergency rotation on the queue, ahead of scheduled work and paced by the
 * store's write budget; one audit line for the drill. Prints its progress while it queues, then
 * what became of each credential (queued, joined, skipped for its cooldown, failed).
 *
 * Must not: run a rotation in this process (the workers do, at the write budget's pace), or take
 * a vendor the inventory has no credential of (a typo must not look like a drill that did nothing).
 */
import type { DrillReport, DrillRotation } from "../queue/breach-drill.js";
import { cliActor } from "./actor.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export interface BreachDrillOptions {
  config: string;
  vendor: string;
  emergency?: boolean;
  direct?: boolean;
  wait?: boolean;
  reason?: string;
  force?: boolean;
  actor?: string;
  json?: boolean;
}

/** What is wrong with the options of a drill, or undefined. */
function usageProblem(credential: string | undefined, o: BreachDrillOptions): string | undefined {
  if (credential !== undefined) return `give a credential or --vendor, not both (got "${credential}" and --vendor)`;
  if (!o.emergency) return "--vendor is only for --emergency (a breach drill rotates every key of the vendor now)";
  if (o.direct) return "--vendor is not for --direct: a drill is queued, and the workers pace it by the write budget";
  if (o.wait)
    return "--vendor does not take --wait: watch the drill with key-rotator status, or the rotations metrics (docs/runbook.md)";
  if (!o.reason?.trim()) return "--vendor needs --reason <text>: a breach drill goes to the audit trail";
  return undefined;
}

export async function breachDrillCommand(
  credential: string | undefined,
  o: BreachDrillOptions,
  out: Out,
): Promise<number> {
  const problem = usageProblem(credential, o);
  if (problem) {
    out.stderr(`key-rotator rotate: ${problem}`);
    return EXIT_USAGE;
  }
  const actor = cliActor(o.actor);
  const [{ openCli }, { EmergencyLimits }, { declareBreach }, { auditLog }] = await Promise.all([
    import("./cli-context.js"),
    import("../queue/emergency-limits.js"),
    import("../queue/breach-drill.js"),
    import("../audit/audit-log.js"),
  ]);
  const cli = await openCli(o.config, { redis: "required" });
  try {
    const credentialIds = cli.runtime.credentials.filter((c) => c.vendor === o.vendor).map((c) => c.id);
    if (credentialIds.length === 0) {
      const vendors = [...new Set(cli.runtime.credentials.map((c) => c.vendor))].sort().join(", ");
      out.stderr(
        `key-rotator rotate: no credential of vendor "${o.vendor}" in ${o.config} (its vendors: ${vendors || "none"})`,
      );
      return EXIT_USAGE;
    }
    const { queue, redis } = cli;
    if (!queue || !redis) throw new Error("Redis is required");
    const say = (line: string) => void (o.json ? undefined : out.stdout(line));
    say(`breach drill: ${o.vendor}, ${credentialIds.length} credentials, emergency rotations ahead of scheduled work`);
    const started = Date.now();
    const step = Math.max(1, Math.ceil(credentialIds.length / 10));
    const report = await declareBreach(
      { vendor: o.vendor, credentialIds, reason: o.reason?.trim() ?? "", actor, force: o.force ?? false },
      {
        queue,
        redis,
        limits: new EmergencyLimits(redis, cli.runtime.settings.queuePrefix, cli.runtime.settings.emergency),
        audit: auditLog(),
        progress: (done, of) => {
          if (done % step === 0 || done === of) say(`  ${done}/${of} asked`);
        },
      },
    );
    const counts = countOf(report.rotations);
    if (o.json)
      out.stdout(
        JSON.stringify({
          drillId: report.drillId,
          vendor: report.vendor,
          credentials: credentialIds.length,
          ...counts,
          actor,
          reason: o.reason?.trim(),
          force: o.force ?? false,
          seconds: (Date.now() - started) / 1000,
          rotations: report.rotations,
        }),
      );
    else out.stdout(summary(report, counts));
    return counts.failed > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await cli.close();
  }
}

function countOf(rotations: DrillRotation[]): Record<DrillRotation["result"], number> {
  const counts = { queued: 0, joined: 0, skipped: 0, failed: 0 };
  for (const r of rotations) counts[r.result]++;
  return counts;
}

function summary(report: DrillReport, counts: Record<DrillRotation["result"], number>): string {
  const lines = [
    `drill ${report.drillId}: ${counts.queued} emergency rotations queued, ${counts.joined} joined a rotation in flight, ${counts.skipped} skipped, ${counts.failed} failed`,
  ];
  if (counts.skipped > 0)
    lines.push(
      `  skipped: an emergency rotation within the cooldown (this drill declared before?); --force rotates them again`,
    );
  for (const r of report.rotations.filter((x) => x.result === "failed").slice(0, 10))
    if (r.result === "failed") lines.push(`  failed: ${r.credential}: ${r.error}`);
  if (counts.failed > 0) lines.push("  declare the drill again to ask for the failed ones (the others are skipped)");
  lines.push(
    `  watch: key-rotator status --config <file>, or key_rotator_rotations_total{vendor="${report.vendor}",trigger="emergency"}`,
  );
  return lines.join("\n");
}
