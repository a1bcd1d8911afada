/**
 * A SecretStore over several: each secret goes to the store of its credential's region and role
 * (one AWS client each), so a fleet may span regions and accounts. Calls about one secret go to
 * its store; a listing or a batch read is split by store and merged. The inventory guarantees a
 * secret id names one place (a name used in two regions or accounts must be given as its ARN).
 * Knows nothing of vendors.
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

export class RoutedSecretStore implements SecretStore {
  readonly #stores: SecretStore[];

  constructor(
    /** Secret id -> its store; secrets not listed go to `fallback`. */
    private readonly routes: ReadonlyMap<string, SecretStore>,
    private readonly fallback: SecretStore,
    /** Whether some of the fleet's secrets are the fallback's; default: when none is routed. */
    fallbackHolds = routes.size === 0,
  ) {
    this.#stores = [...new Set([...(fallbackHolds ? [fallback] : []), ...routes.values()])];
  }

  #of(secretId: string): SecretStore {
    return this.routes.get(secretId) ?? this.fallback;
  }

  listVersions(secretId: string): Promise<VersionInfo[]> {
    return this.#of(secretId).listVersions(secretId);
  }

  read(secretId: string, ref: VersionRef, keep?: boolean): Promise<StoredVersion> {
    return this.#of(secretId).read(secretId, ref, keep);
  }

  putPending(secretId: string, token: string, value: SecretValue): Promise<string> {
    return this.#of(secretId).putPending(secretId, token, value);
  }

  promote(secretId: string, versionId: string, fromVersionId?: string): Promise<void> {
    return this.#of(secretId).promote(secretId, versionId, fromVersionId);
  }

  removePending(secretId: string, versionId: string): Promise<void> {
    return this.#of(secretId).removePending(secretId, versionId);
  }

  markFinished(secretId: string, versionId: string): Promise<void> {
    return this.#of(secretId).markFinished(secretId, versionId);
  }

  finishedRotation(secretId: string): Promise<string | undefined> {
    return this.#of(secretId).finishedRotation(secretId);
  }

  /**
   * Every store's listing under the prefixes; a store lists only the secrets routed to it. The
   * stores are asked at once: each region (and account) has its own read quota.
   */
  async listSecrets(namePrefixes: string[]): Promise<SecretListing[]> {
    const stores = this.#stores;
    const listings = await Promise.all(stores.map((store) => store.listSecrets(namePrefixes)));
    return stores.flatMap((store, i) =>
      (listings[i] ?? []).filter(
        (listing) => (this.routes.get(listing.name) ?? this.routes.get(listing.arn) ?? this.fallback) === store,
      ),
    );
  }

  /**
   * A page of the one store's listing; with secrets in several stores (regions, accounts) there
   * is no one listing to page through, and the tick lists them whole.
   */
  get listSecretsPage(): SecretStore["listSecretsPage"] {
    const stores = this.#stores;
    const store = stores.length === 1 ? stores[0] : undefined;
    const page = store?.listSecretsPage?.bind(store);
    if (!store || !page) return undefined;
    return async (namePrefixes, token) => {
      const out = await page(namePrefixes, token);
      const ours = (l: SecretListing) => (this.routes.get(l.name) ?? this.routes.get(l.arn) ?? this.fallback) === store;
      return { ...out, secrets: out.secrets.filter(ours) };
    };
  }

  async readCurrent(secretIds: string[]): Promise<CurrentVersions> {
    const byStore = new Map<SecretStore, string[]>();
    for (const id of secretIds) {
      const store = this.#of(id);
      const ids = byStore.get(store);
      if (ids) ids.push(id);
      else byStore.set(store, [id]);
    }
    // Each store at once (its own region's read quota), merged in the stores' order.
    const parts = await Promise.all([...byStore].map(([store, ids]) => store.readCurrent(ids)));
    const merged: CurrentVersions = { read: new Map(), failed: new Map() };
    for (const part of parts) {
      for (const [id, v] of part.read) merged.read.set(id, v);
      for (const [id, e] of part.failed) merged.failed.set(id, e);
    }
    return merged;
  }
}
