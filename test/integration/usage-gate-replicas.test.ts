/**
 * The usage gate and the usage baseline across replicas: three "replicas" (each its own CallCov
 * client, Redis connection, gate and UsageWatcher, one shared Redis prefix) probe the same
 * credential's keys against the real CallCov simulator, the way a grace job that lands on a
 * different replica each sample, and health ticks on others, do. With no consumer traffic nobody
 * sees use; with real consumer traffic every replica does.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UsageGate } from "../../src/rotation/key-api-flow.js";
import { SecretValue } from "../../src/core/secret.js";
import { UsageWatcher, usageGateFor } from "../../src/jobs/usage-watcher.js";
import { type CallCovSimulator, startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";
import { CallCovVendor } from "../support/seed-vendors.js";
import { FakeAlerter } from "../support/fake-ports.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const PASSWORD = "SecurePassword123!";
const MINUTE = 60_000;

interface Replica {
  vendor: CallCovVendor;
  gate: UsageGate;
  watcher: UsageWatcher;
  redis: Redis;
}

let sim: CallCovSimulator;
let now: number;
let prefix: string;
let replicas: Replica[];
let oldKey: SecretValue;
let newKey: SecretValue;

beforeEach(async () => {
  now = Date.UTC(2026, 10, 23, 10, 0, 1_000);
  sim = await startCallCovSimulator({
    clock: () => now,
    plan: "business",
    accounts: [{ email: "ops@example.com", password: PASSWORD }],
  });
  prefix = testPrefix("gate-replicas");
  replicas = [0, 1, 2].map(() => {
    const vendor = new CallCovVendor({
      baseUrl: sim.url,
      mode: "live",
      clock: { now: () => now },
      timeoutMs: 2_000,
      loadLogin: async () => ({ email: "ops@example.com", password: new SecretValue(PASSWORD) }),
    });
    const redis = testRedis();
    return {
      vendor,
      redis,
      gate: usageGateFor(vendor, { redis, prefix }, () => now, 1_000),
      watcher: new UsageWatcher(redis, prefix, new FakeAlerter(), () => undefined),
    };
  });
  oldKey = new SecretValue(sim.issueKey("key-rotator/cc/r0").key);
  newKey = new SecretValue(sim.issueKey("key-rotator/cc/r1").key);
});
afterEach(async () => {
  const first = replicas[0];
  if (first) await dropPrefix(first.redis, prefix);
  for (const r of replicas) r.redis.disconnect();
  await sim.close();
});

/** One health tick on replica `r`: verify the current key, feed the sample to the baseline. */
async function healthTick(r: Replica): Promise<number> {
  const verdict = await r.vendor.verify(newKey);
  if (!verdict.valid || !verdict.usage) throw new Error("the current key should be accepted with usage");
  return (await r.watcher.observe("cc", verdict.usage, now)).perMinute;
}

/** Grace samples landing on each replica in turn, a health tick on another between them. */
async function roundRobin(minutes: number, consumer?: () => void): Promise<{ gate: number[]; health: number[] }> {
  const seen = { gate: [] as number[], health: [] as number[] };
  const end = now + minutes * MINUTE;
  for (let i = 0; now < end; i++) {
    consumer?.();
    const r = replicas[i % 3] as Replica;
    const use = await r.gate.oldKeyUse("cc", oldKey);
    expect(use.inUse).toBe(use.perMinute > 0);
    seen.gate.push(use.perMinute);
    seen.health.push(await healthTick(replicas[(i + 1) % 3] as Replica));
    now += 2_000;
  }
  return seen;
}

describe("usage across three replicas sharing one Redis", () => {
  it("with no consumer traffic, no replica's gate or baseline sees use, however the probes spread", async () => {
    const seen = await roundRobin(2);
    expect(seen.gate.length).toBeGreaterThan(50);
    expect(seen.gate.filter((n) => n > 0)).toEqual([]);
    expect(seen.health.filter((n) => n > 0)).toEqual([]);
  });

  it("with real consumer traffic on the old key, the gate on every replica says in use; the current key's baseline is not blamed", async () => {
    const seen = await roundRobin(1, () => sim.useKey(oldKey.reveal(), 1));
    expect(seen.gate.every((n) => n > 0)).toBe(true);
    expect(seen.health.filter((n) => n > 0)).toEqual([]);
  });

  it("with consumer traffic on the current key, the baseline sees it and the gate does not", async () => {
    const seen = await roundRobin(1, () => sim.useKey(newKey.reveal(), 1));
    expect(seen.gate.filter((n) => n > 0)).toEqual([]);
    expect(seen.health.every((n) => n > 0)).toBe(true);
  });

  it("one consumer request in a window is seen, even among many probes of ours", async () => {
    await roundRobin(0.5);
    sim.useKey(oldKey.reveal(), 1);
    const use = await (replicas[1] as Replica).gate.oldKeyUse("cc", oldKey);
    expect(use.inUse).toBe(true);
  });
});
