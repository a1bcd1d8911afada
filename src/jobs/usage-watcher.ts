/**
 * Turns a vendor's rate-limit headers into usage: requests in the window the headers describe
 * (limit - remaining, less our own probe), as a rate per minute. The window is a minute, or the UTC
 * day when the day's budget is the tighter one. Keeps a baseline per credential in Redis (an EWMA
 * of the rate and of its variance), rebuilt from nothing if Redis is lost (no alert until it has a
 * few samples), and alerts when use exceeds the baseline by the policy's factor and by more than its
 * usual spread, nears the minute's limit, or would spend the plan's daily quota.
 * The baselines are one Redis hash (credential -> "mean var n"); a health tick reads it whole with
 * `load()` (a shard of the tick, its credentials' fields) and writes what changed with `save()`, a
 * few commands a tick instead of two a credential. Shards write disjoint fields, so replicas
 * running shards of one tick at once lose none of each other's baselines.
 * Also the usage gate of grace: is the old key still being used by someone?
 * Vendors that send no usage signal (operator-assisted ones, say) have no policy: "usage not observable".
 *
 * "Less our own probes" means every replica's: each probe (a health tick's verify of the current
 * key, a gate sample of the old key) is counted in Redis per credential, per key role and per
 * vendor window (ProbeCounter), and that shared count is what is taken off. Forged counters can
 * only move the verdict within safe bounds: a count too high hides use, so the gate lets the
 * revocation go at the end of grace as if there were no gate (and an anomaly may go unseen, as a
 * forged baseline could already do); a count too low, negative or unreadable counts our probes as
 * use, so the gate defers, at most `maxGraceExtension`. A count is never taken as more than two
 * probes a second of the window, which bounds how much use a forged one can hide.
 */
import type { Redis } from "ioredis";
import type { Alerter, KeyVerifier, UsagePolicy, UsageSample } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import type { Metrics } from "../observability/metrics.js";
import type { UsageGate } from "../rotation/key-api-flow.js";

export type { UsagePolicy };

const ALPHA = 0.2;
const MIN_SAMPLES = 3;
/** Below this many requests a minute, a jump is noise, not an anomaly. */
const MIN_ANOMALY_PER_MINUTE = 5;
/** A spike must also stand this many standard deviations above the baseline. */
const SPREAD = 3;
/** Baselines written by one HSET at the end of a tick. */
const SAVE_BATCH = 500;
/** Baselines read by one HMGET at the start of a shard. */
const LOAD_BATCH = 1_000;
const MINUTE_S = 60;
const DAY_S = 86_400;

/** The window the headers describe: a reset more than a minute away can only be the day's. */
export function windowSecondsOf(usage: UsageSample, nowMs: number): number {
  return usage.resetAt * 1000 - nowMs > (MINUTE_S + 1) * 1000 ? DAY_S : MINUTE_S;
}

/** Requests per minute that others made with the key, from one sample that our probe was part of. */
export function perMinuteFrom(usage: UsageSample, nowMs: number, ourProbes = 1): number {
  const used = Math.max(0, usage.limit - usage.remaining - ourProbes);
  const windowS = windowSecondsOf(usage, nowMs);
  const windowStart = (usage.resetAt - windowS) * 1000;
  const elapsedS = Math.min(windowS, Math.max(1, (nowMs - windowStart) / 1000));
  return Math.round((used * 60) / elapsedS);
}

/**
 * Which key a probe used: the health tick probes the key AWSCURRENT holds, the gate the old key a
 * rotation in grace replaced. Two keys, two budgets at the vendor, so two counts. A health probe
 * of the old key in the minute it stops being current counts as "current": the gate then sees one
 * request too many and defers one sample, the safe way round.
 */
export type ProbeRole = "current" | "old";

/** More than this many probes of ours a second of the window is not believed (a forged count). */
const MAX_PROBES_PER_SECOND = 2;
/** Kept a little past the window's end, for a replica whose clock is behind. */
const COUNTER_SLACK_MS = 60_000;
// INCR and PEXPIRE in one step, so no counter lives on without an expiry.
const COUNT_PROBE = "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return n";

/**
 * Our own probes of each credential's keys, counted by every replica in one Redis counter per
 * credential, key role and vendor window (`X-RateLimit-Reset`), so each replica can take the whole
 * fleet's probes off what the vendor counted. A counter expires just after its window.
 */
