/**
 * One rotation of one credential, top to bottom, as in the table of DESIGN.md:
 *
 *   create -> verify -> promote -> grace -> revoke -> confirm
 *
 * Every step is safe to repeat and the state after each is saved, so a retry resumes at the step
 * that failed. The store is the source of truth: `reconcile` reads the stages first and corrects
 * the saved step, which is how a rotation resumes after Redis was lost. A failed verify rolls back
 * (revoke the new key, unstage it, alert). After promote nothing is undone automatically: the new
 * key is already what consumers read, so problems alert instead.
 *
 * Must not: hold a secret in the state, decide scheduling, or know how a vendor or store talks.
 */
import { InvalidStateError, VendorError } from "../core/errors.js";
import type { Alerter, Clock, KeyApiVendor, SecretStore } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import { type CallCovValue, parseStoredValue, serializeStoredValue, vendorSecretOf } from "../core/stored-value.js";
import { reconcile } from "./reconcile.js";
import { type RotationState, Step, isBefore } from "./rotation-state.js";

/** What the rotation needs to know about a credential (a slice of the inventory entry). */
export interface RotationCredential {
  id: string;
  secretId: string;
  graceMs: number;
  maxGraceExtensionMs: number;
}

/** Samples whether the old key is still used by consumers during grace (usage-gated revoke). */
export interface UsageGate {
  sampleEveryMs: number;
  oldKeyUse(credentialId: string, oldKey: SecretValue): Promise<{ inUse: boolean; perMinute: number }>;
}

export interface RotationDeps {
  store: SecretStore;
  vendor: KeyApiVendor;
  alerter: Alerter;
  clock: Clock;
  usageGate?: UsageGate;
  /** True when a person asked, while this rotation ran, to finish it as an emergency. */
  emergencyRequested?: () => Promise<boolean>;
  /** Called after every step with the state it left; the audit trail and metrics hang here. */
  onStep?: (state: RotationState, step: Step, durationMs: number) => void;
}

export type RotationResult =
  | { kind: "finished"; state: RotationState }
  | { kind: "wait"; until: number; reason: string; state: RotationState };

/** The name the vendor key gets; the orphan sweep recognises our keys by it. */
export function keyNameFor(credentialId: string, rotationId: string): string {
  return `key-rotator/${credentialId}/${rotationId}`;
}

export async function rotate(
  credential: RotationCredential,
  deps: RotationDeps,
  saved: RotationState,
  save: (state: RotationState) => Promise<void>,
  options: { trustSaved?: boolean } = {},
): Promise<RotationResult> {
  const { store, vendor, clock } = deps;
  const secretId = credential.secretId;
  // A continuation of this very job (woken after grace, state saved by us a moment ago) may skip
  // the store read; a new, resumed or retried rotation always checks the store first.
  let s = options.trustSaved && !isBefore(saved.step, Step.Grace) ? saved : await reconcile(credential, store, saved);
  const stepDone = async (next: Partial<RotationState> & { step: Step }) => {
    const done = s.step;
    const startedAt = s.stepTimes?.[done] ?? s.startedAt;
    s = { ...s, ...next, stepTimes: { ...s.stepTimes, [next.step]: clock.now() } };
    await save(s);
    deps.onStep?.(s, done, clock.now() - startedAt);
  };
  const readOld = () => readValue(store, credential, s.oldVersionId, "the key being replaced");

  if (s.step === Step.Create) {
    const old = await readOld();
    const name = keyNameFor(credential.id, s.rotationId);
    // A retry after a crash inside create may find a key the vendor made whose secret never
    // reached the store: nobody can use it, so it goes before a new one is made.
    if (s.createAttempted) await revokeKeysNamed(vendor, name);
    await save((s = { ...s, oldKeyId: old.keyId, createAttempted: true }));
    const created = await vendor.createKey(name);
    const value: CallCovValue = {
      vendor: "callcov",
      apiKey: created.key.reveal(),
      keyId: created.keyId,
      keyName: name,
      rotationId: s.rotationId,
      createdAt: created.createdAt.toISOString(),
    };
    try {
      await store.putPending(secretId, s.rotationId, serializeStoredValue(value));
    } catch (err) {
      // Rule 2: a key reaches the store before anything else happens, or it does not live.
      await vendor.revokeKey(created.keyId).catch(() => undefined);
      throw err;
    }
    await stepDone({ step: Step.Verify, newKeyId: created.keyId });
  }

  if (s.step === Step.Verify) {
    const pending = await readValue(store, credential, s.rotationId, "the new key");
    const verdict = await vendor.verify(vendorSecretOf(pending));
    if (!verdict.valid) {
      await rollBack(credential, deps, s, pending.keyId, `the vendor refused the new key (${verdict.status}: ${verdict.reason})`);
      await stepDone({ step: Step.RolledBack, outcome: `verify refused: ${verdict.reason}` });
      return { kind: "finished", state: s };
    }
    await stepDone({ step: Step.Promote, newKeyId: pending.keyId });
  }

  if (s.step === Step.Promote) {
    await store.promote(secretId, s.rotationId, s.oldVersionId);
    await stepDone({ step: Step.Grace, graceUntil: clock.now() + (s.emergency ? 0 : credential.graceMs) });
  }

  if (s.step === Step.Grace) {
    const wait = await graceWait(credential, deps, s, readOld);
    if (wait) {
      await save((s = { ...s, graceExtendedMs: wait.graceExtendedMs }));
      return { kind: "wait", until: wait.until, reason: wait.reason, state: s };
    }
    await stepDone({ step: Step.Revoke });
  }

  if (s.step === Step.Revoke) {
    const oldKeyId = s.oldKeyId ?? (await readOld()).keyId;
    await vendor.revokeKey(oldKeyId);
    await stepDone({ step: Step.Confirm, oldKeyId });
  }

  if (s.step === Step.Confirm) {
    const verdict = await vendor.verify(vendorSecretOf(await readOld()));
    if (verdict.valid) {
      throw new VendorError(`${credential.id}: the old key ${s.oldKeyId ?? ""} is still accepted after its revocation`, { retryable: true });
    }
    // AWSPENDING stays on the version now current: unstaging it would be a third write against the
    // store's write quota, and a pending stage on the current version is harmless (DESIGN.md).
    await stepDone({ step: Step.Done, outcome: "completed" });
    await deps.alerter.resolve(credential.id, "rotation-failed");
  }
  return { kind: "finished", state: s };
}

