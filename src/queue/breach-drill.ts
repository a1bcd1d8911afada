/**
 * The breach drill: a person declares one vendor breached, and every credential of that vendor
 * gets an emergency rotation at once (DESIGN.md rule 10 for each of them). It is no second path:
 * each rotation is the queue's ordinary emergency job (enqueueRotation), so it runs ahead of
 * scheduled work by the job priority every emergency has, joins a rotation in flight the way a
 * single emergency does, and is paced by the store's write budget (BullMQ's limiter and the
 * per-region budget, as every queued rotation). It never takes the emergency lane: the lane runs
 * a handful of rotations in one process, a drill may be thousands.
 *
 * Bounds (emergency-limits.ts):
 * - each credential's emergency cooldown holds: a credential that had an emergency rotation within
 *   the cooldown (this drill declared a moment ago, say) is skipped, so declaring the same breach
 *   twice does not rotate twice. `force` rotates those again too (the new keys leaked as well);
 * - the fleet's cap of emergencies per minute does not apply and the drill's rotations do not
 *   count against it: the cap bounds what people start one at a time; a drill is one deliberate
 *   declaration with a reason, audited once, and its pace is the write budget's.
 *
 * Must not: audit each credential (one `breach.declared` line for the drill; each rotation's own
 * lines carry the drill id in their reason), or put anything but ids and the reason in job data.
 */
import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AuditSink } from "../audit/audit-log.js";
import { parseActor } from "../audit/audit-log.js";
import { describeError } from "../core/errors.js";
import type { EmergencyLimits } from "./emergency-limits.js";
import { enqueueRotation } from "./rotation-queue.js";

export interface BreachDeclaration {
  vendor: string;
  /** The vendor's credentials, as the inventory lists them. */
  credentialIds: readonly string[];
  reason: string;
  /** `via:name@address` (audit-log.ts actorString). */
  actor: string;
  /** Rotate credentials within their emergency cooldown too. */
  force: boolean;
}

/** What became of one credential: a new emergency rotation, one in flight joined, or skipped for its cooldown. */
export type DrillRotation =
  | { credential: string; result: "queued" | "joined"; rotationId: string; jobId: string }
  | { credential: string; result: "skipped"; retryAfterSeconds: number }
  | { credential: string; result: "failed"; error: string };

export interface DrillReport {
  drillId: string;
  vendor: string;
  rotations: DrillRotation[];
}

export interface DrillPorts {
  queue: Queue;
  redis: Redis;
  limits: EmergencyLimits;
  audit: AuditSink;
  /** Called after each credential, with how many are done. */
  progress?(done: number, of: number): void;
}

/** Requests in flight at once: enough to hide Redis's round trip, few enough not to crowd out the workers. */
const IN_FLIGHT = 32;

export async function declareBreach(d: BreachDeclaration, ports: DrillPorts): Promise<DrillReport> {
  const drillId = randomUUID();
  ports.audit.emit({
    event: "breach.declared",
    drillId,
    vendor: d.vendor,
    credentials: d.credentialIds.length,
    actor: parseActor(d.actor),
    reason: d.reason,
    emergency: true,
    force: d.force,
  });
  const reason = `breach of ${d.vendor} (drill ${drillId}): ${d.reason}`;
  const rotations: DrillRotation[] = new Array<DrillRotation>(d.credentialIds.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    for (let i = next++; i < d.credentialIds.length; i = next++) {
      const credential = d.credentialIds[i] as string;
      rotations[i] = await rotateOne(credential, { ...d, reason }, ports);
      ports.progress?.(++done, d.credentialIds.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, d.credentialIds.length) }, lane));
  return { drillId, vendor: d.vendor, rotations };
}

async function rotateOne(credential: string, d: BreachDeclaration, ports: DrillPorts): Promise<DrillRotation> {
  try {
    const admission = await ports.limits.admit(credential, d.force, false);
    if (!admission.admitted)
      return {
        credential,
        result: "skipped",
        retryAfterSeconds: Math.max(1, Math.ceil(admission.retryAfterMs / 1000)),
      };
    try {
      const r = await enqueueRotation(ports.queue, ports.redis, {
        credentialId: credential,
        trigger: "emergency",
        emergency: true,
        actor: d.actor,
        reason: d.reason,
      });
      return { credential, result: r.joined ? "joined" : "queued", rotationId: r.rotationId, jobId: r.jobId };
    } catch (err) {
      // Nothing was started: declaring the drill again must not skip this credential.
      await ports.limits.refund(credential, admission).catch(() => undefined);
      throw err;
    }
  } catch (err) {
    return { credential, result: "failed", error: describeError(err) };
  }
}