export class ProbeCounter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Records one probe the vendor answered with `usage` and returns our probes in that window so
   * far, this one included: at least 1, at most MAX_PROBES_PER_SECOND a second of the window. A
   * counter that is not a number is overwritten; Redis unreachable: 1 (this probe alone).
   */
  async record(credentialId: string, role: ProbeRole, usage: UsageSample, nowMs: number): Promise<number> {
    const key = `${this.prefix}:usage:probes:${role}:${usage.resetAt}:${credentialId}`;
    const ttlMs = Math.ceil(Math.min(DAY_S * 1000, Math.max(0, usage.resetAt * 1000 - nowMs))) + COUNTER_SLACK_MS;
    let counted: number;
    try {
      counted = Number(await this.redis.eval(COUNT_PROBE, 1, key, ttlMs));
    } catch {
      // "not an integer": garbage where the counter should be. Start it again from this probe.
      await this.redis.set(key, "1", "PX", ttlMs).catch(() => undefined);
      return 1;
    }
    const windowS = windowSecondsOf(usage, nowMs);
    const elapsedS = Math.max(1, Math.ceil((nowMs - (usage.resetAt - windowS) * 1000) / 1000));
    return Number.isSafeInteger(counted)
      ? Math.min(Math.max(counted, 1), MAX_PROBES_PER_SECOND * Math.min(elapsedS, windowS))
      : 1;
  }
}

/** Where the baselines live: one hash, credential id -> "mean var n". */
export function usageKey(prefix: string): string {
  return `${prefix}:usage`;
}

/** "mean var n" as numbers, or undefined for nothing or anything else (lost, hand-edited). */
function parseBaseline(text: string | null | undefined): [number, number, number] | undefined {
  const parts = text?.split(" ").map(Number) ?? [];
  return parts.length === 3 && parts.every(Number.isFinite) ? (parts as [number, number, number]) : undefined;
}

/** A credential's usual requests per minute, for `status`; undefined before its first sample. */
export async function usageBaseline(redis: Redis, prefix: string, credentialId: string): Promise<number | undefined> {
  return parseBaseline(await redis.hget(usageKey(prefix), credentialId))?.[0];
}

