import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SecretValue } from "../../src/core/secret.js";
import {
  ProbeCounter,
  UsageWatcher,
  perMinuteFrom,
  usageBaseline,
  usageGateFor,
  windowSecondsOf,
} from "../../src/jobs/usage-watcher.js";
import { FakeAlerter } from "../support/fake-ports.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const WINDOW_END = 1_800_000_060; // epoch seconds

describe("perMinuteFrom", () => {
  it.each([
    // limit, remaining, seconds into the window, our probes, expected per minute
    [60, 59, 30, 1, 0],
    [60, 49, 30, 1, 20],
    [60, 0, 60, 1, 59],
    [300, 290, 6, 1, 90],
    [60, 50, 0, 1, 540],
    [60, 57, 30, 3, 0],
  ])("limit %d remaining %d at %ds with %d probes of ours: %d/min", (limit, remaining, into, ours, expected) => {
    const now = (WINDOW_END - 60 + into) * 1000;
    expect(perMinuteFrom({ limit, remaining, resetAt: WINDOW_END }, now, ours)).toBe(expected);
  });
});

describe("perMinuteFrom on a day window", () => {
  // When the day's budget binds, CallCov's headers describe the UTC day: its average rate so far.
  const dayEnd = 1_800_028_800; // a UTC midnight, epoch seconds
  it("reads a reset more than a minute away as the day's window", () => {
    const sixHoursIn = (dayEnd - 86_400 + 6 * 3_600) * 1000;
    expect(windowSecondsOf({ limit: 1_000, remaining: 100, resetAt: dayEnd }, sixHoursIn)).toBe(86_400);
    expect(perMinuteFrom({ limit: 1_000, remaining: 279, resetAt: dayEnd }, sixHoursIn)).toBe(2); // 720 in 360 min
    expect(windowSecondsOf({ limit: 60, remaining: 10, resetAt: WINDOW_END }, (WINDOW_END - 30) * 1000)).toBe(60);
  });
});

