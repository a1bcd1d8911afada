/**
 * The rotation for vendors without a key API, where a person makes and revokes pairs
 * in the vendor's dashboard. The same machine as rotation.ts with a person in two places:
 *
 *   await-pair -> verify -> promote -> await-revoke -> done
 *
 * await-pair: alert "a new pair is needed" with instructions, remind on a cadence, escalate past
 * the deadline; `key-rotator submit` stages the pair as AWSPENDING. verify/promote: as in the key-API flow
 * (a refused pair is unstaged and the person asked again; the current pair is never touched; a
 * staged pair that is the current one is unstaged too: promoting it would make the next alert ask
 * for the live pair's revocation). await-revoke: alert "revoke the old pair", check until the
 * vendor refuses it, remind, escalate. Single-pair vendors revoke first: the old pair is refused
 * before the new one exists, and the time without a working pair is measured and reported.
 * The store wins over the saved state (`reconcileOperator`), so a rotation resumes after Redis loss.
 * Must not: hold a secret in the state, name a secret (or part of one) in an alert, or call the
 * vendor's dashboard (only people do).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { InvalidStateError } from "../core/errors.js";
import {
  STAGE_CURRENT,
  STAGE_PENDING,
  STAGE_PREVIOUS,
  type Alert,
  type Alerter,
  type Clock,
  type KeyVerifier,
  type SecretStore,
  type VersionInfo,
} from "../core/ports.js";
import type { ValueShape } from "../core/stored-value.js";
import type { OperatorGuide } from "../vendors/vendor-module.js";
import { pendingRotation, promotedRotation } from "./reconcile.js";
import { type RotationResult, type RotationState, Step, isFinished } from "./rotation-state.js";

export interface OperatorCredential {
  id: string;
  secretId: string;
  singlePair: boolean;
  remindEveryMs: number;
  deadlineMs: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a value shape of whatever the vendor keeps
export interface OperatorDeps<V = any> {
  store: SecretStore;
  verifier: KeyVerifier;
  /** The vendor's value shape (its module's). */
  value: ValueShape<V>;
  /** The words that guide the person, and the vendor's name. */
  guide: OperatorGuide & { vendorName: string };
  alerter: Alerter & { escalate?(alert: Alert): Promise<void> };
  clock: Clock;
  onStep?: (state: RotationState, step: Step, durationMs: number) => void;
}

/** How often a waiting rotation looks again (for a submitted pair, or a revoked old one). */
const POLL_MS = 60_000;

