/**
 * The health check (a job scheduler, every 15 minutes by default), per credential:
 *   store      the secret can be read (and its current version parses)
 *   key        the current key is accepted by the vendor
 *   age        the key is not overdue (critical: a rotation that silently stopped pages someone)
 *              and, where a person must act (operator flow), not due soon (warning, `ageWarnBeforeMs`
 *              ahead, so the pair can be made in working hours instead of under a deadline)
 *   management a key-API vendor's management login still works, so the next rotation can mint a key
 * Each failing check raises an alert (critical; a due-soon key a warning) and a critical one sets
 * key_rotator_health_check_failing; a passing one resolves it. The management check is one call
 * per vendor account, shared by its credentials: its alert and its failing series are the
 * account's, one however many credentials it holds (account-alert.ts), under its first credential. The same vendor call also yields
 * usage (the vendor's X-RateLimit-* headers), which the usage watcher turns into a baseline and
 * anomaly alerts, taking off every replica's probes of the key (counted in Redis, usage-watcher.ts).
 * The store is read in bulk (fleet-view.ts): the fleet's listing says each secret is there with a
 * current version, creation times are remembered by version, and the values of the keys shown to
 * the vendor this tick are read 20 a call. Each key is shown to its vendor on its own cadence
 * (`verifyEveryMs`, hourly by default: 24 of a Free CallCov key's 1,000 requests a day), a slice
 * of the fleet each tick, the slice a credential is in fixed by its id so every replica agrees;
 * the management login is checked once a cadence, on the first slice's tick (in a tick cut into
 * shards, by the shard that holds the account's first credential). A credential the
 * listing does not show is read alone, and that read names what is wrong.
 * Must not: change anything in the store or at the vendor.
 */
import { describeError } from "../core/errors.js";
import type { Alerter, KeyApiVendor, KeyVerifier, ReplicaWatch, SecretStore, UsageSample } from "../core/ports.js";
import type { ValueShape } from "../core/stored-value.js";
import type { Logger } from "../observability/logger.js";
import { type Metrics, recordKeyAge } from "../observability/metrics.js";
import type { DueDecision } from "../schedule/cadence.js";
import { accountAlert, accountAlertId } from "./account-alert.js";
import { CurrentVersionCache, type FleetView, currentVersionId, listFleet } from "./fleet-view.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface AgePolicy {
  /** How long before its due date a key gets a warning; 0: none (the worker rotates it alone). */
  warnBeforeMs: number;
  /** How long past due a key may be before it counts as overdue (a rotation may be running). */
  overdueAfterMs: number;
}

export type AgeVerdict = { level: "ok" } | { level: "warning" | "critical"; reason: string };

/**
 * Is the key's age a problem? Critical once it is more than `overdueAfterMs` past due; a warning
 * from `warnBeforeMs` before due until then; otherwise ok. A key never due (dueAt infinite) is ok.
 */
export function ageVerdict(createdAt: Date, dueAt: number, now: number, policy: AgePolicy): AgeVerdict {
  if (!Number.isFinite(dueAt)) return { level: "ok" };
  const age = `the key is ${Math.floor((now - createdAt.getTime()) / DAY)} d old`;
  if (now > dueAt + policy.overdueAfterMs) {
    return {
      level: "critical",
      reason: `overdue: the key is ${Math.round((now - dueAt) / HOUR)} h past its rotation date (${age}); rotations may have stopped`,
    };
  }
  if (policy.warnBeforeMs > 0 && now >= dueAt - policy.warnBeforeMs) {
    const when = now < dueAt ? `in ${span(dueAt - now)}` : `since ${span(now - dueAt)}`;
    return {
      level: "warning",
      reason: `due for rotation ${when} (${new Date(dueAt).toISOString()}), ${age}: a person must act`,
    };
  }
  return { level: "ok" };
}

function span(ms: number): string {
  return ms >= 2 * DAY ? `${Math.round(ms / DAY)} d` : `${Math.round(ms / HOUR)} h`;
}

export interface HealthCredential {
  id: string;
  vendor: string;
  /** The vendor's value shape: what in the stored value the vendor checks. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever the vendor keeps
  module: { value: ValueShape<any> };
  secretId: string;
  /** The vendor API's base URL, to name the account in an account's alert. */
  baseUrl?: string;
  schedule(keyCreatedAt: Date, now: number): DueDecision;
  /** How long before due the key gets a warning (settings.ageWarnBefore for its vendor); absent: none. */
  ageWarnBeforeMs?: number;
  /** The secret is replicated: its replicas are checked too. */
  replicated?: boolean;
}

