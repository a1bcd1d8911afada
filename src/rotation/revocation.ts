/**
 * Every revocation a rotation makes, with its target taken from the store, never from Redis
 * (DESIGN.md rules 8 and 11):
 * - `finishPromoted`: the end of a promoted rotation. The key to revoke is the one its store
 *   version says it replaced (`replacesKeyId`, written with the version), then the rotation is
 *   marked finished on the secret, so Redis loss does not make anyone repeat it.
 * - `undoUnpromoted`: a rotation that will not be promoted gives back what it made: the key its
 *   pending version holds, or keys made under its name that never reached the store.
 * - the guard under both: a key that the secret's AWSCURRENT or AWSPENDING version holds is never
 *   revoked, whoever asks.
 *
 * Must not: take a key id, version id or step from job data as a target, or decide the order of
 * a rotation (rotation.ts does).
 */
import { InvalidStateError, VendorError } from "../core/errors.js";
import {
  STAGE_CURRENT,
  STAGE_PENDING,
  STAGE_PREVIOUS,
  type KeyApiVendor,
  type SecretStore,
  type StoredVersion,
  type VersionInfo,
} from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import type { KeyApiValue, ValueShape } from "../core/stored-value.js";

export interface RevocationCredential {
  id: string;
  secretId: string;
}

/** Where a key-API value is read: the store, and the vendor's value shape. */
export interface ValueReader {
  store: SecretStore;
  value: ValueShape<KeyApiValue>;
}

export interface RevocationDeps extends ValueReader {
  vendor: KeyApiVendor;
}

/** The name the vendor key gets; the orphan sweep recognises our keys by it. */
export function keyNameFor(credentialId: string, rotationId: string): string {
  return `key-rotator/${credentialId}/${rotationId}`;
}

/** Reads a version's value in the vendor's key-API shape (from `read` when that is the version, already read). */
export async function readKeyValue(
  reader: ValueReader,
  c: RevocationCredential,
  versionId: string,
  what: string,
  read?: StoredVersion,
): Promise<KeyApiValue> {
  const version = read?.versionId === versionId ? read : await reader.store.read(c.secretId, { versionId });
  return reader.value.parse(version.value, `${c.id}: secret ${c.secretId} version ${versionId} (${what})`);
}

/**
 * The version (other than `except`) that carries AWSCURRENT or AWSPENDING and holds `keyId`, if
 * any. A staged value that cannot be read as ours cannot be cleared, so it counts as holding it.
 */
export async function stagedHolder(
  reader: ValueReader,
  c: RevocationCredential,
  versions: VersionInfo[],
  keyId: string,
  except?: string,
): Promise<string | undefined> {
  for (const v of versions) {
    if (v.versionId === except || !(v.stages.includes(STAGE_CURRENT) || v.stages.includes(STAGE_PENDING))) continue;
    const held = await readKeyValue(reader, c, v.versionId, "a staged key").then(
      (value) => value.keyId === keyId,
      () => true,
    );
    if (held) return v.versionId;
  }
  return undefined;
}

/** Revokes `keyId` unless a staged version holds it; then throws, since something upstream is wrong. */
async function revokeUnlessStaged(
  deps: RevocationDeps,
  c: RevocationCredential,
  versions: VersionInfo[],
  keyId: string,
  except?: string,
): Promise<"revoked" | "already-gone"> {
  const holder = await stagedHolder(deps, c, versions, keyId, except);
  if (holder) {
    throw new InvalidStateError(
      `${c.id}: refusing to revoke key ${keyId}: version ${holder} of secret ${c.secretId} is staged with it (AWSCURRENT or AWSPENDING)`,
    );
  }
  return deps.vendor.revokeKey(keyId);
}

export interface FinishOptions {
  /** Look before revoking: a rotation resumed from the store may have been finished already. */
  verifyFirst: boolean;
  /** Called between the revoke and the confirm, for the step record. */
  onRevoked?(keyId: string): Promise<void>;
}

/**
 * Finishes rotation `versionId`, which was promoted: revokes the key its version replaced, checks
 * that the vendor now refuses it, and marks the rotation finished on the secret. Safe to repeat.
 * Returns the revoked key id (undefined when the version replaced no key we know of).
 */
