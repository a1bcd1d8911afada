/**
 * The orphan sweep (rules 2 and 11 of DESIGN.md): a key at the vendor that carries our name
 * (`key-rotator/<credential>/<rotationId>`) but whose key id no staged version of that
 * credential's secret holds is revoked. Keys are matched by id, never by name: a create retried
 * under the same name makes a second key, and the first is an orphan although a version carries
 * its name. A version holds a key while it is AWSCURRENT, AWSPREVIOUS or AWSPENDING; keys of
 * unstaged versions (rolled back, long replaced) and of versions that never reached the store
 * (a crash between create and store) are orphans. A key younger than `minAgeMs` is left alone
 * while a rotation of its credential is in flight: it may be between its create and its store
 * write right now. Redis can only make the sweep wait for that (at most `minAgeMs`).
 *
 * Cost: a key that the credential's current version holds is held, whatever else the secret
 * stages; the current versions are read 20 a call (BatchGetSecretValue), so a steady fleet (one
 * key per credential, the current one) costs a twentieth of a call a credential. Only a key the
 * current version does not hold gets the full look (every staged version, one call each).
 * An account whose list of keys fails is left alone this time and raises one alert
 * (`orphan-sweep-list`, account-alert.ts) naming the account, resolved by the next sweep whose list
 * works: a vendor answer that outgrew the client, or a login refused, would otherwise stop the
 * sweep in silence.
 * Must not: touch a key without our name prefix, or one of a credential not in the inventory.
 */
import { describeError } from "../core/errors.js";
import {
  STAGE_CURRENT,
  STAGE_PENDING,
  STAGE_PREVIOUS,
  type Alerter,
  type KeyApiVendor,
  type SecretStore,
} from "../core/ports.js";
import { accountAlert, accountAlertId } from "./account-alert.js";
import type { Logger } from "../observability/logger.js";
import type { KeyApiValue, ValueShape } from "../core/stored-value.js";
import { type ValueReader, readKeyValue } from "../rotation/revocation.js";

export interface SweepAccount {
  /** A vendor account (one management login) and the credentials it holds keys for. */
  vendor: KeyApiVendor;
  /** The vendor's value shape, to read which key each staged version holds. */
  value: ValueShape<KeyApiValue>;
  credentials: Array<{ id: string; secretId: string }>;
  /** The account's vendor and base URL, to name it in an alert. */
  vendorId?: string;
  baseUrl?: string;
}

export interface OrphanSweepContext {
  accounts: SweepAccount[];
  store: SecretStore;
  log: Logger;
  now(): number;
  minAgeMs: number;
  /** Whether a rotation of this credential may be running now (Redis's word; it can only delay). */
  rotationInFlight?(credentialId: string): Promise<boolean>;
  /** Where an account's failed list goes (one alert an account); absent: the log alone. */
  alerter?: Alerter;
}

export interface SweepSummary {
  keysSeen: number;
  revoked: string[];
  errors: number;
}

const OUR_NAME = /^key-rotator\/([^/]+)\/([^/]+)$/;
const STAGED = [STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS];

