/**
 * The dry run behind `key-rotator plan`: for each credential, from when its current key was made
 * (the store's word) and its due rule, the rotations that would start in the next N days, when,
 * whether a maintenance window holds one back, whether a person is needed, and what is overdue;
 * and the store writes and vendor calls that period costs. Pure: the caller reads the store and
 * passes the clock in.
 *
 * Must not: read or write anything, or guess a time it cannot derive (a credential without a
 * current key plans nothing and says so).
 */
import type { DueDecision } from "./cadence.js";

export interface PlanCredential {
  id: string;
  vendor: string;
  secretId: string;
  /** The operator-assisted flow (a person makes and revokes pairs in the vendor's dashboard). */
  operator?: { deadlineMs: number } | undefined;
  schedule(keyCreatedAt: Date, now: number): DueDecision;
}

export interface PlanInput {
  credential: PlanCredential;
  /** When AWSCURRENT's version was made; undefined when the secret has no current version. */
  currentCreatedAt?: Date | undefined;
  currentVersionId?: string | undefined;
  /** A rotation already under way in the store (a pending version that is not current). */
  pendingVersionId?: string | undefined;
  /** The store could not be read: nothing is planned for this credential. */
  error?: string | undefined;
}

export interface PlannedRotation {
  /** When it would start (epoch ms): the due time, or the window's opening when one holds it. */
  startsAt: number;
  dueAt: number;
  /** Due but held by the maintenance window until startsAt. */
  heldByWindow: boolean;
  /** Due before now: the worker would start it at its next due check. */
  overdue: boolean;
  /** Operator flow: a person must hand in a new pair, by this time before the alert escalates. */
  operatorDeadline?: number;
}

export interface CredentialPlan {
  credential: string;
  vendor: string;
  secretId: string;
  currentVersionId?: string;
  currentCreatedAt?: number;
  inFlight?: string;
  operatorNeeded: boolean;
  rotations: PlannedRotation[];
  note?: string;
}

export interface PlanCost {
  rotations: number;
  /** PutSecretValue + UpdateSecretVersionStage: the calls that share the 50/s regional quota. */
  storeWrites: number;
  /** The finished-marker tag per rotation: TagResource, a quota of its own. */
  storeTagWrites: number;
  vendorCalls: number;
  /** Operator flow: things a person does in the vendor's dashboard (make a pair, revoke the old one). */
  personActions: number;
}

export interface Plan {
  now: number;
  until: number;
  credentials: CredentialPlan[];
  total: PlanCost;
}

/** Per rotation: put pending and move current; the tag is counted apart. */
const STORE_WRITES = 2;
/**
 * Vendor calls per rotation. Key API: create, verify, revoke, confirm (the old key refused).
 * Operator: verify at submit and again in the worker, and confirm the old pair refused.
 */
const VENDOR_CALLS = { keyApi: 4, operator: 3 } as const;
/** A rotation per credential at most this often in a plan: a cadence of minutes would list forever. */
const MAX_PER_CREDENTIAL = 50;

export function planRotations(inputs: PlanInput[], now: number, days: number): Plan {
  const until = now + days * 86_400_000;
  const credentials = inputs.map((input) => planOne(input, now, until));
  const total: PlanCost = { rotations: 0, storeWrites: 0, storeTagWrites: 0, vendorCalls: 0, personActions: 0 };
  for (const c of credentials) {
    const n = c.rotations.length;
    total.rotations += n;
    total.storeWrites += n * STORE_WRITES;
    total.storeTagWrites += n;
    total.vendorCalls += n * (c.operatorNeeded ? VENDOR_CALLS.operator : VENDOR_CALLS.keyApi);
    total.personActions += c.operatorNeeded ? n * 2 : 0;
  }
  return { now, until, credentials, total };
}

function planOne(input: PlanInput, now: number, until: number): CredentialPlan {
  const { credential: c } = input;
  const plan: CredentialPlan = {
    credential: c.id,
    vendor: c.vendor,
    secretId: c.secretId,
    operatorNeeded: c.operator !== undefined,
    rotations: [],
    ...(input.currentVersionId ? { currentVersionId: input.currentVersionId } : {}),
    ...(input.currentCreatedAt ? { currentCreatedAt: input.currentCreatedAt.getTime() } : {}),
    ...(input.pendingVersionId ? { inFlight: input.pendingVersionId } : {}),
  };
  if (input.error) return { ...plan, note: `the store could not be read: ${input.error}` };
  if (!input.currentCreatedAt) return { ...plan, note: "no current version in the store: nothing to plan from" };
  let created = input.currentCreatedAt;
  let at = now;
  while (plan.rotations.length < MAX_PER_CREDENTIAL) {
    const ahead = c.schedule(created, at);
    // Ask the rule again at the due time: only then does it say whether a window holds it back.
    const verdict = ahead.due ? ahead : c.schedule(created, Math.max(ahead.dueAt, at));
    const startsAt = verdict.heldUntil ?? Math.max(verdict.dueAt, at);
    if (startsAt > until) break;
    plan.rotations.push({
      startsAt,
      dueAt: verdict.dueAt,
      heldByWindow: verdict.heldUntil !== undefined,
      overdue: verdict.dueAt < now,
      ...(c.operator ? { operatorDeadline: startsAt + c.operator.deadlineMs } : {}),
    });
    // The rotation makes a key at startsAt; the next one is due from there. A rule that would
    // not move forward (a bad clock, a zero cadence) must not loop.
    if (startsAt <= created.getTime()) break;
    created = new Date(startsAt);
    at = startsAt + 1;
  }
  return plan;
}
