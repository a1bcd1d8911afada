/**
 * What a rotation remembers between steps: ids, timestamps and the step reached. It is saved
 * in BullMQ job data after every step, so it must never hold a secret value. The store stays the
 * source of truth: when this state is lost, `reconcile` rebuilds enough of it from the stages.
 */
import { InvalidStateError } from "../core/errors.js";

export enum Step {
  Create = "create",
  Verify = "verify",
  Promote = "promote",
  Grace = "grace",
  Revoke = "revoke",
  Confirm = "confirm",
  Done = "done",
  RolledBack = "rolled-back",
  /** Operator-assisted (JustCall): waiting for a person to submit a new pair. */
  AwaitPair = "await-pair",
  /** Operator-assisted (JustCall): waiting for a person to revoke the old pair in the dashboard. */
  AwaitRevoke = "await-revoke",
}

export type Trigger = "schedule" | "manual" | "emergency" | "resume" | "admin";

export interface RotationState {
  credentialId: string;
  /** Also the ClientRequestToken and VersionId of the store version this rotation writes. */
  rotationId: string;
  step: Step;
  emergency: boolean;
  trigger: Trigger;
  actor?: string;
  reason?: string;
  startedAt: number;
  /**
   * Epoch ms of the latest emergency request this rotation answers: it is done only when every
   * key live at that moment is revoked and the current key was made after it (DESIGN.md rule 10).
   */
  emergencyAt?: number;
  /** The AWSCURRENT version when the rotation began (becomes AWSPREVIOUS at promote). A hint for promote. */
  oldVersionId?: string;
  /** For the record only: the vendor's id of the key being replaced. What is revoked comes from the store. */
  oldKeyId?: string;
  /** For the record only: the vendor's id of the key this rotation made. */
  newKeyId?: string;
  /** True once the vendor create call has been made, so a retry looks for a half-made key. */
  createAttempted?: boolean;
  /** Epoch ms just before the vendor create call: the new key is no older than this. */
  createIssuedAt?: number;
  /**
   * Held back for the emergency lane of the process that added it: that process runs it now, and
   * an emergency joining it leaves a flag rather than waking it (which would hand it to a second
   * runner). Cleared when the lane hands the job to the queue, or a queue worker takes it.
   */
  heldByLane?: boolean;
  /** Set when the state was rebuilt from the store: the revoke may have happened already, so look first. */
  verifyBeforeRevoke?: boolean;
  /** Epoch ms since when revocation has waited for the secret's replicas (an alert pages past a bound). */
  replicaWaitSince?: number;
  /** Epoch ms when the grace period ends. */
  graceUntil?: number;
  /** How long revocation has been deferred past grace because the old key was still in use. */
  graceExtendedMs?: number;
  /** Epoch ms of each finished step, for history and step durations. */
  stepTimes?: Partial<Record<Step, number>>;
  /** A short reason when the rotation ended in rollback or failure. */
  outcome?: string;
  /** Operator-assisted: when the person was asked (for the current wait), last reminded, escalated. */
  askedAt?: number;
  remindedAt?: number;
  escalated?: boolean;
  /** Operator-assisted: the version the submitted pair was staged as. */
  pendingVersionId?: string;
  /** Single-pair vendors: when the old pair was first seen refused, and how long no key worked. */
  oldRefusedAt?: number;
  downtimeMs?: number;
}

/** What one attempt of a flow ends in: finished (done or rolled back), or wait until a time. */
export type RotationResult =
  { kind: "finished"; state: RotationState } | { kind: "wait"; until: number; reason: string; state: RotationState };

/** Saves a rotation's state (job data, or memory for `--direct`); called after every step. */
export type Save = (state: RotationState) => Promise<void>;

/**
 * Every step of both flows in one order, the order of the table in DESIGN.md: the key-API flow
 * runs create, verify, promote, grace, revoke, confirm; the operator flow await-pair, verify,
 * promote, await-revoke. A finished rotation (done, rolled back) is past every step.
 */
export const STEP_ORDER: readonly Step[] = [
  Step.Create,
  Step.AwaitPair,
  Step.Verify,
  Step.Promote,
  Step.Grace,
  Step.AwaitRevoke,
  Step.Revoke,
  Step.Confirm,
  Step.Done,
  Step.RolledBack,
];

/** Whether step `a` comes before step `b` (a step the order does not know throws: forged state). */
export function isBefore(a: Step, b: Step): boolean {
  return positionOf(a) < positionOf(b);
}

function positionOf(step: Step): number {
  const at = STEP_ORDER.indexOf(step);
  if (at < 0) throw new InvalidStateError(`unknown rotation step "${String(step)}"`);
  // Done and rolled back are both the end: neither is before the other.
  return Math.min(at, STEP_ORDER.indexOf(Step.Done));
}

export function isFinished(step: Step): boolean {
  return step === Step.Done || step === Step.RolledBack;
}