export async function operatorRotate(
  c: OperatorCredential,
  deps: OperatorDeps,
  saved: RotationState,
  save: (s: RotationState) => Promise<void>,
): Promise<RotationResult> {
  const { store, verifier, alerter, clock } = deps;
  const g = deps.guide;
  const versions = await store.listVersions(c.secretId);
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current) throw new InvalidStateError(`${c.id}: secret ${c.secretId} has no AWSCURRENT version`);
  let s = reconcileOperator(c, versions, saved);
  const stepDone = async (next: Partial<RotationState> & { step: Step }) => {
    const done = s.step;
    s = { ...s, ...next, stepTimes: { ...s.stepTimes, [next.step]: clock.now() } };
    await save(s);
    deps.onStep?.(s, done, 0);
  };
  const wait = (reason: string) => ({
    kind: "wait" as const,
    until: clock.now() + Math.min(POLL_MS, c.remindEveryMs),
    reason,
    state: s,
  });

  if (s.step === Step.AwaitPair) {
    const pending = pendingRotation(versions);
    if (pending) {
      await stepDone({ step: Step.Verify, pendingVersionId: pending.versionId, oldVersionId: current.versionId });
    } else {
      s.oldVersionId = current.versionId;
      if (c.singlePair && s.oldRefusedAt === undefined) {
        const old = await readPair(deps, c, current.versionId);
        if (!(await verifier.verify(deps.value.secretOf(old))).valid) s.oldRefusedAt = clock.now();
      }
      const how = c.singlePair
        ? `this account allows one ${g.noun}: revoke the current ${g.noun} in ${g.dashboard}, generate a new one, then run: key-rotator submit ${c.id}`
        : `generate a new ${g.noun} in ${g.dashboard}, then run: key-rotator submit ${c.id} (${g.submitHint})`;
      await remind(c, deps, s, "pair-needed", `a new API ${g.noun} is needed for ${c.id}: ${how}`);
      await save(s);
      return wait("awaiting a new pair from an operator");
    }
  }

  if (s.step === Step.Verify) {
    const versionId = s.pendingVersionId ?? "";
    const pair = await readPair(deps, c, versionId);
    if (sameKey(deps.value, pair, await readPair(deps, c, current.versionId))) {
      await store.removePending(c.secretId, versionId);
      await alerter.raise({
        credentialId: c.id,
        severity: "warning",
        kind: "pair-already-current",
        step: Step.Verify,
        rotationId: s.rotationId,
        summary: `the pair staged as version ${versionId} is the pair already in use by ${c.id}; it was unstaged and not promoted. Generate a new ${g.noun} in ${g.dashboard} and submit that.`,
      });
      const { pendingVersionId: _dropped, ...rest } = s;
      s = { ...rest, step: Step.AwaitPair };
      await save(s);
      return wait("the submitted pair is the current one; awaiting a new pair");
    }
    const verdict = await verifier.verify(deps.value.secretOf(pair));
    if (!verdict.valid) {
      await store.removePending(c.secretId, versionId);
      await alerter.raise({
        credentialId: c.id,
        severity: "warning",
        kind: "pair-refused",
        step: Step.Verify,
        rotationId: s.rotationId,
        summary: `${g.vendorName} refused the submitted ${g.noun} (${verdict.status}: ${verdict.reason}); it was unstaged, the current pair is unchanged. Submit another.`,
      });
      const { pendingVersionId: _dropped, ...rest } = s;
      s = { ...rest, step: Step.AwaitPair };
      await save(s);
      return wait("the submitted pair was refused; awaiting another");
    }
    await stepDone({ step: Step.Promote });
  }

  if (s.step === Step.Promote) {
    await store.promote(c.secretId, s.pendingVersionId ?? "", s.oldVersionId);
    const downtime = c.singlePair ? clock.now() - (s.oldRefusedAt ?? s.askedAt ?? clock.now()) : undefined;
    await stepDone({
      step: Step.AwaitRevoke,
      askedAt: clock.now(),
      remindedAt: 0,
      escalated: false,
      ...(downtime !== undefined ? { downtimeMs: downtime } : {}),
    });
    await alerter.resolve(c.id, "pair-needed");
  }

  if (s.step === Step.AwaitRevoke) {
    const oldVersionId = s.oldVersionId ?? "";
    const old = await readPair(deps, c, oldVersionId);
    if ((await verifier.verify(deps.value.secretOf(old))).valid) {
      // Names the old pair as the vendor's dashboard shows it (where its definition says how: a few
      // characters of the non-secret identity), when it was stored and its version; never a secret.
      const storedOn =
        versions
          .find((v) => v.versionId === oldVersionId)
          ?.createdAt.toISOString()
          .slice(0, 10) ?? "an unknown date";
      await remind(
        c,
        deps,
        s,
        "revoke-old-pair",
        `the new pair of ${c.id} is live; revoke the old pair (${shownAs(deps.value, old)}the pair stored on ${storedOn}, version ${oldVersionId}) in ${g.dashboard}`,
      );
      await save(s);
      return wait("awaiting the revocation of the old pair");
    }
    await store.removePending(c.secretId, s.pendingVersionId ?? "");
    await stepDone({
      step: Step.Done,
      outcome:
        s.downtimeMs !== undefined
          ? `completed; no working pair for ${Math.round(s.downtimeMs / 1000)} s`
          : "completed",
    });
    await alerter.resolve(c.id, "revoke-old-pair");
    await alerter.resolve(c.id, "rotation-failed");
  }
  return { kind: "finished", state: s };
}

/**
 * Corrects the saved step from the store's stages (the store wins), so a rotation whose job data
 * was lost (Redis flushed, a resume enqueued by the due check) carries on where the store says:
 *   a submitted pair current and still pending -> await-revoke, the old pair = AWSPREVIOUS
 *   a submitted pair current, pending removed   -> done
 *   a submitted pair pending, not current       -> verify (or promote, if that was saved)
 *   (a saved promote or await-revoke of a pair now current and pending is kept as it is)
 *   the saved pair unstaged or gone, or none    -> await-pair (which takes a newly staged pair)
 */
