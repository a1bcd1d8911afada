/**
 * The orphan sweep (rule 2 of DESIGN.md): a key at the vendor that carries our name
 * (`key-rotator/<credential>/<rotationId>`) but that no staged store version refers to is
 * revoked. A version refers to a key while it is AWSCURRENT, AWSPREVIOUS or AWSPENDING; keys of
 * unstaged versions (rolled back, long replaced) and of versions that never reached the store
 * (a crash between create and store) are orphans. Keys younger than `minAgeMs` are left alone: a
 * rotation may be between its create and its store write right now.
 *
 * Must not: touch a key without our name prefix, or one of a credential not in the inventory.
 */
import { describeError } from "../src/core/errors.js";
import type { KeyApiVendor, SecretStore, VersionInfo } from "../src/core/ports.js";
import type { Logger } from "../src/observability/logger.js";

export interface SweepAccount {
  /** A vendor account (one management login) and the credentials it holds keys for. */
  vendor: KeyApiVendor;
  credentials: Array<{ id: string; secretId: string }>;
}

export interface OrphanSweepContext {
  accounts: SweepAccount[];
  store: SecretStore;
  log: Logger;
  now(): number;
  minAgeMs: number;
}

export interface SweepSummary {
  keysSeen: number;
  revoked: string[];
  errors: number;
}

const OUR_NAME = /^key-rotator\/([^/]+)\/([^/]+)$/;

export async function runOrphanSweep(ctx: OrphanSweepContext): Promise<SweepSummary> {
  const summary: SweepSummary = { keysSeen: 0, revoked: [], errors: 0 };
  for (const account of ctx.accounts) {
    const byId = new Map(account.credentials.map((c) => [c.id, c]));
    const versionsOf = new Map<string, VersionInfo[]>();
    try {
      for (const key of await account.vendor.listKeys()) {
        summary.keysSeen += 1;
        const m = OUR_NAME.exec(key.name);
        const credential = m ? byId.get(m[1] ?? "") : undefined;
        if (!m || !credential) continue;
        if (ctx.now() - key.createdAt.getTime() < ctx.minAgeMs) continue;
        let versions = versionsOf.get(credential.id);
        if (!versions) versionsOf.set(credential.id, (versions = await ctx.store.listVersions(credential.secretId)));
        const version = versions.find((v) => v.versionId === m[2]);
        if (version && version.stages.length > 0) continue;
        await account.vendor.revokeKey(key.keyId);
        summary.revoked.push(key.keyId);
        ctx.log.warn({ event: "orphan-sweep.revoked", credentialId: credential.id, keyId: key.keyId, rotationId: m[2] }, `revoked orphan key ${key.keyId} of ${credential.id}`);
      }
    } catch (err) {
      summary.errors += 1;
      ctx.log.warn({ event: "orphan-sweep.error", error: describeError(err) }, "orphan sweep of an account failed");
    }
  }
  return summary;
}