export async function runOrphanSweep(ctx: OrphanSweepContext): Promise<SweepSummary> {
  const summary: SweepSummary = { keysSeen: 0, revoked: [], errors: 0 };
  for (const account of ctx.accounts) {
    const byId = new Map(account.credentials.map((c) => [c.id, c]));
    // Per credential, the key ids its staged versions hold; undefined when they cannot be read
    // (a hand-edited value, say): then none of its keys is touched this time.
    const held = new Map<string, Set<string> | undefined>();
    const heldBy = async (c: { id: string; secretId: string }) => {
      if (!held.has(c.id)) {
        held.set(
          c.id,
          await heldKeyIds({ store: ctx.store, value: account.value }, c).catch((err: unknown) => {
            summary.errors += 1;
            ctx.log.warn(
              { event: "orphan-sweep.error", credentialId: c.id, error: describeError(err) },
              `orphan sweep: the staged keys of ${c.id} could not be read; its keys are left alone`,
            );
            return undefined;
          }),
        );
      }
      return held.get(c.id);
    };
    let keys: Awaited<ReturnType<KeyApiVendor["listKeys"]>>;
    try {
      keys = await account.vendor.listKeys();
    } catch (err) {
      summary.errors += 1;
      await listFailed(ctx, account, err);
      continue;
    }
    await ctx.alerter?.resolve(accountAlertId(account.credentials.map((c) => c.id)), LIST_FAILED);
    try {
      const heldByCurrent = await currentKeyIds(ctx.store, account, keys, byId);
      for (const key of keys) {
        summary.keysSeen += 1;
        const m = OUR_NAME.exec(key.name);
        const credential = m ? byId.get(m[1] ?? "") : undefined;
        if (!m || !credential) continue;
        if (heldByCurrent.get(credential.id) === key.keyId) continue;
        const ids = await heldBy(credential);
        if (!ids || ids.has(key.keyId)) continue;
        const young = ctx.now() - key.createdAt.getTime() < ctx.minAgeMs;
        if (young && (!ctx.rotationInFlight || (await ctx.rotationInFlight(credential.id)))) continue;
        await account.vendor.revokeKey(key.keyId);
        summary.revoked.push(key.keyId);
        ctx.log.warn(
          { event: "orphan-sweep.revoked", credentialId: credential.id, keyId: key.keyId, rotationId: m[2] },
          `revoked orphan key ${key.keyId} of ${credential.id}`,
        );
      }
    } catch (err) {
      summary.errors += 1;
      ctx.log.warn({ event: "orphan-sweep.error", error: describeError(err) }, "orphan sweep of an account failed");
    }
  }
  return summary;
}

const LIST_FAILED = "orphan-sweep-list";

async function listFailed(ctx: OrphanSweepContext, account: SweepAccount, err: unknown): Promise<void> {
  const alert = accountAlert({
    vendor: account.vendorId ?? "a vendor",
    baseUrl: account.baseUrl,
    credentialIds: account.credentials.map((c) => c.id),
    kind: LIST_FAILED,
    says: (credentials) =>
      `the orphan sweep cannot list the account's keys, so keys left over by failed rotations of ${credentials} stay live: ${describeError(err)}`,
  });
  ctx.log.warn(
    { event: "orphan-sweep.error", credentialId: alert.credentialId, ...alert.details, error: describeError(err) },
    alert.summary,
  );
  await ctx.alerter?.raise(alert);
}

/**
 * The key id each credential's current version holds, for the credentials our keys name: read 20
 * secrets a call. One that cannot be read or parsed is left out (its keys get the full look).
 */
async function currentKeyIds(
  store: SecretStore,
  account: SweepAccount,
  keys: Array<{ name: string }>,
  byId: Map<string, { id: string; secretId: string }>,
): Promise<Map<string, string>> {
  const named = new Map<string, { id: string; secretId: string }>();
  for (const key of keys) {
    const c = byId.get(OUR_NAME.exec(key.name)?.[1] ?? "");
    if (c) named.set(c.secretId, c);
  }
  const out = new Map<string, string>();
  if (named.size === 0) return out;
  const read = await store.readCurrent([...named.keys()]).catch(() => undefined);
  for (const [secretId, version] of read?.read ?? []) {
    const c = named.get(secretId);
    if (!c || !version.stages.includes(STAGE_CURRENT)) continue;
    try {
      out.set(c.id, account.value.parse(version.value, `${c.id}: secret ${secretId} (current)`).keyId);
    } catch {
      // not ours to read: the full look decides
    }
  }
  return out;
}

/** The key ids the credential's staged versions hold. */
async function heldKeyIds(reader: ValueReader, c: { id: string; secretId: string }): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const v of await reader.store.listVersions(c.secretId)) {
    if (!v.stages.some((stage) => STAGED.includes(stage))) continue;
    ids.add((await readKeyValue(reader, c, v.versionId, "a staged key")).keyId);
  }
  return ids;
}