export function reconcileOperator(c: OperatorCredential, versions: VersionInfo[], saved: RotationState): RotationState {
  if (isFinished(saved.step)) return saved;
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current) throw new InvalidStateError(`${c.id}: secret ${c.secretId} has no AWSCURRENT version`);
  const { pendingVersionId: _dropped, ...unsubmitted } = saved;
  const awaitPair: RotationState = { ...unsubmitted, step: Step.AwaitPair, oldVersionId: current.versionId };
  const submitted =
    saved.pendingVersionId === undefined
      ? promotedRotation(versions)
      : versions.find((v) => v.versionId === saved.pendingVersionId);
  if (!submitted) return awaitPair;
  if (submitted.stages.includes(STAGE_CURRENT)) {
    if (!submitted.stages.includes(STAGE_PENDING))
      return { ...saved, step: Step.Done, outcome: saved.outcome ?? "completed" };
    // Promote again is a no-op at the store and still measures the downtime and starts the wait.
    if (saved.step === Step.AwaitRevoke || saved.step === Step.Promote) return saved;
    const oldVersionId =
      saved.oldVersionId !== undefined && saved.oldVersionId !== submitted.versionId
        ? saved.oldVersionId
        : versions.find((v) => v.stages.includes(STAGE_PREVIOUS))?.versionId;
    if (!oldVersionId)
      throw new InvalidStateError(
        `${c.id}: version ${submitted.versionId} was promoted but no AWSPREVIOUS version names the old pair to revoke`,
      );
    // The promote time was lost with the state; the submission's is earlier, so no deadline is missed.
    return {
      ...saved,
      step: Step.AwaitRevoke,
      pendingVersionId: submitted.versionId,
      oldVersionId,
      askedAt: submitted.createdAt.getTime(),
      remindedAt: 0,
      escalated: false,
    };
  }
  if (submitted.stages.includes(STAGE_PENDING)) {
    return {
      ...saved,
      step: saved.step === Step.Promote ? Step.Promote : Step.Verify,
      pendingVersionId: submitted.versionId,
      oldVersionId: current.versionId,
    };
  }
  return awaitPair;
}

/** Asks the person (first time), reminds on the cadence, and escalates once past the deadline. */
async function remind(
  c: OperatorCredential,
  deps: OperatorDeps,
  s: RotationState,
  kind: string,
  summary: string,
): Promise<void> {
  const now = deps.clock.now();
  s.askedAt ??= now;
  const deadline = s.askedAt + c.deadlineMs;
  const alert: Alert = {
    credentialId: c.id,
    severity: "warning",
    kind,
    summary,
    rotationId: s.rotationId,
    reminder: true,
    details: { awaitingSince: new Date(s.askedAt).toISOString(), deadline: new Date(deadline).toISOString() },
  };
  if (!s.remindedAt || now - s.remindedAt >= c.remindEveryMs) {
    await deps.alerter.raise(alert);
    s.remindedAt = now;
  }
  if (now >= deadline && !s.escalated) {
    await deps.alerter.escalate?.({
      ...alert,
      severity: "critical",
      kind: `${kind}-overdue`,
      summary: `overdue since ${new Date(deadline).toISOString()}: ${summary}`,
    });
    s.escalated = true;
  }
}

/** "API key abcd…wxyz, " where the vendor's dashboard shows keys that way, else "". */
function shownAs<V>(shape: ValueShape<V>, value: V): string {
  const shown = shape.describe?.(value);
  return shown ? `${shown}, ` : "";
}

/** Whether two values name the same key (`identityOf`), compared in constant time. */
export function sameKey<V>(shape: ValueShape<V>, a: V, b: V): boolean {
  const digest = (v: V) => createHash("sha256").update(shape.identityOf(v)).digest();
  return timingSafeEqual(digest(a), digest(b));
}

async function readPair<V>(deps: OperatorDeps<V>, c: OperatorCredential, versionId: string): Promise<V> {
  const v = await deps.store.read(c.secretId, { versionId });
  return deps.value.parse(v.value, `${c.id}: secret ${c.secretId} version ${versionId}`);
}
