/**
 * One rotation of one credential, top to bottom, as in the table of DESIGN.md:
 *
 *   (finish the rotation before) -> create -> verify -> promote -> grace -> revoke -> confirm
 *
 * Every step is safe to repeat and the state after each is saved, so a retry resumes at the step
 * that failed. The store is the source of truth: `reconcile` reads the stages first and corrects
 * the saved step, which is how a rotation resumes after Redis was lost, and why forged job data
 * can delay or repeat work but never aim it: what is revoked comes from the store (revocation.ts).
 * A failed verify rolls back (revoke the new key, unstage it, alert). After promote nothing is
 * undone automatically: the new key is already what consumers read, so problems alert instead.
 * An emergency is done only when the current key was made after it was asked for: a rotation
 * whose key is older finishes and the next one starts at once (DESIGN.md rule 10).
 *
 * Must not: hold a secret in the state, decide scheduling, or know how a vendor or store talks.
 */
import { randomUUID } from "node:crypto";
import { InvalidStateError, SupersededError } from "../core/errors.js";
import {
  STAGE_CURRENT,
  STAGE_PENDING,
  STAGE_PREVIOUS,
  type Alerter,
  type Clock,
  type KeyApiVendor,
  type ReplicaWatch,
  type SecretStore,
  type VersionInfo,
} from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import { type KeyApiValue, type ValueShape, serializeStoredValue } from "../core/stored-value.js";
import { promotedRotation, reconcile } from "./reconcile.js";
import { finishPromoted, keyNameFor, readKeyValue, revokeUnstoredKeys, undoUnpromoted } from "./revocation.js";
import { type RotationResult, type RotationState, type Save, Step } from "./rotation-state.js";

export { keyNameFor } from "./revocation.js";

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
  /** The vendor's value shape (its module's): how a version's value is read. */
  value: ValueShape<KeyApiValue>;
  alerter: Alerter;
  clock: Clock;
  usageGate?: UsageGate;
  /** Where the secret's replicas stand; absent: not watched (revocation does not wait for them). */
  replicas?: ReplicaWatch;
  /** When a person asked, while this rotation ran, for an emergency: the request's epoch ms. */
  emergencyRequested?: () => Promise<number | undefined>;
  /** Called after every step with the state it left; the audit trail and metrics hang here. */
  onStep?: (state: RotationState, step: Step, durationMs: number) => void;
}

export type { RotationResult };

