/**
 * Turns CallCov's rate-limit headers into usage: requests in the window the headers describe
 * (limit - remaining, less our own probe), as a rate per minute. The window is a minute, or the UTC
 * day when the day's budget is the tighter one. Keeps a baseline per credential in Redis (an EWMA
 * of the rate and of its variance), rebuilt from nothing if Redis is lost (no alert until it has a
 * few samples), and alerts when use exceeds the baseline by the policy's factor and by more than its
 * usual spread, nears the minute's limit, or would spend the plan's daily quota.
 * The baselines are one Redis hash (credential -> "mean var n"); a health tick reads it whole with
 * `load()` and writes what changed with `save()`, a few commands a tick instead of two a credential.
 * Also the usage gate of grace: is the old key still being used by someone?
 * JustCall sends no usage signal: its credentials are "usage not observable".
 */
import type { Redis } from "ioredis";
import type { Alerter, KeyVerifier, UsageSample } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import type { Metrics } from "../observability/metrics.js";
import type { UsageGate } from "../rotation/rotation.js";

export interface UsagePolicy {
  factor: number;
  quotaWarnRatio: number;
  /** Requests a day the plan allows (seed 001), when known. */
  perDay?: number;
}

const ALPHA = 0.2;
const MIN_SAMPLES = 3;
/** Below this many requests a minute, a jump is noise, not an anomaly. */
const MIN_ANOMALY_PER_MINUTE = 5;
/** A spike must also stand this many standard deviations above the baseline. */
const SPREAD = 3;
/** Baselines written by one HSET at the end of a tick. */
const SAVE_BATCH = 500;
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
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly alerter: Alerter,
    private readonly policyOf: (credentialId: string) => UsagePolicy | undefined,
    private readonly metrics?: Metrics,
  ) {}

  /** Baselines read by `load()`, and the ones changed since; undefined: read and write one at a time. */
  #loaded?: Map<string, string>;
  readonly #changed = new Set<string>();

  get #key(): string {
    return usageKey(this.prefix);
  }

  /** Reads every baseline in one command, for a tick that observes many credentials. */
  async load(): Promise<void> {
    this.#loaded = new Map(Object.entries(await this.redis.hgetall(this.#key)));
    this.#changed.clear();
  }

  /** Writes the baselines changed since `load()`, a few hundred to a command. */
  async save(): Promise<void> {
    const loaded = this.#loaded;
    if (!loaded) return;
    const changed = [...this.#changed];
    this.#changed.clear();
    for (let i = 0; i < changed.length; i += SAVE_BATCH) {
      await this.redis.hset(this.#key, Object.fromEntries(changed.slice(i, i + SAVE_BATCH).map((id) => [id, loaded.get(id) ?? ""])));
    }
  }

  async observe(credentialId: string, usage: UsageSample, nowMs: number): Promise<{ perMinute: number; baseline?: number; anomaly: boolean }> {
    const policy = this.policyOf(credentialId) ?? { factor: 3, quotaWarnRatio: 0.8 };
    // "mean var n"; anything else (lost, hand-edited) is no baseline, rebuilt from this sample on.
    const [mean, variance, n] = parseBaseline(this.#loaded ? this.#loaded.get(credentialId) : await this.redis.hget(this.#key, credentialId)) ?? [Number.NaN, 0, 0];
    const perMinute = perMinuteFrom(usage, nowMs);
    const spike = perMinute >= MIN_ANOMALY_PER_MINUTE && perMinute > policy.factor * Math.max(mean, 1) && perMinute > mean + SPREAD * Math.sqrt(variance);
    const anomaly = n >= MIN_SAMPLES && Number.isFinite(mean) && spike;
    this.metrics?.usageAnomaly.labels({ credential: credentialId, vendor: "callcov" }).set(anomaly ? 1 : 0);
    if (anomaly) {
      await this.alerter.raise({ credentialId, severity: "warning", kind: "usage-anomaly", summary: `the key is used ${perMinute}/min, over ${policy.factor}x its baseline of ${Math.round(mean)}/min`, details: { perMinute, baseline: Math.round(mean) } });
    } else await this.alerter.resolve(credentialId, "usage-anomaly");
    const quota = nearQuota(usage, nowMs, perMinute, Number.isFinite(mean) ? mean : perMinute, policy);
    if (quota) await this.alerter.raise({ credentialId, severity: "warning", kind: "usage-near-quota", summary: quota.summary, details: quota.details });
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
function nearQuota(usage: UsageSample, nowMs: number, perMinute: number, baseline: number, policy: UsagePolicy): { summary: string; details: Record<string, number> } | undefined {
  if (windowSecondsOf(usage, nowMs) === DAY_S) {
    const used = usage.limit - usage.remaining;
    if (used >= policy.quotaWarnRatio * usage.limit) return { summary: `the key has used ${used} of its ${usage.limit} requests today`, details: { usedToday: used, perDay: usage.limit } };
    return undefined;
  }
  if (perMinute >= policy.quotaWarnRatio * usage.limit) return { summary: `the key is used ${perMinute}/min of the plan's ${usage.limit}/min`, details: { perMinute, limit: usage.limit } };
  const perDay = Math.round(baseline * 1440);
  if (policy.perDay !== undefined && perDay >= policy.quotaWarnRatio * policy.perDay) {
    return { summary: `at its usual ${Math.round(baseline)}/min the key would make ${perDay} requests a day, of the plan's ${policy.perDay}`, details: { perMinute: Math.round(baseline), projectedPerDay: perDay, perDay: policy.perDay } };
  }
  return undefined;
}

/**
 * The usage gate of grace for a vendor that reports usage on verify (CallCov). Our own probes
 * land in the same minute window as consumers' requests, so they are counted and taken off.
 */
export function usageGateFor(verifier: KeyVerifier, now: () => number = Date.now, sampleEveryMs = 60_000): UsageGate {
  const probes = new Map<string, number>();
  return {
    sampleEveryMs,
    async oldKeyUse(credentialId: string, oldKey: SecretValue) {
      const verdict = await verifier.verify(oldKey);
      if (!verdict.valid || !verdict.usage) return { inUse: false, perMinute: 0 };
      const window = `${credentialId}@${verdict.usage.resetAt}`;
      const ours = (probes.get(window) ?? 0) + 1;
      probes.set(window, ours);
      if (probes.size > 10_000) probes.clear();
      const perMinute = perMinuteFrom(verdict.usage, now(), ours);
      return { inUse: perMinute > 0, perMinute };
    },
  };
}