describe("UsageWatcher on real Redis", () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = testRedis();
    prefix = testPrefix("usage");
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const sample = (used: number) => ({ limit: 300, remaining: 300 - used - 1, resetAt: WINDOW_END });
  const at = (WINDOW_END - 30) * 1000;
  /**
   * One health tick's sample in a minute of its own (ticks are minutes apart, and our probes in a
   * window add up): `used` requests by others and our probe, read 30 s into the window.
   */
  let minute = 0;
  const tick = (used: number) => {
    minute += 1;
    const resetAt = WINDOW_END + 60 * minute;
    return [{ limit: 300, remaining: 300 - used - 1, resetAt }, (resetAt - 30) * 1000] as const;
  };

  it("learns a baseline, alerts on a jump past the factor, and resolves when use is normal again", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({ factor: 3, quotaWarnRatio: 0.8 }));
    for (let i = 0; i < 3; i++) expect((await watcher.observe("cc", ...tick(5))).anomaly).toBe(false);
    const jump = await watcher.observe("cc", ...tick(40));
    expect(jump).toMatchObject({ anomaly: true, perMinute: 80 });
    expect(alerter.raised.map((a) => a.kind)).toEqual(["usage-anomaly"]);
    expect((await watcher.observe("cc", ...tick(5))).anomaly).toBe(false);
    expect(alerter.resolved).toContain("cc/usage-anomaly");
  });

  it("does not alert before it has a baseline (for example after Redis was lost)", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => undefined);
    expect((await watcher.observe("fresh", sample(100), at)).anomaly).toBe(false);
    expect(alerter.raised.filter((a) => a.kind === "usage-anomaly")).toEqual([]);
  });

  it("a spike within the key's usual spread is not an anomaly; the same spike on a steady key is", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({ factor: 2, quotaWarnRatio: 1 }));
    for (let i = 0; i < 12; i++) await watcher.observe("bursty", ...tick(i % 2 === 0 ? 2 : 40));
    for (let i = 0; i < 12; i++) await watcher.observe("steady", ...tick(20));
    // 45/min is over twice either baseline (about 21 and 20/min), but inside the bursty key's spread.
    expect((await watcher.observe("bursty", ...tick(45))).anomaly).toBe(false);
    expect((await watcher.observe("steady", ...tick(45))).anomaly).toBe(true);
    expect(alerter.raised.filter((a) => a.kind === "usage-anomaly").map((a) => a.credentialId)).toEqual(["steady"]);
  });

  it("warns when the usual rate would spend the plan's daily quota", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({
      factor: 100,
      quotaWarnRatio: 0.8,
      perDay: 1_000,
    }));
    await watcher.observe("daily", { limit: 10, remaining: 9 - 1, resetAt: WINDOW_END }, at); // 2/min: 2,880 a day
    expect(alerter.raised.map((a) => [a.kind, a.summary])).toEqual([
      ["usage-near-quota", "at its usual 2/min the key would make 2880 requests a day, of the plan's 1000"],
    ]);
  });

  it("warns when the vendor's headers show the day's budget nearly spent", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({ factor: 100, quotaWarnRatio: 0.8 }));
    const dayEnd = Math.ceil(at / 86_400_000) * 86_400;
    await watcher.observe("spent", { limit: 1_000, remaining: 5, resetAt: dayEnd }, dayEnd * 1000 - 3_600_000);
    expect(alerter.raised.map((a) => [a.kind, a.summary])).toEqual([
      ["usage-near-quota", "the key has used 995 of its 1000 requests today"],
    ]);
  });

  it("a tick reads every baseline in one command and writes the changed ones in one (besides one counter a probe), and what it learnt persists", async () => {
    const calls: string[] = [];
    const counting = new Proxy(redis, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => (
          calls.push(String(name)),
          (value as (...a: unknown[]) => unknown).apply(target, args)
        );
      },
    });
    const tickPrefix = `${prefix}-tick`;
    const ticker = new UsageWatcher(counting, tickPrefix, new FakeAlerter(), () => undefined);
    await ticker.load();
    for (let round = 0; round < 3; round++) {
      const [usage, now] = tick(5);
      for (let i = 0; i < 40; i++) await ticker.observe(`k${i}`, usage, now);
    }
    await ticker.save();
    expect(calls.filter((c) => c !== "eval")).toEqual(["hgetall", "hset"]);
    expect(calls.filter((c) => c === "eval")).toHaveLength(120);
    // Ticks further apart than the vendor's minute: each probe is alone in its window, no counter.
    calls.length = 0;
    const sparse = new UsageWatcher(
      counting,
      `${tickPrefix}-sparse`,
      new FakeAlerter(),
      () => undefined,
      undefined,
      15 * 60_000,
    );
    await sparse.load();
    for (let i = 0; i < 40; i++) await sparse.observe(`k${i}`, ...tick(5));
    await sparse.save();
    expect(calls).toEqual(["hgetall", "hset"]);
    await dropPrefix(redis, `${tickPrefix}-sparse`);
    // The next tick (another replica, say) starts from those baselines: a jump is now an anomaly.
    const alerter = new FakeAlerter();
    const next = new UsageWatcher(redis, tickPrefix, alerter, () => ({ factor: 3, quotaWarnRatio: 0.8 }));
    await next.load();
    expect(await usageBaseline(redis, tickPrefix, "k7")).toBe(10);
    expect(await usageBaseline(redis, tickPrefix, "never-sampled")).toBeUndefined();
    expect(await next.observe("k7", ...tick(40))).toMatchObject({ anomaly: true, baseline: 10 });
    await dropPrefix(redis, tickPrefix);
  });

  it("two shards of one tick, on two replicas at once, each read their own credentials' baselines and lose none of the other's", async () => {
    const shardPrefix = `${prefix}-shards`;
    const policy = () => ({ factor: 3, quotaWarnRatio: 0.8 });
    // Three ticks of two shards (k0..k9 and k10..k19), loaded together, saved in either order.
    const ids = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (let round = 0; round < 3; round++) {
      const [usage, now] = tick(5);
      const a = new UsageWatcher(redis, shardPrefix, new FakeAlerter(), policy);
      const b = new UsageWatcher(redis, shardPrefix, new FakeAlerter(), policy);
      await Promise.all([a.load(ids.slice(0, 10)), b.load(ids.slice(10))]);
      for (const id of ids.slice(0, 10)) await a.observe(id, usage, now);
      for (const id of ids.slice(10)) await b.observe(id, usage, now);
      if (round % 2 === 0) await Promise.all([a.save(), b.save()]);
      else await Promise.all([b.save(), a.save()]);
    }
    const hash = await redis.hgetall(`${shardPrefix}:usage`);
    expect(Object.keys(hash).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(hash[id]?.split(" ")[2]).toBe("3"); // three samples each, none lost
    // A shard reads what the other shard learnt of its own credentials on an earlier tick.
    const alerter = new FakeAlerter();
    const next = new UsageWatcher(redis, shardPrefix, alerter, policy);
    await next.load(["k15", "k3"]);
    expect(await next.observe("k15", ...tick(40))).toMatchObject({ anomaly: true, baseline: 10 });
    expect(alerter.raised.map((r) => [r.credentialId, r.kind])).toEqual([["k15", "usage-anomaly"]]);
    await dropPrefix(redis, shardPrefix);
  });

  it("a baseline in Redis that does not parse counts as none and is rebuilt, never an alert", async () => {
    await redis.hset(`${prefix}:usage`, "garbled", "not numbers");
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({ factor: 3, quotaWarnRatio: 0.8 }));
    expect(await watcher.observe("garbled", sample(100), at)).toEqual({ perMinute: 200, anomaly: false });
    expect(await redis.hget(`${prefix}:usage`, "garbled")).toBe("200 0 1");
  });

  it("warns when use nears the plan's limit", async () => {
    const alerter = new FakeAlerter();
    const watcher = new UsageWatcher(redis, prefix, alerter, () => ({ factor: 100, quotaWarnRatio: 0.5 }));
    await watcher.observe("busy", sample(80), at);
    expect(alerter.raised.map((a) => a.kind)).toEqual(["usage-near-quota"]);
  });
});

