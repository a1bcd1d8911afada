/**
 * `key-rotator plan [--days N] [--json]`: the dry run. What would rotate when over the next N days
 * (due dates, maintenance-window holds, a person needed, what is overdue), and the store writes and
 * vendor calls that costs, from the store's versions and the inventory's rules (rotation-plan.ts).
 *
 * Must not: write anything, anywhere: it reads the store's version list and nothing else, and
 * needs no Redis.
 */
import { describeError } from "../core/errors.js";
import { STAGE_CURRENT } from "../core/ports.js";
import { pendingRotation } from "../rotation/reconcile.js";
import type { RuntimeCredential } from "../config/runtime-config.js";
import { type Plan, type PlanInput, planRotations } from "../schedule/rotation-plan.js";
import { openCli } from "./cli-context.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out, humanDuration, isoTime, jsonError, table } from "./output.js";

export async function planCommand(
  o: { config: string; days: string; json?: boolean },
  out: Out,
  now: () => number = Date.now,
): Promise<number> {
  const days = Number(o.days);
  if (!Number.isFinite(days) || days <= 0 || days > 3_660) {
    const message = `--days must be a number of days from 1 to 3660, got "${o.days}"`;
    out.stderr(`key-rotator plan: ${message}`);
    if (o.json) out.stdout(jsonError("bad_input", message));
    return EXIT_USAGE;
  }
  const cli = await openCli(o.config, { redis: "none" });
  try {
    const { store } = await cli.services();
    const inputs: PlanInput[] = [];
    for (const c of cli.runtime.credentials) {
      const credential = { ...pick(c), schedule: c.schedule };
      try {
        const versions = await store.listVersions(c.secretId);
        const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
        inputs.push({
          credential,
          currentCreatedAt: current?.createdAt,
          currentVersionId: current?.versionId,
          pendingVersionId: pendingRotation(versions)?.versionId,
        });
      } catch (err) {
        inputs.push({ credential, error: describeError(err) });
      }
    }
    const plan = planRotations(inputs, now(), days);
    out.stdout(o.json ? JSON.stringify(planJson(plan, days)) : planText(plan, days));
    return plan.credentials.some((c) => c.note?.startsWith("the store could not be read")) ? EXIT_FAILED : EXIT_OK;
  } finally {
    await cli.close();
  }
}

function pick(c: RuntimeCredential): Omit<PlanInput["credential"], "schedule"> {
  const operator = (c as { operator?: { deadlineMs: number } }).operator;
  return {
    id: c.id,
    vendor: c.vendor,
    secretId: c.secretId,
    ...(operator || c.module.flow === "operator"
      ? { operator: { deadlineMs: operator?.deadlineMs ?? 48 * 3_600_000 } }
      : {}),
  };
}

/** docs/json.md, `plan`. */
export function planJson(plan: Plan, days: number): unknown {
  return {
    now: isoTime(plan.now),
    until: isoTime(plan.until),
    days,
    writesNothing: true,
    credentials: plan.credentials.map((c) => ({
      credential: c.credential,
      vendor: c.vendor,
      secretId: c.secretId,
      currentVersionId: c.currentVersionId ?? null,
      currentCreatedAt: isoTime(c.currentCreatedAt) ?? null,
      inFlight: c.inFlight ?? null,
      operatorNeeded: c.operatorNeeded,
      note: c.note ?? null,
      rotations: c.rotations.map((r) => ({
        startsAt: isoTime(r.startsAt),
        dueAt: isoTime(r.dueAt),
        heldByWindow: r.heldByWindow,
        overdue: r.overdue,
        operatorDeadline: isoTime(r.operatorDeadline) ?? null,
      })),
    })),
    total: plan.total,
  };
}

export function planText(plan: Plan, days: number): string {
  const rows = plan.credentials.map((c) => {
    const first = c.rotations[0];
    const notes = [
      c.inFlight ? `rotation ${c.inFlight.slice(0, 8)} in flight` : undefined,
      first?.overdue ? `OVERDUE since ${isoTime(first.dueAt)}` : undefined,
      first?.heldByWindow ? `held by its window until ${isoTime(first.startsAt)}` : undefined,
      c.operatorNeeded && first ? `a person: new pair by ${isoTime(first.operatorDeadline)}` : undefined,
      c.note,
    ].filter(Boolean);
    return [
      c.credential,
      c.vendor,
      c.currentCreatedAt === undefined ? undefined : `${humanDuration(plan.now - c.currentCreatedAt)} old`,
      first ? isoTime(first.startsAt) : "not within the period",
      c.rotations.length,
      notes.join("; ") || undefined,
    ];
  });
  const t = plan.total;
  return [
    `Plan for the next ${days} days (${isoTime(plan.now)} to ${isoTime(plan.until)}); nothing was changed.`,
    table(["credential", "vendor", "key", "next rotation starts", "rotations", "notes"], rows),
    "",
    `${t.rotations} rotation(s): ${t.storeWrites} store writes (PutSecretValue, UpdateSecretVersionStage) + ${t.storeTagWrites} tag writes, ${t.vendorCalls} vendor calls${t.personActions ? `, ${t.personActions} things for a person to do in a vendor dashboard` : ""}.`,
  ].join("\n");
}
