/**
 * Turns CallCov's rate-limit headers into usage: requests in the current minute window
 * (limit - remaining, less our own probe), scaled to a per-minute rate. Keeps a baseline per
 * credential (an EWMA) in Redis, rebuilt from nothing if Redis is lost (no alert until it has a
 * few samples), and alerts when use exceeds the baseline by a factor or nears the plan's limit.
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
}

const ALPHA = 0.2;
const MIN_SAMPLES = 3;
/** Below this many requests a minute, a jump is noise, not an anomaly. */
const MIN_ANOMALY_PER_MINUTE = 5;

/** Requests per minute that others made with the key, from one sample that our probe was part of. */
export function perMinuteFrom(usage: UsageSample, nowMs: number, ourProbes = 1): number {
  const used = Math.max(0, usage.limit - usage.remaining - ourProbes);
  const windowStart = (usage.resetAt - 60) * 1000;
  const elapsedS = Math.min(60, Math.max(1, (nowMs - windowStart) / 1000));
  return Math.round((used * 60) / elapsedS);
}

export class UsageWatcher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly alerter: Alerter,
    private readonly policyOf: (credentialId: string) => UsagePolicy | undefined,
    private readonly metrics?: Metrics,
  ) {}

  async observe(credentialId: string, usage: UsageSample, nowMs: number): Promise<{ perMinute: number; baseline?: number; anomaly: boolean }> {
    const policy = this.policyOf(credentialId) ?? { factor: 3, quotaWarnRatio: 0.8 };
    const key = `${this.prefix}:usage:${credentialId}`;
    const stored = await this.redis.hmget(key, "mean", "n");
    const mean = Number(stored[0] ?? Number.NaN);
    const n = Number(stored[1] ?? 0);
    const perMinute = perMinuteFrom(usage, nowMs);
    const anomaly = n >= MIN_SAMPLES && Number.isFinite(mean) && perMinute >= MIN_ANOMALY_PER_MINUTE && perMinute > policy.factor * Math.max(mean, 1);
    const nearQuota = perMinute >= policy.quotaWarnRatio * usage.limit;
    this.metrics?.usageAnomaly.labels({ credential: credentialId, vendor: "callcov" }).set(anomaly ? 1 : 0);
    if (anomaly) {
      await this.alerter.raise({ credentialId, severity: "warning", kind: "usage-anomaly", summary: `the key is used ${perMinute}/min, over ${policy.factor}x its baseline of ${Math.round(mean)}/min`, details: { perMinute, baseline: Math.round(mean) } });
    } else await this.alerter.resolve(credentialId, "usage-anomaly");
    if (nearQuota) {
      await this.alerter.raise({ credentialId, severity: "warning", kind: "usage-near-quota", summary: `the key is used ${perMinute}/min of the plan's ${usage.limit}/min`, details: { perMinute, limit: usage.limit } });
    } else await this.alerter.resolve(credentialId, "usage-near-quota");
    // An anomalous sample moves the baseline slowly, so an attack does not become the new normal.
    const next = !Number.isFinite(mean) ? perMinute : mean + (anomaly ? ALPHA / 4 : ALPHA) * (perMinute - mean);
    await this.redis.hset(key, "mean", String(next), "n", String(n + 1));
    return { perMinute, ...(Number.isFinite(mean) ? { baseline: mean } : {}), anomaly };
  }
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
