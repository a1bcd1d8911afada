/**
 * The ports: the small interfaces the rotation is written against. Adapters implement them
 * (the AWS SDK store, each vendor's HTTP client); tests implement them with fakes
 * that record calls. Nothing here does I/O.
 *
 * Glossary
 * - credential: one entry of the inventory: a vendor key kept in one Secrets Manager secret.
 * - rotation: replacing a credential's key once; its id (`rotationId`, a UUID) is also the
 *   ClientRequestToken and so the VersionId of the store version it writes.
 * - version / stage: a Secrets Manager secret version and its labels (AWSCURRENT, AWSPENDING,
 *   AWSPREVIOUS). AWSPENDING on a version that is not AWSCURRENT means "rotation in progress".
 * - key id: the vendor's identifier of a key; safe to log. The key itself is a
 *   SecretValue and is never logged.
 * - verdict: what a vendor said of a key: accepted, or refused with a reason. A refusal is a
 *   value, not an exception; an unreachable vendor is an exception.
 */
import type { SecretValue } from "./secret.js";

export const STAGE_CURRENT = "AWSCURRENT";
export const STAGE_PENDING = "AWSPENDING";
export const STAGE_PREVIOUS = "AWSPREVIOUS";

export interface VersionInfo {
  versionId: string;
  stages: string[];
  createdAt: Date;
}

export interface StoredVersion extends VersionInfo {
  value: SecretValue;
}

export type VersionRef = { versionId: string } | { stage: string };

/** One secret as a listing shows it (ListSecrets): its stages and tags, never its value. */
export interface SecretListing {
  /** The secret's name. */
  name: string;
  arn: string;
  /** Version id -> its stages; a listing shows only versions that carry a stage. */
  stages: Record<string, string[]>;
  tags: Record<string, string>;
}

/** One page of a listing in name order, and the token of the next page (absent: the last page). */
export interface SecretPage {
  secrets: SecretListing[];
  next?: string;
}

/** What a batch read of current versions gives: each secret's version, or why it could not be read. */
export interface CurrentVersions {
  /** By the secret id it was asked for. */
  read: Map<string, StoredVersion>;
  /** By the secret id it was asked for: InvalidStateError (missing, deleted) or StoreError. */
  failed: Map<string, Error>;
}

/**
 * A secret store (AWS Secrets Manager). Knows nothing of vendors. Every method throws StoreError
 * for faults (retryable when throttled or 5xx) and InvalidStateError when the secret does not
 * exist or is scheduled for deletion.
 */
export interface SecretStore {
  /** Every version of the secret with its stages and creation time. Read-only, safe to repeat. */
  listVersions(secretId: string): Promise<VersionInfo[]>;

  /**
   * Reads one version by id or stage. InvalidStateError when there is no such version. A caching
   * store (cached-secret-store.ts) remembers a read by id; a read by stage only when `keep` says so.
   */
  read(secretId: string, ref: VersionRef, keep?: boolean): Promise<StoredVersion>;

  /**
   * Writes a new version staged AWSPENDING with ClientRequestToken = `token`. Safe to repeat
   * with the same token and value (no new version); the same token with another value throws
   * InvalidStateError. Returns the version id (equal to the token).
   */
  putPending(secretId: string, token: string, value: SecretValue): Promise<string>;

  /**
   * Moves AWSCURRENT to `versionId`; the version that held it becomes AWSPREVIOUS. Safe to
   * repeat: a version that is already current is left as it is. With `fromVersionId` the move is
   * a compare-and-set: it happens only while `fromVersionId` holds AWSCURRENT, and otherwise throws
   * SupersededError (someone else moved it), never moving it from the newer holder.
   */
  promote(secretId: string, versionId: string, fromVersionId?: string): Promise<void>;

  /** Removes AWSPENDING from `versionId`. Safe to repeat: no stage there is a no-op. */
  removePending(secretId: string, versionId: string): Promise<void>;

  /**
   * Records on the secret itself that rotation `versionId` is finished (the key it replaced is
   * revoked and refused). A tag, not a version: it costs nothing of the write quota that
   * PutSecretValue and UpdateSecretVersionStage share. Safe to repeat; a later call replaces it.
   */
  markFinished(secretId: string, versionId: string): Promise<void>;

  /** The version id the secret's finished-marker names, or undefined when there is none. */
  finishedRotation(secretId: string): Promise<string | undefined>;

  /**
   * The secrets whose names start with one of `namePrefixes` (at most 10; none: every secret),
   * read page by page (ListSecrets: 100 secrets a call). Secrets planned for deletion are left
   * out. Read-only, safe to repeat; throws StoreError when a page cannot be read.
   */
  listSecrets(namePrefixes: string[]): Promise<SecretListing[]>;

