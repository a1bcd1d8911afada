/**
 * A SecretStore decorator that remembers values read by version id. A Secrets Manager version's
 * value never changes once written, so a cached read by id is always right; reads by stage, batch
 * reads of current versions and every listing go to the store. This saves the re-read of the old
 * key at confirm, which keeps a rotation within six store calls, and so does remembering the value
 * a put wrote. A read by stage is remembered by the version id it returned when its caller says
 * to keep it (an emergency's first read of its old key, which promote reads again by id). Values stay in process memory only, wrapped in SecretValue, for at most `ttlMs`, and
 * at most `maxEntries` of them.
 *
 * Must not: remember what readCurrent returns beyond what its caller says to keep. A due check
 * reads every secret of the fleet that way, nearly all of them not due; kept for an hour, those
 * values were the idle worker's largest heap (about 4 MiB at 10,000 credentials, every key's
 * plaintext among it). It keeps the due ones: their rotation reads the old key by id at once.
 */
import type {
  CurrentVersions,
  SecretListing,
  SecretStore,
  StoredVersion,
  VersionInfo,
  VersionRef,
} from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";

export class CachedSecretStore implements SecretStore {
  readonly #inner: SecretStore;
  // One flat entry a version, its creation time a number: a Date and a copy of the StoredVersion
  // each would cost about 100 bytes more. The entries are in the order they expire
  // (re-remembering moves one to the end).
  readonly #cache = new Map<string, CacheEntry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(inner: SecretStore, options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.#inner = inner;
    this.#ttlMs = options.ttlMs ?? 3_600_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  listVersions(secretId: string): Promise<VersionInfo[]> {
    return this.#inner.listVersions(secretId);
  }

  async read(secretId: string, ref: VersionRef, keep = false): Promise<StoredVersion> {
    if (!("versionId" in ref)) {
      const version = await this.#inner.read(secretId, ref);
      if (keep) this.#remember(`${secretId}\u0000${version.versionId}`, version);
      return version;
    }
    const key = `${secretId}\u0000${ref.versionId}`;
    this.#dropExpired();
    const hit = this.#cache.get(key);
    if (hit) return { versionId: hit.versionId, stages: [], createdAt: new Date(hit.createdAt), value: hit.value };
    const version = await this.#inner.read(secretId, ref);
    this.#remember(key, version);
    return version;
  }

  async putPending(secretId: string, token: string, value: SecretValue): Promise<string> {
    const versionId = await this.#inner.putPending(secretId, token, value);
    // The value just written is what a read of this version returns: verify need not read it back.
    this.#remember(`${secretId}\u0000${versionId}`, { versionId, stages: [], createdAt: new Date(this.#now()), value });
    return versionId;
  }

  promote(secretId: string, versionId: string, fromVersionId?: string): Promise<void> {
    return this.#inner.promote(secretId, versionId, fromVersionId);
  }

  removePending(secretId: string, versionId: string): Promise<void> {
    return this.#inner.removePending(secretId, versionId);
  }

  markFinished(secretId: string, versionId: string): Promise<void> {
    return this.#inner.markFinished(secretId, versionId);
  }

  finishedRotation(secretId: string): Promise<string | undefined> {
    return this.#inner.finishedRotation(secretId);
  }

  listSecrets(namePrefixes: string[]): Promise<SecretListing[]> {
    return this.#inner.listSecrets(namePrefixes);
  }

  get listSecretsPage(): SecretStore["listSecretsPage"] {
    return this.#inner.listSecretsPage?.bind(this.#inner);
  }

  /** Always asks the store (AWSCURRENT moves); remembers by version id only what `keep` says (see the top of the file). */
  async readCurrent(
    secretIds: string[],
    keep?: (secretId: string, createdAt: Date) => boolean,
  ): Promise<CurrentVersions> {
    const out = await this.#inner.readCurrent(secretIds);
    if (keep)
      for (const [secretId, version] of out.read)
        if (keep(secretId, version.createdAt)) this.#remember(`${secretId}\u0000${version.versionId}`, version);
    return out;
  }

  #remember(key: string, version: StoredVersion): void {
    this.#dropExpired();
    this.#cache.delete(key);
    if (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    // Stages change over time; callers of a read by id use the value, so they are not kept.
    this.#cache.set(key, {
      versionId: version.versionId,
      createdAt: version.createdAt.getTime(),
      value: version.value,
      until: this.#now() + this.#ttlMs,
    });
  }

  /** Forgets the entries past their TTL: the oldest come first, so this stops at the first still fresh. */
  #dropExpired(): void {
    const now = this.#now();
    for (const [key, entry] of this.#cache) {
      if (entry.until > now) return;
      this.#cache.delete(key);
    }
  }
}

interface CacheEntry {
  versionId: string;
  /** Epoch milliseconds. */
  createdAt: number;
  value: SecretValue;
  until: number;
}
