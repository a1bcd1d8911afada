/**
 * The rotation for vendors without a key API (JustCall), where a person makes and revokes pairs
 * in the vendor's dashboard. The same machine as rotation.ts with a person in two places:
 *
 *   await-pair -> verify -> promote -> await-revoke -> done
 *
 * await-pair: alert "a new pair is needed" with instructions, remind on a cadence, escalate past
 * the deadline; `key-rotator submit` stages the pair as AWSPENDING. verify/promote: as for CallCov
 * (a refused pair is unstaged and the person asked again; the current pair is never touched).
 * await-revoke: alert "revoke the old pair", check until the vendor refuses it, remind, escalate.
 * Single-pair vendors revoke first: the old pair is refused before the new one exists, and the
 * time without a working pair is measured and reported.
 * Must not: hold a secret in the state, or call the vendor's dashboard (only people do).
 */
import { InvalidStateError } from "../core/errors.js";
import { STAGE_CURRENT, type Alert, type Alerter, type Clock, type KeyVerifier, type SecretStore } from "../core/ports.js";
import { parseStoredValue, vendorSecretOf } from "../core/stored-value.js";
import { pendingRotation, type RotationResult } from "./rotation.js";
import { type RotationState, Step } from "./rotation-state.js";

export interface OperatorCredential {
  id: string;
  secretId: string;
  singlePair: boolean;
  remindEveryMs: number;
  deadlineMs: number;
}

export interface OperatorDeps {
  store: SecretStore;
  verifier: KeyVerifier;
  alerter: Alerter & { escalate?(alert: Alert): Promise<void> };
  clock: Clock;
  onStep?: (state: RotationState, step: Step, durationMs: number) => void;
}

/** How often a waiting rotation looks again (for a submitted pair, or a revoked old one). */
const POLL_MS = 60_000;

export async function operatorRotate(c: OperatorCredential, deps: OperatorDeps, saved: RotationState, save: (s: RotationState) => Promise<void>): Promise<RotationResult> {
  const { store, verifier, alerter, clock } = deps;
  let s: RotationState = { ...saved, step: saved.step === Step.Create ? Step.AwaitPair : saved.step };
  const stepDone = async (next: Partial<RotationState> & { step: Step }) => {
    const done = s.step;
    s = { ...s, ...next, stepTimes: { ...s.stepTimes, [next.step]: clock.now() } };
    await save(s);
    deps.onStep?.(s, done, 0);
  };
  const versions = await store.listVersions(c.secretId);
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current) throw new InvalidStateError(`${c.id}: secret ${c.secretId} has no AWSCURRENT version`);
  const wait = (reason: string) => ({ kind: "wait" as const, until: clock.now() + Math.min(POLL_MS, c.remindEveryMs), reason, state: s });

  if (s.step === Step.AwaitPair) {
    const pending = pendingRotation(versions);
    if (pending) {
      await stepDone({ step: Step.Verify, pendingVersionId: pending.versionId, oldVersionId: current.versionId });
    } else {
      s.oldVersionId = current.versionId;
      if (c.singlePair && s.oldRefusedAt === undefined) {
        const old = await readPair(store, c, current.versionId);
        if (!(await verifier.verify(vendorSecretOf(old))).valid) s.oldRefusedAt = clock.now();
      }
      const how = c.singlePair
        ? `this account allows one pair: revoke the current pair in JustCall (Settings → API & Webhooks), generate a new one, then run: key-rotator submit ${c.id}`
        : `generate a new pair in JustCall (Settings → API & Webhooks), then run: key-rotator submit ${c.id} (key and secret on standard input)`;
      await remind(c, deps, s, "pair-needed", `a new API pair is needed for ${c.id}: ${how}`);
      await save(s);
      return wait("awaiting a new pair from an operator");
    }
  }

  if (s.step === Step.Verify) {
    const versionId = s.pendingVersionId ?? "";
    const pair = await readPair(store, c, versionId);
    const verdict = await verifier.verify(vendorSecretOf(pair));
    if (!verdict.valid) {
      await store.removePending(c.secretId, versionId);
      await alerter.raise({ credentialId: c.id, severity: "warning", kind: "pair-refused", step: Step.Verify, rotationId: s.rotationId, summary: `JustCall refused the submitted pair (${verdict.status}: ${verdict.reason}); it was unstaged, the current pair is unchanged. Submit another.` });
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
    await stepDone({ step: Step.AwaitRevoke, askedAt: clock.now(), remindedAt: 0, escalated: false, ...(downtime !== undefined ? { downtimeMs: downtime } : {}) });
    await alerter.resolve(c.id, "pair-needed");
  }

  if (s.step === Step.AwaitRevoke) {
    const old = await readPair(store, c, s.oldVersionId ?? "");
    if ((await verifier.verify(vendorSecretOf(old))).valid) {
      await remind(c, deps, s, "revoke-old-pair", `the new pair of ${c.id} is live; revoke the old pair (key ${old.vendor === "justcall" ? old.apiKey.slice(0, 4) : ""}…) in JustCall (Settings → API & Webhooks)`);
      await save(s);
      return wait("awaiting the revocation of the old pair");
    }
    await store.removePending(c.secretId, s.pendingVersionId ?? "");
    await stepDone({ step: Step.Done, outcome: s.downtimeMs !== undefined ? `completed; no working pair for ${Math.round(s.downtimeMs / 1000)} s` : "completed" });
    await alerter.resolve(c.id, "revoke-old-pair");
    await alerter.resolve(c.id, "rotation-failed");
  }
  return { kind: "finished", state: s };
}

/** Asks the person (first time), reminds on the cadence, and escalates once past the deadline. */
async function remind(c: OperatorCredential, deps: OperatorDeps, s: RotationState, kind: string, summary: string): Promise<void> {
  const now = deps.clock.now();
  s.askedAt ??= now;
  const deadline = s.askedAt + c.deadlineMs;
  const alert: Alert = { credentialId: c.id, severity: "warning", kind, summary, rotationId: s.rotationId, details: { awaitingSince: new Date(s.askedAt).toISOString(), deadline: new Date(deadline).toISOString() } };
  if (!s.remindedAt || now - s.remindedAt >= c.remindEveryMs) {
    await deps.alerter.raise(alert);
    s.remindedAt = now;
  }
  if (now >= deadline && !s.escalated) {
    await deps.alerter.escalate?.({ ...alert, severity: "critical", kind: `${kind}-overdue`, summary: `overdue since ${new Date(deadline).toISOString()}: ${summary}` });
    s.escalated = true;
  }
}

async function readPair(store: SecretStore, c: OperatorCredential, versionId: string) {
  const v = await store.read(c.secretId, { versionId });
  const value = parseStoredValue(v.value, `${c.id}: secret ${c.secretId} version ${versionId}`);
  if (value.vendor !== "justcall") throw new InvalidStateError(`${c.id}: version ${versionId} holds a ${value.vendor} value, expected justcall`);
  return value;
}
