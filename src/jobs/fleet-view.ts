/**
 * What the steady ticks read of the store in bulk, instead of one call per credential:
 * - the fleet's listing (ListSecrets, 100 secrets a call, filtered by name prefixes drawn from the
 *   inventory): every secret's stages and tags, so pending rotations and finished-markers are seen
 *   without a call per secret;
 * - when each secret's current key was made. A version never changes once written, so a version's
 *   creation time is remembered (CurrentVersionCache) and only secrets whose AWSCURRENT moved to a
 *   version not seen before are read, 20 a call (BatchGetSecretValue).
 * A credential the listing does not show (its secret id an ARN of another account, a secret just
 * deleted) gets the per-secret calls as before, which also name the problem.
 * A tick cut into shards pages through the listing once in name order (`walkPages`, on the
 * splitter) to find where each shard's names begin, and each shard reads only its own run of
 * pages (`listShard`): a filtered listing still costs a call per 100 secrets of the whole account,
 * so a shard that listed with a filter of its own would pay for the whole fleet.
 * Must not: keep a secret value (the batch read's values are dropped here).
 */
import { IdSlots } from "../config/id-table.js";
import { describeError } from "../core/errors.js";
import { FINISHED_TAG, STAGE_CURRENT, type SecretListing, type SecretStore } from "../core/ports.js";
import type { Logger } from "../observability/logger.js";

/** AWS allows 10 values in a ListSecrets filter. */
const MAX_PREFIXES = 10;

/**
 * At most 10 name prefixes that cover every secret name given, as tight as that allows: the names
 * themselves, else their folders (up to the last `/`), else their first folder, else their first
 * characters. [] means no filter (the names share no prefix). ARNs are left out: a listing shows
 * ARNs, but they do not start with the secret's name.
 */
export function namePrefixes(secretIds: string[]): string[] {
  const names = [...new Set(secretIds.filter((id) => !id.startsWith("arn:")))];
  if (names.length === 0) return [];
  const levels: Array<(n: string) => string> = [
    (n) => n,
    (n) => n.slice(0, n.lastIndexOf("/") + 1) || n,
    (n) => n.slice(0, n.indexOf("/") + 1) || n,
  ];
  const longest = Math.max(...names.map((n) => n.length));
  for (let k = longest; k >= 1; k--) levels.push((n) => n.slice(0, k));
  for (const cut of levels) {
    const prefixes = minimal(new Set(names.map(cut)));
    if (prefixes.length <= MAX_PREFIXES && prefixes.every((p) => p.length > 0)) return prefixes;
  }
  return [];
}

/**
 * At most 10 name prefixes that cover every secret name given, each as long as it can be: the
 * names' longest common prefix, then, while it stays within 10, the widest prefix's names split
 * by the character that follows it (each part its own longest common prefix). For a shard's
 * names, contiguous in sorted order, this lists little besides the shard: where `namePrefixes`
 * would stop at the folder all of the fleet shares ("bench/callcov/"), this goes on to
 * "bench/callcov/cc-01", "bench/callcov/cc-02"... [] means no filter. ARNs are left out.
 */
export function tightPrefixes(secretIds: readonly string[]): string[] {
  const names = [...new Set(secretIds.filter((id) => !id.startsWith("arn:")))].sort();
  if (names.length === 0) return [];
  let parts: NameRun[] = [runOf(names, 0, names.length)];
  for (;;) {
    const widest = parts.reduce((a, b) => (b.to - b.from > a.to - a.from ? b : a));
    if (widest.to - widest.from === 1) break;
    const split = splitRun(names, widest);
    if (parts.length - 1 + split.length > MAX_PREFIXES) break;
    parts = parts.flatMap((p) => (p === widest ? split : [p]));
  }
  return parts.some((p) => p.prefix === "") ? [] : parts.map((p) => p.prefix);
}

/** names[from, to), sorted, and their longest common prefix. */
type NameRun = { prefix: string; from: number; to: number };

function runOf(names: string[], from: number, to: number): NameRun {
  // In sorted names, the first and the last share what all of them share.
  const first = names[from] as string;
  const last = names[to - 1] as string;
  let n = 0;
  while (n < first.length && first[n] === last[n]) n++;
  return { prefix: first.slice(0, n), from, to };
}