export interface HealthContext {
  credentials: HealthCredential[];
  store: SecretStore;
  verifierFor(c: HealthCredential): KeyVerifier;
  /** Key-API vendors only: the management API, to prove the login still works. */
  managementFor(c: HealthCredential): KeyApiVendor | undefined;
  alerter: Alerter;
  log: Logger;
  metrics?: Metrics;
  now(): number;
  /** How long past due a key may be before it counts as overdue (a rotation may be running). */
  overdueAfterMs: number;
  /** How often the ticks run, and how often each key is shown to its vendor; absent: every key every tick. */
  tickEveryMs?: number;
  verifyEveryMs?: number;
  /** When current versions were made, kept between ticks (this process's memory). */
  currentVersions?: CurrentVersionCache;
  /** false: one read per credential, as before listings (for comparison). Default true. */
  listing?: boolean;
  /** How this run lists its secrets (a shard: its run of the listing's pages); default, listed whole by a filter. */
  fleetView?: () => Promise<FleetView | undefined>;
  /** Receives each usage sample the key check yields. */
  onUsage?(credentialId: string, usage: UsageSample): Promise<void>;
  /** Where a replicated secret's replicas stand. */
  replicasFor?(c: HealthCredential): ReplicaWatch;
  /**
   * The credential's whole vendor account in the inventory, when this run holds part of it (a
   * shard of the tick): the account's management check is then made by the run that holds its
   * first credential (`first`), and reported for all of them. Absent: this run holds every
   * credential of each account.
   */
  accountOf?(c: HealthCredential): { first: string; credentials: readonly HealthCredential[] };
  /** When the tick began, which picks the keys shown to their vendor (a shard may run later). Default: now. */
  tickAt?: number;
  concurrency?: number;
}

export type Check = "store" | "key" | "age" | "management" | "replica";

type Finding = { severity: "warning" | "critical"; reason: string } | undefined;

export interface HealthSummary {
  checked: number;
  /** Checks that fail (critical alerts). */
  failing: Array<{ credentialId: string; check: Check; reason: string }>;
  /** Checks that warn ahead (a key due soon that a person must rotate). */
  warnings: Array<{ credentialId: string; check: Check; reason: string }>;
}

/**
 * A vendor account's management check: one call, and the credentials that share it. No check:
 * another run (shard) of the tick holds the account's first credential and checks it.
 */
type AccountCheck = { check?: Promise<Finding>; credentials: readonly HealthCredential[] };

export async function runHealthCheck(ctx: HealthContext): Promise<HealthSummary> {
  const summary: HealthSummary = { checked: 0, failing: [], warnings: [] };
  const accounts = new Map<KeyApiVendor, AccountCheck>();
  const { known, verify, management } = await planTick(ctx);
  const queue = [...ctx.credentials];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const plan = { known: known.get(c.secretId), verify: verify(c), management };
      const results = await checkOne(ctx, c, accounts, plan);
      for (const [check, finding] of Object.entries(results) as Array<[Check, Finding]>) {
        if (check === "management") continue; // the account's, below
        ctx.metrics?.healthCheckFailing
          .labels({ credential: c.id, vendor: c.vendor, check })
          .set(finding?.severity === "critical" ? 1 : 0);
        if (finding) {
          (finding.severity === "critical" ? summary.failing : summary.warnings).push({
            credentialId: c.id,
            check,
            reason: finding.reason,
          });
          await ctx.alerter.raise({
            credentialId: c.id,
            severity: finding.severity,
            kind: `health-${check}`,
            summary: finding.reason,
          });
        } else {
          await ctx.alerter.resolve(c.id, `health-${check}`);
        }
      }
      summary.checked += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, ctx.concurrency ?? 8) }, worker));
  for (const account of accounts.values()) await reportAccount(ctx, account, summary);
  return summary;
}

/**
 * One alert for an account whose management login fails, under its first credential; the others'
 * alerts of that kind resolved (an earlier tick, or a release that alerted per credential, may have
 * raised them). A login that works again resolves them all.
 */