export async function finishPromoted(
  deps: RevocationDeps,
  c: RevocationCredential,
  versions: VersionInfo[],
  versionId: string,
  o: FinishOptions,
): Promise<string | undefined> {
  const mine = versions.find((v) => v.versionId === versionId);
  const current = mine?.stages.includes(STAGE_CURRENT) ?? false;
  if (!mine || !(current || mine.stages.includes(STAGE_PREVIOUS))) {
    throw new InvalidStateError(
      `${c.id}: rotation ${versionId} was never promoted (its version is not AWSCURRENT or AWSPREVIOUS): it replaced no key`,
    );
  }
  const value = await readKeyValue(deps, c, versionId, "the new key");
  const target = value.replacesKeyId ?? (current ? await previousKeyId(deps, c, versions) : undefined);
  if (target !== undefined && target !== value.keyId) {
    const oldSecret = await secretOfKey(deps, c, versions, target);
    const alreadyRefused = o.verifyFirst && oldSecret !== undefined && (await refused(deps.vendor, oldSecret));
    if (!alreadyRefused) {
      await revokeUnlessStaged(deps, c, versions, target);
      await o.onRevoked?.(target);
      if (oldSecret && (await deps.vendor.verify(oldSecret)).valid) {
        throw new VendorError(`${c.id}: the old key ${target} is still accepted after its revocation`, {
          retryable: true,
        });
      }
    }
  }
  if (current) await deps.store.markFinished(c.secretId, versionId);
  return target;
}

/**
 * Gives back what rotation `versionId` made, when it will not be promoted: the key its pending
 * version holds (then the pending stage goes), or, when no version of it reached the store, any
 * key made under its name that no staged version holds. A version that is or was current is left
 * alone: that rotation is past undoing.
 */
export async function undoUnpromoted(
  deps: RevocationDeps,
  c: RevocationCredential,
  versions: VersionInfo[],
  versionId: string,
): Promise<"undone" | "promoted"> {
  const mine = versions.find((v) => v.versionId === versionId);
  if (!mine) {
    await revokeUnstoredKeys(deps, c, versions, keyNameFor(c.id, versionId));
    return "undone";
  }
  if (mine.stages.includes(STAGE_CURRENT) || mine.stages.includes(STAGE_PREVIOUS)) return "promoted";
  const value = await readKeyValue(deps, c, versionId, "the new key");
  await revokeUnlessStaged(deps, c, versions, value.keyId, versionId);
  await deps.store.removePending(c.secretId, versionId);
  return "undone";
}

/** Revokes keys with this name that no staged version holds (a create whose key never reached the store). */
export async function revokeUnstoredKeys(
  deps: RevocationDeps,
  c: RevocationCredential,
  versions: VersionInfo[],
  name: string,
): Promise<string[]> {
  const revoked: string[] = [];
  for (const key of await deps.vendor.listKeys()) {
    if (key.name !== name) continue;
    if (await stagedHolder(deps, c, versions, key.keyId)) continue;
    await deps.vendor.revokeKey(key.keyId);
    revoked.push(key.keyId);
  }
  return revoked;
}

/** The vendor refuses the key as unknown or revoked (401); a 403 (forbidden, but alive) is not that. */
async function refused(vendor: KeyApiVendor, key: SecretValue): Promise<boolean> {
  const verdict = await vendor.verify(key);
  return !verdict.valid && verdict.status === 401;
}

/** Versions written before `replacesKeyId` existed: the replaced key is AWSPREVIOUS's. */
async function previousKeyId(
  reader: ValueReader,
  c: RevocationCredential,
  versions: VersionInfo[],
): Promise<string | undefined> {
  const previous = versions.find((v) => v.stages.includes(STAGE_PREVIOUS));
  return previous ? (await readKeyValue(reader, c, previous.versionId, "the key replaced")).keyId : undefined;
}

/** The secret of key `keyId`, from the AWSPREVIOUS version when it holds that key (to confirm the revoke). */
async function secretOfKey(
  reader: ValueReader,
  c: RevocationCredential,
  versions: VersionInfo[],
  keyId: string,
): Promise<SecretValue | undefined> {
  const previous = versions.find((v) => v.stages.includes(STAGE_PREVIOUS));
  if (!previous) return undefined;
  const value = await readKeyValue(reader, c, previous.versionId, "the key replaced").catch(() => undefined);
  return value?.keyId === keyId ? reader.value.secretOf(value) : undefined;
}