/** The run split by the character after its prefix (a name that ends there is a part of its own). */
function splitRun(names: string[], run: NameRun): NameRun[] {
  const at = run.prefix.length;
  const out: NameRun[] = [];
  let start = run.from;
  for (let i = run.from + 1; i <= run.to; i++) {
    if (i < run.to && (names[i] as string)[at] === (names[start] as string)[at]) continue;
    out.push(runOf(names, start, i));
    start = i;
  }
  return out;
}

/** Drops a prefix that a shorter one in the set already covers. */
function minimal(set: Set<string>): string[] {
  const sorted = [...set].sort();
  const out: string[] = [];
  for (const p of sorted) if (!out.some((q) => p.startsWith(q))) out.push(p);
  return out;
}

/** The listing of the fleet's secrets, by name and by ARN. */
export class FleetView {
  readonly #byId = new Map<string, SecretListing>();
  constructor(listed: SecretListing[]) {
    for (const s of listed) {
      this.#byId.set(s.name, s);
      this.#byId.set(s.arn, s);
    }
  }

  /** The secret's listing, or undefined when the listing does not show it: ask the store about it alone. */
  of(secretId: string): SecretListing | undefined {
    return this.#byId.get(secretId);
  }
}

/**
 * Lists the secrets of these ids. A listing that fails is logged and undefined: the tick then
 * falls back to per-secret calls, which name the fault for each credential.
 */
export async function listFleet(store: SecretStore, secretIds: string[], log: Logger): Promise<FleetView | undefined> {
  try {
    return new FleetView(await store.listSecrets(tightPrefixes(secretIds)));
  } catch (err) {
    log.warn(
      { event: "fleet-listing.failed", error: describeError(err) },
      "the secrets could not be listed; checking them one by one",
    );
    return undefined;
  }
}

/** Where a shard's run of the listing's pages (in name order) begins: the token of its first page. */
export interface PageRun {
  /** The listing's name filter, as the splitter read it (a token belongs to its listing). */
  prefixes: string[];
  /** The token of the page where the shard's names begin; absent: the first page. */
  token?: string;
}

/**
 * Walks the listing's pages in name order, one page held at a time, and hands `found` the run
 * where each bound's names begin (bound k: the shard k + 1 that starts there), as soon as it is
 * found, so a shard can start while the walk goes on. Stops at the last bound. A store that cannot
 * page, or a page that fails, ends the walk with `false`: the shards not yet found list whole.
 */
export async function walkPages(
  store: SecretStore,
  prefixes: string[],
  bounds: readonly string[],
  found: (bound: number, run: PageRun) => Promise<void>,
  log: Logger,
): Promise<boolean> {
  const page = store.listSecretsPage?.bind(store);
  if (!page) return false;
  let token: string | undefined;
  let next = 0;
  try {
    while (next < bounds.length) {
      const read = await page(prefixes, token);
      const last = read.secrets.at(-1)?.name;
      // The first page whose last name reaches a bound holds that bound's first name.
      while (next < bounds.length && last !== undefined && last >= (bounds[next] as string)) {
        await found(next, { prefixes, ...(token === undefined ? {} : { token }) });
        next += 1;
      }
      if (!read.next) break;
      token = read.next;
    }
    // Bounds past the listing's end: their names are not listed; their shards read them alone.
    for (; next < bounds.length; next++) await found(next, { prefixes, ...(token === undefined ? {} : { token }) });
    return true;
  } catch (err) {
    log.warn(
      { event: "fleet-listing.walk-failed", error: describeError(err) },
      "the listing's pages could not be walked; the shards not yet added list their secrets whole",
    );
    return false;
  }
}

/**
 * A shard's listing: its run of pages, from where its names begin to the first page past `to`
 * (secrets of other shards at either end are listed, not held long). Without a run, or when the
 * run cannot be read (a token expired, refused or forged), the shard's own secrets listed whole.
 */