export async function rotate(
  credential: RotationCredential,
  deps: RotationDeps,
  saved: RotationState,
  save: Save,
): Promise<RotationResult> {
  let result = await rotateOnce(credential, deps, saved, save);
  // An emergency asked after this rotation's key was made is answered by the next one, at once.
  while (result.kind === "finished" && result.state.step === Step.Done) {
    const s = await absorbEmergency(deps, result.state, save);
    // A request time ahead of this clock (skew, or forged job data) counts as now: one more, not forever.
    if (s.emergencyAt === undefined || (s.createIssuedAt ?? 0) >= Math.min(s.emergencyAt, deps.clock.now()))
      return { kind: "finished", state: s };
    const next: RotationState = {
      credentialId: s.credentialId,
      rotationId: randomUUID(),
      step: Step.Create,
      emergency: true,
      trigger: "emergency",
      startedAt: deps.clock.now(),
      emergencyAt: Math.min(s.emergencyAt, deps.clock.now()),
      ...(s.actor ? { actor: s.actor } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
    };
    await save(next);
    result = await rotateOnce(credential, deps, next, save);
  }
  return result;
}

async function rotateOnce(
  credential: RotationCredential,
  given: RotationDeps,
  saved: RotationState,
  save: Save,
): Promise<RotationResult> {
  const deps = { ...given, value: parsedOnce(given.value) };
  const { store, vendor, clock } = deps;
  const secretId = credential.secretId;
  const currentRead = readCurrentBeside(deps, credential, saved);
  const reconciled = await reconcile(credential, store, saved);
  let s = reconciled.state;
  let versions = reconciled.versions;

  const stepDone = async (next: Partial<RotationState> & { step: Step }) => {
    const done = s.step;
    const startedAt = s.stepTimes?.[done] ?? s.startedAt;
    s = { ...s, ...next, stepTimes: { ...s.stepTimes, [next.step]: clock.now() } };
    await save(s);
    deps.onStep?.(s, done, clock.now() - startedAt);
  };

  if (s.step === Step.Create) {
    // Rule 9: a promoted rotation not yet finished is finished first, or its old key is forgotten.
    const before = await finishBefore(credential, deps, s, versions);
    if (before.kind === "wait") return { ...before, state: s };
    versions = before.versions;
    const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
    if (!current) throw new InvalidStateError(`${credential.id}: secret ${secretId} has no AWSCURRENT version`);
    const old = await readKeyValue(deps, credential, current.versionId, "the key being replaced", await currentRead);
    const name = keyNameFor(credential.id, s.rotationId);
    // A retry after a crash inside create may find a key the vendor made whose secret never
    // reached the store: nobody can use it, so it goes before a new one is made.
    if (s.createAttempted || s.trigger === "resume") await revokeUnstoredKeys(deps, credential, versions, name);
    await save(
      (s = {
        ...s,
        oldVersionId: current.versionId,
        oldKeyId: old.keyId,
        createAttempted: true,
        createIssuedAt: clock.now(),
      }),
    );
    const created = await vendor.createKey(name);
    try {
      await store.putPending(secretId, s.rotationId, serializeStoredValue(nextValue(old, created, name, s.rotationId)));
    } catch (err) {
      // Rule 2: a key reaches the store before anything else happens, or it does not live.
      await vendor.revokeKey(created.keyId).catch(() => undefined);
      throw err;
    }
    await stepDone({ step: Step.Verify, newKeyId: created.keyId });
  }

  if (s.step === Step.Verify) {
    const pending = await readKeyValue(deps, credential, s.rotationId, "the new key");
    const verdict = await vendor.verify(deps.value.secretOf(pending));
    if (!verdict.valid) {
      await rollBack(credential, deps, s, `the vendor refused the new key (${verdict.status}: ${verdict.reason})`);
      await stepDone({ step: Step.RolledBack, outcome: `verify refused: ${verdict.reason}` });
      return { kind: "finished", state: s };
    }
    await stepDone({ step: Step.Promote, newKeyId: pending.keyId });
  }

  if (s.step === Step.Promote) {
    // Compare-and-set: only over the version whose key this one replaces. If AWSCURRENT moved
    // meanwhile (another rotation after Redis lost this one, a person), this one gives way.
    const superseded = await promoteOver(credential, deps, s);
    if (superseded) {
      await undoUnpromoted(deps, credential, await store.listVersions(secretId), s.rotationId);
      await stepDone({ step: Step.RolledBack, outcome: `superseded: ${superseded}` });
      return { kind: "finished", state: s };
    }
    versions = afterPromote(versions, s.rotationId, s.oldVersionId, clock.now());
    await stepDone({ step: Step.Grace, graceUntil: clock.now() + (s.emergency ? 0 : credential.graceMs) });
  }

  if (s.step === Step.Grace) {
    // An emergency asked meanwhile only shortens a scheduled rotation's grace. An emergency's own
    // rotation takes it after its revocation (rotate's loop, the same outcome): one Redis round
    // trip less before the exposed key is refused.
    if (!s.emergency) s = await absorbEmergency(deps, s, save);
    const wait = await graceWait(credential, deps, s, versions);
    if (wait) {
      await save((s = { ...s, graceExtendedMs: wait.graceExtendedMs }));
      return { kind: "wait", until: wait.until, reason: wait.reason, state: s };
    }
    await stepDone({ step: Step.Revoke });
  }

  // A saved revoke inside the grace the store's version gives (stale or forged job data) waits it out.
  if (s.step === Step.Revoke && !s.emergency && s.graceUntil !== undefined && clock.now() < s.graceUntil) {
    return { kind: "wait", until: s.graceUntil, reason: "grace period", state: s };
  }

  // An emergency does not wait for replicas (it only warns), so it looks at them once the old key
  // is revoked, beside the confirming check: nothing goes out ahead of the revocation, not even
  // beside it (building a store call is CPU the revocation's call would wait for).
  let replicasWarned: Promise<unknown> | undefined;
  const warnReplicas = s.step === Step.Revoke && s.emergency;
  if (s.step === Step.Revoke && !s.emergency) {
    // Consumers in replica regions read the old key until the new version reaches them.
    const replicas = await replicaWait(credential, deps, s, s.rotationId);
    if (replicas) {
      await save((s = { ...s, replicaWaitSince: replicas.since }));
      return { kind: "wait", until: replicas.until, reason: replicas.reason, state: s };
    }
  }

  if (s.step === Step.Revoke || s.step === Step.Confirm) {
    const oldKeyId = await finishPromoted(deps, credential, versions, s.rotationId, {
      verifyFirst: s.verifyBeforeRevoke === true || s.step === Step.Confirm,
      onRevoked: async (keyId) => {
        if (warnReplicas) {
          replicasWarned = replicaWait(credential, deps, s, s.rotationId);
          replicasWarned.catch(() => undefined); // awaited below; a failed confirm wins
        }
        if (s.step === Step.Revoke) await stepDone({ step: Step.Confirm, oldKeyId: keyId });
      },
    });
    // Revoked already (it is `undefined` only when there was no key to revoke): warn as before.
    await (replicasWarned ?? (warnReplicas ? replicaWait(credential, deps, s, s.rotationId) : undefined));
    await stepDone({ step: Step.Done, outcome: "completed", ...(oldKeyId ? { oldKeyId } : {}) });
    await deps.alerter.resolve(credential.id, "rotation-failed");
  }
  return { kind: "finished", state: s };
}

/**
 * The value shape, parsing each stored value once (by the SecretValue the store handed back, which
 * its cache hands back again): promote and the revocation guard read the same two or three
 * versions again, and each parse validates the whole value. Lives for one attempt.
 */
function parsedOnce(shape: ValueShape<KeyApiValue>): ValueShape<KeyApiValue> {
  const parsed = new WeakMap<SecretValue, KeyApiValue>();
  return {
    parse(raw, where) {
      let value = parsed.get(raw);
      if (!value) parsed.set(raw, (value = shape.parse(raw, where)));
      return value;
    },
    secretOf: (value) => shape.secretOf(value),
    identityOf: (value) => shape.identityOf(value),
    ...(shape.describe ? { describe: (value: KeyApiValue) => shape.describe?.(value) } : {}),
  };
}

/**
 * An emergency's old key is read beside the listing, not after it: no due check kept its value
 * (an emergency's key is seldom due), and each store round trip before the revocation is time the
 * exposed key stays valid. Its value is used only if the listing names the same version as
 * AWSCURRENT (a version's value never changes); a failed read is left to the read by id.
 */
function readCurrentBeside(deps: RotationDeps, credential: RotationCredential, saved: RotationState) {
  if (!saved.emergency || saved.step !== Step.Create) return Promise.resolve(undefined);
  return deps.store.read(credential.secretId, { stage: STAGE_CURRENT }, true).catch(() => undefined);
}

/**
 * Before a new key is made: if the current version is a promoted rotation not marked finished,
 * finish it (its old key revoked). An emergency does it now; otherwise its grace is waited out.
 */
async function finishBefore(
  credential: RotationCredential,
  deps: RotationDeps,
  s: RotationState,
  versions: VersionInfo[],
) {
  const promoted = promotedRotation(versions);
  if (!promoted || (await deps.store.finishedRotation(credential.secretId)) === promoted.versionId)
    return { kind: "go" as const, versions };
  const graceEnd = promoted.createdAt.getTime() + credential.graceMs;
  if (!s.emergency && deps.clock.now() < graceEnd) {
    return {
      kind: "wait" as const,
      until: graceEnd,
      reason: `finishing rotation ${promoted.versionId} first: its grace period`,
    };
  }
  const replicas = await replicaWait(credential, deps, s, promoted.versionId);
  if (replicas)
    return {
      kind: "wait" as const,
      until: replicas.until,
      reason: `finishing rotation ${promoted.versionId} first: ${replicas.reason}`,
    };
  await finishPromoted(deps, credential, versions, promoted.versionId, { verifyFirst: true });
  return { kind: "go" as const, versions: await deps.store.listVersions(credential.secretId) };
}

/** How often a revocation waiting for replicas looks again, and after how long it pages. */
const REPLICA_POLL_MS = 30_000;
const REPLICA_PAGE_AFTER_MS = 3_600_000;

/**
 * Before an old key goes: every replica region must report InSync and serve `versionId` as
 * AWSCURRENT, or consumers there still read the old key. Returns when to look again while one is
 * behind. Past the bound, or when a region's replication failed, it pages and keeps the old key,
 * still looking, so the revocation happens once the replicas catch up. An emergency does not
 * wait (the old key is exposed): it warns and goes ahead.
 */
async function replicaWait(
  credential: RotationCredential,
  deps: RotationDeps,
  s: RotationState,
  versionId: string,
): Promise<{ until: number; reason: string; since: number } | undefined> {
  if (!deps.replicas) return undefined;
  const behind = (await deps.replicas.replicas(credential.secretId)).filter(
    (r) => r.status !== "InSync" || r.currentVersionId !== versionId,
  );
  if (behind.length === 0) {
    if (s.replicaWaitSince !== undefined) await deps.alerter.resolve(credential.id, "replica-behind");
    return undefined;
  }
  const now = deps.clock.now();
  const names = behind.map((r) => `${r.region} (${r.status === "InSync" ? "not yet current" : r.status})`).join(", ");
  const alert = { credentialId: credential.id, kind: "replica-behind", step: Step.Revoke, rotationId: s.rotationId };
  if (s.emergency) {
    await deps.alerter.raise({
      ...alert,
      severity: "warning",
      summary: `emergency: the old key is revoked although replicas are behind: ${names}`,
    });
    return undefined;
  }
  // A start in the future (forged job data) counts as now: the page comes at most one bound late.
  const since = Math.min(s.replicaWaitSince ?? now, now);
  if (behind.some((r) => r.status === "Failed") || now - since >= REPLICA_PAGE_AFTER_MS) {
    await deps.alerter.raise({
      ...alert,
      severity: "critical",
      summary: `the old key is kept: replicas are behind (${names}) since ${new Date(since).toISOString()}; it is revoked once they serve the new version`,
    });
    return { until: now + 10 * REPLICA_POLL_MS, reason: `replicas behind (${names}); the old key is kept`, since };
  }
  return { until: now + REPLICA_POLL_MS, reason: `waiting for replicas: ${names}`, since };
}

/**
 * The stages after our promote, as Secrets Manager sets them (AWSPREVIOUS follows AWSCURRENT's old
 * holder), so a rotation that goes on past grace in the same attempt need not list them again.
 * The revocation guard still reads every staged value before it acts.
 */
function afterPromote(versions: VersionInfo[], mine: string, from: string | undefined, now: number): VersionInfo[] {
  // Written in this attempt, so absent from its listing: the put moved AWSPENDING onto it.
  const listed = versions.some((v) => v.versionId === mine)
    ? versions
    : [
        ...versions.map((v) => ({ ...v, stages: v.stages.filter((stage) => stage !== STAGE_PENDING) })),
        { versionId: mine, stages: [STAGE_PENDING], createdAt: new Date(now) },
      ];
  return listed.map((v) => {
    const stages = v.stages.filter(
      (stage) => stage !== STAGE_PREVIOUS && !(stage === STAGE_CURRENT && v.versionId !== mine),
    );
    if (v.versionId === mine && !stages.includes(STAGE_CURRENT)) stages.push(STAGE_CURRENT);
    if (v.versionId === from && v.versionId !== mine) stages.push(STAGE_PREVIOUS);
    return { ...v, stages };
  });
}

/** Promotes the rotation's version over the one it replaced; returns why not if that one is no longer current. */
async function promoteOver(
  credential: RotationCredential,
  deps: RotationDeps,
  s: RotationState,
): Promise<string | undefined> {
  const { store } = deps;
  const from = s.oldVersionId;
  if (!from) throw new InvalidStateError(`${credential.id}: no store version is known for the key being replaced`);
  const mine = await readKeyValue(deps, credential, s.rotationId, "the new key");
  const replaced = await readKeyValue(deps, credential, from, "the key being replaced");
  if (mine.replacesKeyId !== undefined && mine.replacesKeyId !== replaced.keyId) {
    return `version ${s.rotationId} replaces key ${mine.replacesKeyId}, but the current version ${from} holds ${replaced.keyId}`;
  }
  try {
    await store.promote(credential.secretId, s.rotationId, from);
    return undefined;
  } catch (err) {
    if (err instanceof SupersededError) return err.message;
    throw err;
  }
}

/**
 * The new version's value: the fields the product owns are new, the key it replaces is named, and
 * every other field of the old value (a user's `owner`, `region`, ...) is carried unchanged.
 */
function nextValue(
  old: KeyApiValue,
  created: { keyId: string; key: SecretValue; createdAt: Date },
  name: string,
  rotationId: string,
): KeyApiValue {
  return {
    ...old,
    apiKey: created.key.reveal(),
    keyId: created.keyId,
    keyName: name,
    rotationId,
    createdAt: created.createdAt.toISOString(),
    replacesKeyId: old.keyId,
  };
}

/** Takes an emergency asked while this rotation ran into its state (saved, so a crash keeps it). */
async function absorbEmergency(deps: RotationDeps, s: RotationState, save: Save): Promise<RotationState> {
  const at = await deps.emergencyRequested?.();
  if (at === undefined) return s;
  const next = { ...s, emergency: true, trigger: "emergency" as const, emergencyAt: Math.max(at, s.emergencyAt ?? 0) };
  await save(next);
  return next;
}

/** Gives back what the rotation made (its key, its pending stage), from what the store shows of it. */
async function giveBack(credential: RotationCredential, deps: RotationDeps, s: RotationState) {
  return undoUnpromoted(deps, credential, await deps.store.listVersions(credential.secretId), s.rotationId);
}

/**
 * The undo each step registers, run when the rotation is given up at that step (runner.ts). Until
 * promote, what the rotation made is given back; from grace on the new key is what consumers read,
 * so nothing is undone and the alert asks a person.
 */
const UNDO: Partial<Record<Step, typeof giveBack>> = {
  [Step.Create]: giveBack,
  [Step.Verify]: giveBack,
  [Step.Promote]: giveBack,
};

/** Runs the undo registered for the step the rotation reached; "nothing" when none is. */
export async function undoKeyApi(
  credential: RotationCredential,
  deps: RotationDeps,
  s: RotationState,
): Promise<"undone" | "promoted" | "nothing"> {
  const undo = UNDO[s.step];
  return undo ? undo(credential, deps, s) : "nothing";
}

async function rollBack(credential: RotationCredential, deps: RotationDeps, s: RotationState, reason: string) {
  await giveBack(credential, deps, s);
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
  versions: VersionInfo[],
): Promise<{ until: number; reason: string; graceExtendedMs: number } | undefined> {
  const now = deps.clock.now();
  const extended = s.graceExtendedMs ?? 0;
  if (s.emergency) return undefined;
  if (s.graceUntil !== undefined && now < s.graceUntil)
    return { until: s.graceUntil, reason: "grace period", graceExtendedMs: extended };
  if (!deps.usageGate) return undefined;
  const previous = versions.find((v) => v.stages.includes(STAGE_PREVIOUS));
  if (!previous) return undefined;
  const old = await readKeyValue(deps, credential, previous.versionId, "the key being replaced");
  const use = await deps.usageGate.oldKeyUse(credential.id, deps.value.secretOf(old));
  if (!use.inUse) return undefined;
  const details = { perMinute: use.perMinute, deferredMs: extended };
  if (extended >= credential.maxGraceExtensionMs) {
    await deps.alerter.raise({
      credentialId: credential.id,
      severity: "critical",
      kind: "old-key-in-use",
      step: Step.Grace,
      rotationId: s.rotationId,
      details,
      summary: `revoking the old key although it is still used (${use.perMinute}/min): the deferral bound was reached`,
    });
    return undefined;
  }
  await deps.alerter.raise({
    credentialId: credential.id,
    severity: "warning",
    kind: "old-key-in-use",
    step: Step.Grace,
    rotationId: s.rotationId,
    details,
    summary: `revocation deferred: the old key is still used (${use.perMinute}/min)`,
  });
  const step = deps.usageGate.sampleEveryMs;
  return { until: now + step, reason: `old key still in use (${use.perMinute}/min)`, graceExtendedMs: extended + step };
}