  /**
   * One page of that listing in name order, from `token` (an earlier page's `next`; undefined: the
   * first page), so that the pages of one listing can be read apart: a tick's shards each read
   * their own run of them. A filtered page may hold few secrets or none and still have a `next`.
   * A token of another listing, or one the store no longer takes, throws StoreError. Read-only.
   * Optional: a store without it is listed whole.
   */
  listSecretsPage?(namePrefixes: string[], token?: string): Promise<SecretPage>;

  /**
   * The AWSCURRENT version of each secret, by name or ARN (BatchGetSecretValue: 20 secrets a call).
   * A secret that cannot be read is in `failed`, not an exception; so is each secret of a call that
   * failed as a whole (a StoreError). Read-only, safe to repeat. `keep` says which of the versions
   * read will be read again by id soon (a due key, about to be rotated): a caching store
   * (cached-secret-store.ts) remembers those values, and no others.
   */
  readCurrent(secretIds: string[], keep?: (secretId: string, createdAt: Date) => boolean): Promise<CurrentVersions>;
}

/** A replica region's state (Secrets Manager replication). */
export interface ReplicaState {
  region: string;
  status: "InSync" | "InProgress" | "Failed";
  /** The version the replica serves as AWSCURRENT, read in its region (undefined: none yet, or unreadable). */
  currentVersionId?: string | undefined;
}

/**
 * Where a secret's replicas in other regions stand. Read-only, safe to repeat; throws StoreError
 * for faults. A secret that is not replicated has none ([]).
 */
export interface ReplicaWatch {
  replicas(secretId: string): Promise<ReplicaState[]>;
}

/** The tag that holds the finished-marker (its value is the finished rotation's version id). */
export const FINISHED_TAG = "key-rotator:finished";

/** Rate-limit figures a vendor reported on a response (`X-RateLimit-*` headers). */
export interface UsageSample {
  limit: number;
  remaining: number;
  /** Epoch seconds when the window resets. */
  resetAt: number;
}

/** When a key's usage counts as anomalous (the usage watcher), for vendors that report usage. */
export interface UsagePolicy {
  /** Use above this many times the baseline is an anomaly. */
  factor: number;
  /** Warn when this share of the day's quota would be spent. */
  quotaWarnRatio: number;
  /** Requests a day the vendor's plan allows, when known. */
  perDay?: number;
}

export type Verdict = { valid: true; usage?: UsageSample } | { valid: false; status: number; reason: string };

/** Checks whether the vendor accepts a key. Safe to repeat; throws VendorError when unreachable. */
export interface KeyVerifier {
  verify(key: SecretValue): Promise<Verdict>;
}

export interface CreatedKey {
  keyId: string;
  name: string;
  key: SecretValue;
  createdAt: Date;
}

export interface ListedKey {
  keyId: string;
  name: string;
  createdAt: Date;
}

/**
 * A vendor with a key API. Single calls only: it knows nothing of stores, alerts or
 * the order of a rotation.
 */
export interface KeyApiVendor extends KeyVerifier {
  /**
   * Creates a key with this name. Not idempotent: calling twice makes two keys. Throws
   * OutcomeUnknownError when the request may have reached the vendor but no answer came back.
   */
  createKey(name: string): Promise<CreatedKey>;

  /** Revokes a key. Safe to repeat: a key the vendor does not know (404) is `already-gone`. */
  revokeKey(keyId: string): Promise<"revoked" | "already-gone">;

  /**
   * Every key of the account (names and ids, never the key), read page by page where the vendor
   * pages. With `limit`, at least that many keys and perhaps a few more (a page): enough to prove
   * the management login works. Safe to repeat.
   */
  listKeys(options?: { limit?: number }): Promise<ListedKey[]>;
}

export type Severity = "info" | "warning" | "critical";

/** An alert about one credential. Never carries a secret value. */
export interface Alert {
  credentialId: string;
  severity: Severity;
  /** Stable name of the condition, used to suppress repeats and to resolve (`verify-failed`). */
  kind: string;
  summary: string;
  step?: string;
  rotationId?: string;
  details?: Record<string, string | number | boolean>;
  /**
   * A deliberate reminder: the raiser keeps its own cadence (an operator flow's `operator.remindEvery`), so
   * the router sends it even while the same alert is open, instead of suppressing it as a repeat
   * for its re-notify window. Only for raisers that pace themselves; a resolve works as usual.
   */
  reminder?: boolean;
}

/** Sends alerts. Never throws and never blocks a rotation for long: failures are logged. */
export interface Alerter {
  raise(alert: Alert): Promise<void>;
  resolve(credentialId: string, kind: string): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