export async function listShard(
  store: SecretStore,
  run: PageRun | undefined,
  to: string | undefined,
  secretIds: string[],
  log: Logger,
): Promise<FleetView | undefined> {
  const page = store.listSecretsPage?.bind(store);
  if (!run || !page) return listFleet(store, secretIds, log);
  const listed: SecretListing[] = [];
  try {
    let token = run.token;
    for (;;) {
      const read = await page(run.prefixes, token);
      listed.push(...read.secrets);
      const last = read.secrets.at(-1)?.name;
      if (!read.next || (to !== undefined && last !== undefined && last >= to)) break;
      token = read.next;
    }
    return new FleetView(listed);
  } catch (err) {
    log.warn(
      { event: "fleet-listing.run-failed", error: describeError(err) },
      "the shard's pages of the listing could not be read; listing its secrets whole",
    );
    return listFleet(store, secretIds, log);
  }
}

/** The version ids of a listing and their stages, in the shape reconcile's helpers read. */
export function stagedVersions(listing: SecretListing): Array<{ versionId: string; stages: string[] }> {
  return Object.entries(listing.stages).map(([versionId, stages]) => ({ versionId, stages }));
}

export function currentVersionId(listing: SecretListing): string | undefined {
  return Object.entries(listing.stages).find(([, stages]) => stages.includes(STAGE_CURRENT))?.[0];
}

export function finishedMarker(listing: SecretListing): string | undefined {
  return listing.tags[FINISHED_TAG];
}

/** Secrets read a call at a time by `fill`: the values a batch read returns are dropped after each. */
const FILL_CHUNK = 1_000;

/**
 * When each secret's current version was made, remembered by version id (a version's creation
 * time never changes). One slot per secret: a secret whose AWSCURRENT moves overwrites its slot.
 * A worker may hold 100,000 of them, so a slot is a number in a typed array and a version id,
 * numbered by the fleet's secret ids given up front (IdSlots, the inventory's own id strings, not
 * copies from a store answer): an object per secret, with its own copy of the id and a boxed
 * number, cost about three times as much, and a Map of the ids to slots 448 KiB at 10,000.
 */
export class CurrentVersionCache {
  readonly #slots: IdSlots;
  // Filled up front: a sparse array written out of order would become a dictionary.
  readonly #versionIds: Array<string | undefined>;
  #createdAt: Float64Array;

  /** `secretIds`: the fleet's, numbered up front; any other is numbered when first remembered. */
  constructor(secretIds: Iterable<string> = []) {
    this.#slots = new IdSlots(secretIds);
    this.#versionIds = new Array<string | undefined>(this.#slots.size).fill(undefined);
    this.#createdAt = new Float64Array(Math.max(64, this.#slots.size));
  }

  /** The creation time of this version of the secret, if it is the one remembered. */
  createdAt(secretId: string, versionId: string): Date | undefined {
    const slot = this.#slots.slotOf(secretId);
    return slot !== undefined && this.#versionIds[slot] === versionId
      ? new Date(this.#createdAt[slot] ?? 0)
      : undefined;
  }

  remember(secretId: string, versionId: string, createdAt: Date): void {
    const slot = this.#slots.add(secretId);
    if (slot >= this.#createdAt.length) {
      const grown = new Float64Array(this.#createdAt.length * 2);
      grown.set(this.#createdAt);
      this.#createdAt = grown;
    }
    this.#versionIds[slot] = versionId;
    this.#createdAt[slot] = createdAt.getTime();
  }

  /**
   * Fills in the creation times of the current versions not yet known, reading those secrets 20
   * a call, a thousand at a time (a batch read returns the values too: only a thousand of them
   * are held at once; `keep`, passed to the store, says which values a caching store remembers).
   * Returns the secrets that could not be read, with the reason.
   */
  async fill(
    store: SecretStore,
    wanted: Array<{ secretId: string; versionId: string }>,
    keep?: (secretId: string, createdAt: Date) => boolean,
  ): Promise<Map<string, Error>> {
    const missing = wanted.filter((w) => !this.createdAt(w.secretId, w.versionId)).map((w) => w.secretId);
    const failed = new Map<string, Error>();
    for (let i = 0; i < missing.length; i += FILL_CHUNK) {
      const ids = missing.slice(i, i + FILL_CHUNK);
      const out = await store.readCurrent(ids, keep);
      for (const secretId of ids) {
        const version = out.read.get(secretId);
        if (version) this.remember(secretId, version.versionId, version.createdAt);
      }
      for (const [secretId, err] of out.failed) failed.set(secretId, err);
    }
    return failed;
  }
}