describe("usageGateFor", () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => void (redis = testRedis()));
  beforeEach(() => void (prefix = testPrefix("gate")));
  afterEach(async () => dropPrefix(redis, prefix));
  afterAll(() => redis.disconnect());

  it("takes its own probes off what the vendor counted", async () => {
    let remaining = 59;
    const verifier = {
      verify: async () => ({ valid: true as const, usage: { limit: 60, remaining: remaining--, resetAt: WINDOW_END } }),
    };
    const gate = usageGateFor(verifier, { redis, prefix }, () => (WINDOW_END - 30) * 1000, 1_000);
    expect(await gate.oldKeyUse("cc", new SecretValue("k"))).toEqual({ inUse: false, perMinute: 0 });
    expect(await gate.oldKeyUse("cc", new SecretValue("k"))).toEqual({ inUse: false, perMinute: 0 });
    remaining -= 5; // five requests by someone else
    expect(await gate.oldKeyUse("cc", new SecretValue("k"))).toEqual({ inUse: true, perMinute: 10 });
  });

  it("a key the vendor refuses is not in use", async () => {
    const gate = usageGateFor(
      { verify: async () => ({ valid: false as const, status: 401, reason: "no" }) },
      { redis, prefix },
    );
    expect(await gate.oldKeyUse("cc", new SecretValue("k"))).toEqual({ inUse: false, perMinute: 0 });
  });

  it("two replicas' gates take off each other's probes: three samples, no one else, not in use", async () => {
    let remaining = 60;
    const verifier = {
      verify: async () => ({ valid: true as const, usage: { limit: 60, remaining: --remaining, resetAt: WINDOW_END } }),
    };
    const at = () => (WINDOW_END - 30) * 1000;
    const connections = [redis.duplicate(), redis.duplicate()];
    const [a, b] = connections.map((c) => usageGateFor(verifier, { redis: c, prefix }, at, 1_000));
    try {
      for (const gate of [a, b, a])
        expect(await gate?.oldKeyUse("cc", new SecretValue("k"))).toEqual({ inUse: false, perMinute: 0 });
    } finally {
      for (const c of connections) c.disconnect();
    }
  });
});

describe("ProbeCounter: what forged counters can do", () => {
  // Only defer (a count too low) or hide use (too high, as if there were no gate), and never more
  // than two probes a second of the window are believed.
  let redis: Redis;
  let prefix: string;
  beforeAll(() => void (redis = testRedis()));
  beforeEach(() => void (prefix = testPrefix("probes")));
  afterEach(async () => dropPrefix(redis, prefix));
  afterAll(() => redis.disconnect());

  const usage = { limit: 300, remaining: 200, resetAt: WINDOW_END };
  const at = (WINDOW_END - 30) * 1000; // 30 s into the window
  const counterKey = (role = "old") => `${prefix}:usage:probes:${role}:${WINDOW_END}:cc`;

  it("counts per credential, role and window, and expires just after the window", async () => {
    const probes = new ProbeCounter(redis, prefix);
    expect(await probes.record("cc", "old", usage, at)).toBe(1);
    expect(await probes.record("cc", "old", usage, at)).toBe(2);
    expect(await probes.record("cc", "current", usage, at)).toBe(1);
    expect(await probes.record("cc", "old", { ...usage, resetAt: WINDOW_END + 60 }, at)).toBe(1);
    expect(await probes.record("other", "old", usage, at)).toBe(1);
    const ttl = await redis.pttl(counterKey());
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(90_000);
  });

  it.each([
    ["a huge count", "1000000", 60],
    ["a negative count", "-1000", 1],
    ["garbage", "not a number", 1],
  ])("%s is believed only within [1, 2 a second of the window]", async (_name, forged, expected) => {
    await redis.set(counterKey(), forged);
    expect(await new ProbeCounter(redis, prefix).record("cc", "old", usage, at)).toBe(expected);
  });

  it("garbage is overwritten, so the fleet's next probes count again", async () => {
    await redis.set(counterKey(), "garbage");
    const probes = new ProbeCounter(redis, prefix);
    expect(await probes.record("cc", "old", usage, at)).toBe(1);
    expect(await probes.record("cc", "old", usage, at)).toBe(2);
    expect(await redis.pttl(counterKey())).toBeGreaterThan(0);
  });
});