export class UsageWatcher {
  readonly #probes: ProbeCounter;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly alerter: Alerter,
    private readonly policyOf: (credentialId: string) => UsagePolicy | undefined,
    private readonly metrics?: Metrics,
    /** How often health ticks run; when no two fall in one vendor window, that window needs no shared count. */
    private readonly tickEveryMs?: number,
    /** The credential's vendor id, for the metric's label. */
    private readonly vendorOf: (credentialId: string) => string = () => "unknown",
  ) {
    this.#probes = new ProbeCounter(redis, prefix);
  }

  /** Baselines read by `load()`, and the ones changed since; undefined: read and write one at a time. */
  #loaded?: Map<string, string>;
  readonly #changed = new Set<string>();

  get #key(): string {
    return usageKey(this.prefix);
  }

  /**
   * Reads the baselines a tick will observe in a few commands: every one, or those of the given
   * credentials (a shard of the tick), a thousand to a command.
   */
  async load(credentialIds?: readonly string[]): Promise<void> {
    this.#changed.clear();
    if (!credentialIds) {
      this.#loaded = new Map(Object.entries(await this.redis.hgetall(this.#key)));
      return;
    }
    const loaded = new Map<string, string>();
    for (let i = 0; i < credentialIds.length; i += LOAD_BATCH) {
      const ids = credentialIds.slice(i, i + LOAD_BATCH);
      const values = await this.redis.hmget(this.#key, ...ids);
      ids.forEach((id, k) => {
        const value = values[k];
        if (value !== null && value !== undefined) loaded.set(id, value);
      });
    }
    this.#loaded = loaded;
  }

  /** Writes the baselines changed since `load()`, a few hundred to a command. */
  async save(): Promise<void> {
    const loaded = this.#loaded;
    if (!loaded) return;
    const changed = [...this.#changed];
    this.#changed.clear();
    for (let i = 0; i < changed.length; i += SAVE_BATCH) {
      await this.redis.hset(
        this.#key,
        Object.fromEntries(changed.slice(i, i + SAVE_BATCH).map((id) => [id, loaded.get(id) ?? ""])),
      );
    }
  }

  /**
   * One sample from a probe of the credential's current key (a health tick's verify): the probe is
   * counted with the fleet's, and what the others made with the key feeds the baseline.
   */
  async observe(
    credentialId: string,
    usage: UsageSample,
    nowMs: number,
  ): Promise<{ perMinute: number; baseline?: number; anomaly: boolean }> {
    // When ticks are further apart than the vendor's window, the window holds this tick's probe of
    // the current key and no other of ours (the gate probes only old keys): no Redis round trip a
    // credential a tick. A day's window, or ticks closer together, need the fleet's shared count.
    const alone = this.tickEveryMs !== undefined && this.tickEveryMs >= windowSecondsOf(usage, nowMs) * 1000;
    const ours = alone ? 1 : await this.#probes.record(credentialId, "current", usage, nowMs);
    const policy = this.policyOf(credentialId) ?? { factor: 3, quotaWarnRatio: 0.8 };
    // "mean var n"; anything else (lost, hand-edited) is no baseline, rebuilt from this sample on.
    const [mean, variance, n] = parseBaseline(
      this.#loaded ? this.#loaded.get(credentialId) : await this.redis.hget(this.#key, credentialId),
    ) ?? [Number.NaN, 0, 0];
    const perMinute = perMinuteFrom(usage, nowMs, ours);
    const spike =
      perMinute >= MIN_ANOMALY_PER_MINUTE &&
      perMinute > policy.factor * Math.max(mean, 1) &&
      perMinute > mean + SPREAD * Math.sqrt(variance);
    const anomaly = n >= MIN_SAMPLES && Number.isFinite(mean) && spike;
    this.metrics?.usageAnomaly
      .labels({ credential: credentialId, vendor: this.vendorOf(credentialId) })
      .set(anomaly ? 1 : 0);
    if (anomaly) {
      await this.alerter.raise({
        credentialId,
        severity: "warning",
        kind: "usage-anomaly",
        summary: `the key is used ${perMinute}/min, over ${policy.factor}x its baseline of ${Math.round(mean)}/min`,
        details: { perMinute, baseline: Math.round(mean) },
      });
    } else await this.alerter.resolve(credentialId, "usage-anomaly");
    const quota = nearQuota(usage, nowMs, perMinute, Number.isFinite(mean) ? mean : perMinute, policy);
    if (quota)
      await this.alerter.raise({
        credentialId,
        severity: "warning",
        kind: "usage-near-quota",
        summary: quota.summary,
        details: quota.details,
      });
    else await this.alerter.resolve(credentialId, "usage-near-quota");
    // An anomalous sample moves the baseline slowly, so an attack does not become the new normal.
    const alpha = anomaly ? ALPHA / 4 : ALPHA;
    const next = !Number.isFinite(mean) ? perMinute : mean + alpha * (perMinute - mean);
    const nextVar = !Number.isFinite(mean) ? 0 : (1 - alpha) * (variance + alpha * (perMinute - mean) ** 2);
    const value = `${next} ${nextVar} ${n + 1}`;
    if (this.#loaded) {
      this.#loaded.set(credentialId, value);
      this.#changed.add(credentialId);
    } else await this.redis.hset(this.#key, credentialId, value);
    return { perMinute, ...(Number.isFinite(mean) ? { baseline: mean } : {}), anomaly };
  }
}

/**
 * Near a quota: the minute's limit at this sample's rate; the day's budget when the vendor's
 * headers already describe the day (it is the tighter one); or the plan's daily quota at the
 * baseline's rate kept up for a day.
 */
function nearQuota(
  usage: UsageSample,
  nowMs: number,
  perMinute: number,
  baseline: number,
  policy: UsagePolicy,
): { summary: string; details: Record<string, number> } | undefined {
  if (windowSecondsOf(usage, nowMs) === DAY_S) {
    const used = usage.limit - usage.remaining;
    if (used >= policy.quotaWarnRatio * usage.limit)
      return {
        summary: `the key has used ${used} of its ${usage.limit} requests today`,
        details: { usedToday: used, perDay: usage.limit },
      };
    return undefined;
  }
  if (perMinute >= policy.quotaWarnRatio * usage.limit)
    return {
      summary: `the key is used ${perMinute}/min of the plan's ${usage.limit}/min`,
      details: { perMinute, limit: usage.limit },
    };
  const perDay = Math.round(baseline * 1440);
  if (policy.perDay !== undefined && perDay >= policy.quotaWarnRatio * policy.perDay) {
    return {
      summary: `at its usual ${Math.round(baseline)}/min the key would make ${perDay} requests a day, of the plan's ${policy.perDay}`,
      details: { perMinute: Math.round(baseline), projectedPerDay: perDay, perDay: policy.perDay },
    };
  }
  return undefined;
}

/**
 * The usage gate of grace for a vendor that reports usage on verify (rate-limit headers). Our own probes, of
 * every replica, land in the same window as consumers' requests, so they are counted in Redis
 * (ProbeCounter, role "old") and the fleet's count is taken off.
 */
export function usageGateFor(
  verifier: KeyVerifier,
  shared: { redis: Redis; prefix: string },
  now: () => number = Date.now,
  sampleEveryMs = 60_000,
): UsageGate {
  const probes = new ProbeCounter(shared.redis, shared.prefix);
  return {
    sampleEveryMs,
    async oldKeyUse(credentialId: string, oldKey: SecretValue) {
      const verdict = await verifier.verify(oldKey);
      if (!verdict.valid || !verdict.usage) return { inUse: false, perMinute: 0 };
      const at = now();
      const ours = await probes.record(credentialId, "old", verdict.usage, at);
      const perMinute = perMinuteFrom(verdict.usage, at, ours);
      return { inUse: perMinute > 0, perMinute };
    },
  };
}