async function reportAccount(ctx: HealthContext, account: AccountCheck, summary: HealthSummary): Promise<void> {
  if (!account.check) return;
  const finding = await account.check;
  const ids = account.credentials.map((c) => c.id);
  const first = accountAlertId(ids);
  for (const c of account.credentials) {
    const failing = finding !== undefined && c.id === first;
    ctx.metrics?.healthCheckFailing
      .labels({ credential: c.id, vendor: c.vendor, check: "management" })
      .set(failing ? 1 : 0);
    if (!failing) await ctx.alerter.resolve(c.id, "health-management");
  }
  if (!finding) return;
  const { vendor, baseUrl } = account.credentials.find((c) => c.id === first) ?? { vendor: "?", baseUrl: undefined };
  const alert = accountAlert({
    vendor,
    baseUrl,
    credentialIds: ids,
    kind: "health-management",
    says: (credentials) => finding.reason.replace("{credentials}", credentials),
  });
  summary.failing.push({ credentialId: first, check: "management", reason: alert.summary });
  await ctx.alerter.raise(alert);
}

/** A current version as the bulk reads know it: the value only when it is to be shown to the vendor. */
type KnownVersion = { versionId: string; createdAt: Date; value?: StoredVersion["value"] };
type StoredVersion = Awaited<ReturnType<SecretStore["read"]>>;

/** One slice of the fleet a tick, by a hash of the credential's id: every replica picks alike. */
export function verifySlice(id: string, slices: number): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % slices;
}

/**
 * What this tick reads in bulk: the listing, the creation times not yet known, and the values of
 * the keys shown to the vendor now. A credential missing from `known` is read alone.
 */
async function planTick(ctx: HealthContext): Promise<{
  known: Map<string, KnownVersion>;
  verify: (c: HealthCredential) => boolean;
  management: boolean;
}> {
  const now = ctx.tickAt ?? ctx.now();
  const slices =
    ctx.tickEveryMs && ctx.verifyEveryMs ? Math.max(1, Math.round(ctx.verifyEveryMs / ctx.tickEveryMs)) : 1;
  const slice = ctx.tickEveryMs ? Math.floor(now / ctx.tickEveryMs) % slices : 0;
  const verify = (c: HealthCredential) => slices === 1 || verifySlice(c.id, slices) === slice;
  const known = new Map<string, KnownVersion>();
  if (ctx.listing === false) return { known, verify, management: slice === 0 };
  const view = ctx.fleetView
    ? await ctx.fleetView()
    : await listFleet(
        ctx.store,
        ctx.credentials.map((c) => c.secretId),
        ctx.log,
      );
  if (!view) return { known, verify, management: slice === 0 };
  const cache = ctx.currentVersions ?? new CurrentVersionCache();
  const unread: string[] = [];
  for (const c of ctx.credentials) {
    const listed = view.of(c.secretId);
    const versionId = listed && currentVersionId(listed);
    if (!versionId) continue;
    const createdAt = cache.createdAt(c.secretId, versionId);
    if (createdAt && !verify(c)) known.set(c.secretId, { versionId, createdAt });
    else unread.push(c.secretId);
  }
  // A batch that fails leaves its secrets to be read alone, and that read names the fault.
  const read =
    unread.length > 0
      ? await ctx.store.readCurrent(unread).then(
          (out) => out.read,
          () => new Map<string, StoredVersion>(),
        )
      : new Map<string, StoredVersion>();
  // Keyed by the inventory's secret id strings: the answer's are copies the cache would keep.
  for (const secretId of unread) {
    const v = read.get(secretId);
    if (!v) continue;
    cache.remember(secretId, v.versionId, v.createdAt);
    known.set(secretId, { versionId: v.versionId, createdAt: v.createdAt, value: v.value });
  }
  return { known, verify, management: slice === 0 };
}