async function readValue(store: SecretStore, credential: RotationCredential, versionId: string | undefined, what: string) {
  if (!versionId) throw new InvalidStateError(`${credential.id}: no store version is known for ${what}`);
  const version = await store.read(credential.secretId, { versionId });
  const value = parseStoredValue(version.value, `${credential.id}: secret ${credential.secretId} version ${versionId} (${what})`);
  if (value.vendor !== "callcov") {
    throw new InvalidStateError(`${credential.id}: version ${versionId} holds a ${value.vendor} value, expected callcov`);
  }
  return value;
}

async function revokeKeysNamed(vendor: KeyApiVendor, name: string): Promise<void> {
  for (const key of await vendor.listKeys()) if (key.name === name) await vendor.revokeKey(key.keyId);
}

async function rollBack(credential: RotationCredential, deps: RotationDeps, s: RotationState, newKeyId: string, reason: string) {
  await deps.vendor.revokeKey(newKeyId);
  await deps.store.removePending(credential.secretId, s.rotationId);
  await deps.alerter.raise({
    credentialId: credential.id,
    severity: "critical",
    kind: "rotation-failed",
    summary: `rotation rolled back: ${reason}; the current key is unchanged`,
    step: Step.Verify,
    rotationId: s.rotationId,
  });
}

/** Returns when to look again if revocation must wait, or undefined when it may go ahead. */
async function graceWait(
  credential: RotationCredential,
  deps: RotationDeps,
  s: RotationState,
  readOld: () => Promise<CallCovValue>,
): Promise<{ until: number; reason: string; graceExtendedMs: number } | undefined> {
  const now = deps.clock.now();
  const extended = s.graceExtendedMs ?? 0;
  if (s.emergency || (await deps.emergencyRequested?.())) return undefined;
  if (s.graceUntil !== undefined && now < s.graceUntil) return { until: s.graceUntil, reason: "grace period", graceExtendedMs: extended };
  if (!deps.usageGate) return undefined;
  const use = await deps.usageGate.oldKeyUse(credential.id, vendorSecretOf(await readOld()));
  if (!use.inUse) return undefined;
  const details = { perMinute: use.perMinute, deferredMs: extended };
  if (extended >= credential.maxGraceExtensionMs) {
    await deps.alerter.raise({ credentialId: credential.id, severity: "critical", kind: "old-key-in-use", step: Step.Grace, rotationId: s.rotationId, details,
      summary: `revoking the old key although it is still used (${use.perMinute}/min): the deferral bound was reached` });
    return undefined;
  }
  await deps.alerter.raise({ credentialId: credential.id, severity: "warning", kind: "old-key-in-use", step: Step.Grace, rotationId: s.rotationId, details,
    summary: `revocation deferred: the old key is still used (${use.perMinute}/min)` });
  const step = deps.usageGate.sampleEveryMs;
  return { until: now + step, reason: `old key still in use (${use.perMinute}/min)`, graceExtendedMs: extended + step };
}