async function checkOne(
  ctx: HealthContext,
  c: HealthCredential,
  accounts: Map<KeyApiVendor, AccountCheck>,
  plan: { known: KnownVersion | undefined; verify: boolean; management: boolean },
): Promise<Partial<Record<Check, Finding>>> {
  const out: Partial<Record<Check, Finding>> = {};
  const critical = (reason: string): Finding => ({ severity: "critical", reason });
  // Joined before anything can end this credential's checks early, so the account's alert counts it.
  const management = plan.management ? joinAccount(ctx, c, accounts) : undefined;
  let current: KnownVersion;
  try {
    current = plan.known ?? (await ctx.store.read(c.secretId, { stage: "AWSCURRENT" }));
    out.store = undefined;
  } catch (err) {
    out.store = critical(`the secret ${c.secretId} cannot be read: ${describeError(err)}`);
    return out;
  }
  const now = ctx.now();
  const labels = { credential: c.id, vendor: c.vendor };
  const verdict = c.schedule(current.createdAt, now);
  // The whole verdict: a key held for its maintenance window is not overdue before it opens.
  recordKeyAge(ctx.metrics, labels, current.createdAt, verdict);
  const age = ageVerdict(current.createdAt, verdict.dueAt, now, {
    warnBeforeMs: c.ageWarnBeforeMs ?? 0,
    overdueAfterMs: ctx.overdueAfterMs,
  });
  out.age = age.level === "ok" ? undefined : { severity: age.level, reason: age.reason };
  if (plan.verify) out.key = await keyFinding(ctx, c, current);
  if (management) out.management = await management;
  if (c.replicated && ctx.replicasFor) out.replica = await replicaFinding(ctx.replicasFor(c), c, current.versionId);
  return out;
}

/**
 * Counts the credential in its vendor account's management check, the account's first credential
 * making the call (one list of at most one key). Undefined for a vendor without a management API.
 */
function joinAccount(
  ctx: HealthContext,
  c: HealthCredential,
  accounts: Map<KeyApiVendor, AccountCheck>,
): Promise<Finding> | undefined {
  const management = ctx.managementFor(c);
  if (!management) return undefined;
  let account = accounts.get(management);
  if (!account) {
    const whole = ctx.accountOf?.(c);
    // A shard holding part of the account: the shard with its first credential checks it for all.
    if (whole && !ctx.credentials.some((other) => other.id === whole.first)) {
      account = { credentials: [] };
    } else {
      const check = management.listKeys({ limit: 1 }).then(
        () => undefined,
        (err: unknown): Finding => ({
          severity: "critical",
          reason: `the management login cannot list keys, so the next rotation of {credentials} cannot mint a key: ${describeError(err)}`,
        }),
      );
      account = { check, credentials: whole ? whole.credentials : [] };
    }
    accounts.set(management, account);
  }
  if (!ctx.accountOf) (account.credentials as HealthCredential[]).push(c);
  return account.check;
}

/** A replica whose replication failed is critical; one not yet serving the current version, a warning. */
async function replicaFinding(watch: ReplicaWatch, c: HealthCredential, currentVersionId: string): Promise<Finding> {
  try {
    const replicas = await watch.replicas(c.secretId);
    const failed = replicas.filter((r) => r.status === "Failed").map((r) => r.region);
    if (failed.length > 0)
      return {
        severity: "critical",
        reason: `replication to ${failed.join(", ")} failed: consumers there read a stale key`,
      };
    const behind = replicas.filter((r) => r.currentVersionId !== currentVersionId).map((r) => r.region);
    if (behind.length > 0)
      return {
        severity: "warning",
        reason: `the replicas in ${behind.join(", ")} do not serve the current version yet`,
      };
    return undefined;
  } catch (err) {
    return { severity: "critical", reason: `the replicas could not be checked: ${describeError(err)}` };
  }
}

/** Shows the current key to its vendor: a refusal or a fault is a finding; usage goes to onUsage. */
async function keyFinding(ctx: HealthContext, c: HealthCredential, current: KnownVersion): Promise<Finding> {
  const critical = (reason: string): Finding => ({ severity: "critical", reason });
  let key: Finding;
  try {
    const shape = c.module.value;
    const stored = current.value ?? (await ctx.store.read(c.secretId, { versionId: current.versionId })).value;
    const value: unknown = shape.parse(stored, `${c.id}: secret ${c.secretId} version ${current.versionId}`);
    const result = await ctx.verifierFor(c).verify(shape.secretOf(value));
    key = result.valid
      ? undefined
      : critical(`the vendor refuses the current key (${result.status}: ${result.reason})`);
    if (result.valid && result.usage) await ctx.onUsage?.(c.id, result.usage);
  } catch (err) {
    key = critical(`the current key could not be checked: ${describeError(err)}`);
  }
  return key;
}
