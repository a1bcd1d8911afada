// The store's write budget is each region's own (write-budget.ts): one region's spent bucket
// never holds another's rotations, and a forged key holds rotations back one window at most.
// End to end, a worker with three regions writes three regions' quota a second.
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import { EmergencyLimits } from "../../src/queue/emergency-limits.js";
import { RegionWriteBudget } from "../../src/queue/write-budget.js";
import { SANDBOX_LOGIN, startSandbox } from "../../src/sandbox/sandbox.js";
import { type SeededCallCov, sandboxEnv, writeCallCovInventory } from "../../src/sandbox/seed.js";
import { REDIS_URL, dropPrefix, testPrefix, testRedis } from "../support/redis.js";

let redis: Redis;
beforeAll(() => {
  redis = testRedis();
});
afterAll(() => redis.disconnect());

describe("the write budget per region", () => {
  it("spends each region's window apart", async () => {
    const budget = new RegionWriteBudget(redis, `{t-${randomUUID()}}`, 2, 60_000);
    expect([await budget.take("us-east-1"), await budget.take("us-east-1"), await budget.take("us-east-1")]).toEqual([
      true,
      true,
      false,
    ]);
    expect(await budget.take("eu-west-1")).toBe(true);
    expect(await budget.take("us-east-1|111111111111")).toBe(true);
  });

  it("gives a window back once it has passed", async () => {
    const budget = new RegionWriteBudget(redis, `{t-${randomUUID()}}`, 1, 200);
    expect(await budget.take("r")).toBe(true);
    expect(await budget.take("r")).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    expect(await budget.take("r")).toBe(true);
  });

  it("gives a slot back as soon as one has refilled, not a whole window after the first take", async () => {
    // 10 in 10 s: a slot a second. A counter per window refused until its 10 s ran out.
    const budget = new RegionWriteBudget(redis, `{t-${randomUUID()}}`, 10, 10_000);
    for (let i = 0; i < 10; i++) expect(await budget.take("r")).toBe(true);
    expect(await budget.take("r")).toBe(false);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await budget.take("r")).toBe(true);
  });

  it("a forged bucket (tokens past its size, a time in the future) holds back one window at most", async () => {
    const prefix = `{t-${randomUUID()}}`;
    const budget = new RegionWriteBudget(redis, prefix, 2, 60_000);
    await redis.hset(`${prefix}:write-budget:a`, { tokens: "1e9", at: String(Date.now() + 86_400_000) });
    await redis.hset(`${prefix}:write-budget:b`, { tokens: "-1e9", at: "garbage" });
    // Read as a full bucket of its size (2), not a billion slots; a bucket it cannot read starts full.
    expect([await budget.take("a"), await budget.take("a"), await budget.take("a")]).toEqual([true, true, false]);
    expect(await budget.take("b")).toBe(true);
    expect(await redis.pttl(`${prefix}:write-budget:a`)).toBeGreaterThan(0);
  });

  it("by credential, the queue's take and the lane's admission spend the one bucket of the credential's region", async () => {
    const prefix = `{t-${randomUUID()}}`;
    const regionOf = (id: string) => (id.startsWith("eu-") ? "eu-west-1" : "us-east-1");
    const budget = new RegionWriteBudget(redis, prefix, 2, 60_000).forCredentials(regionOf);
    expect(budget.bucketOf("us-a")).toEqual(budget.bucketOf("us-b"));
    expect(budget.bucketOf("eu-a").key).not.toBe(budget.bucketOf("us-a").key);
    // The processor takes one slot of us-east-1 by one credential, the lane the second by another.
    expect(await budget.take("us-a")).toBe(true);
    const limits = new EmergencyLimits(redis, prefix, { cooldownMs: 0, maxPerMinute: 100 });
    const lane = (id: string) => ({
      region: budget.bucketOf(id),
      limiter: { key: `${prefix}:limiter`, max: 100, windowMs: 60_000 },
    });
    expect(await limits.admit("us-b", false, true, lane("us-b"))).toMatchObject({ admitted: true, budget: true });
    // us-east-1 is spent for both takers; eu-west-1 is untouched.
    expect(await budget.take("us-c")).toBe(false);
    expect(await limits.admit("us-d", false, true, lane("us-d"))).toMatchObject({ admitted: true, budget: false });
    expect(await budget.take("eu-a")).toBe(true);
  });

  it("a forged counter (huge, with no expiry, or not a number) holds back one window at most", async () => {
    const prefix = `{t-${randomUUID()}}`;
    const budget = new RegionWriteBudget(redis, prefix, 5, 200);
    await redis.set(`${prefix}:write-budget:a`, "999999");
    await redis.set(`${prefix}:write-budget:b`, "garbage");
    expect(await budget.take("a")).toBe(true);
    expect(await budget.take("b")).toBe(true);
    expect(await redis.pttl(`${prefix}:write-budget:a`)).toBeGreaterThan(0);
  });
});

/**
 * The worker's limiters end to end: `n` credentials all due at once, rotated by one worker process
 * against the emulator with a write quota of `q` a second in each region, in one region or spread
 * over three. Returns when each region's store writes landed (the emulator's record, epoch ms).
 */
async function rotateFleet(n: number, q: number, regions: string[]): Promise<Record<string, number[]>> {
  const sandbox = await startSandbox({ managementPerMinute: 6_000 });
  const dir = mkdtempSync(join(tmpdir(), "kr-budget-"));
  const prefix = testPrefix("budget");
  let worker: CliProcess | undefined;
  try {
    sandbox.emulator.setClock(() => Date.now() - 100 * 86_400_000);
    const login = "budget/callcov/management-login";
    for (const r of regions)
      sandbox.emulator.stateOf(r).CreateSecret({ Name: login, SecretString: JSON.stringify(SANDBOX_LOGIN) });
    const creds: SeededCallCov[] = [];
    for (let i = 0; i < n; i++) {
      const made = sandbox.callcov.issueKey(`budget ${i}`);
      const secretId = `budget/callcov/cc-${i}`;
      sandbox.emulator.stateOf(regions[i % regions.length] ?? "us-east-1").CreateSecret({
        Name: secretId,
        SecretString: JSON.stringify({ vendor: "callcov", apiKey: made.key, keyId: made.id }),
      });
      creds.push({ id: `cc-${i}`, secretId, keyId: made.id });
    }
    sandbox.emulator.setClock(Date.now);
    sandbox.emulator.setWriteTps(q);
    sandbox.emulator.resetStats();
    const path = join(dir, "inventory.yaml");
    writeCallCovInventory(path, sandbox, creds, login, { queuePrefix: prefix, concurrency: 32, storeWriteQuota: q });
    const inventory = parse(readFileSync(path, "utf8")) as { credentials: Array<Record<string, unknown>> };
    inventory.credentials.forEach((c, i) => (c.region = regions[i % regions.length]));
    writeFileSync(path, stringify(inventory));
    worker = startCli(["worker"], {
      env: {
        ...sandboxEnv(sandbox),
        REDIS_URL,
        KEY_ROTATOR_CONFIG: path,
        KEY_ROTATOR_HTTP_PORT: "0",
        LOG_LEVEL: "warn",
      },
    });
    const end = Date.now() + 90_000;
    while ((await redis.hlen(`${prefix}:completed`)) < n) {
      if (Date.now() > end || worker.child.exitCode !== null)
        throw new Error(`not every credential rotated:\n${worker.lines.slice(-20).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return sandbox.emulator.stats().writesAt;
  } finally {
    await worker?.kill("SIGKILL");
    await sandbox.close();
    await dropPrefix(redis, prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Store writes in each whole second from the fleet's first write on, all regions together. */
function perSecond(writesAt: Record<string, number[]>): number[] {
  const all = Object.values(writesAt).flat();
  const first = Math.min(...all);
  const counts: number[] = [];
  for (const t of all) {
    const s = Math.floor((t - first) / 1000);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return Array.from(counts, (c) => c ?? 0);
}

describe("regions rotate side by side", () => {
  it("three regions with a quota of q each write more than 2q a second, and finish in well under half of one region's seconds", async () => {
    // 60 rotations make 120 writes: 12 seconds' worth at 10 a second in one region, 4 in three.
    const q = 10;
    const one = perSecond(await rotateFleet(60, q, ["us-east-1"]));
    const three = perSecond(await rotateFleet(60, q, ["us-east-1", "eu-west-1", "ap-southeast-2"]));
    const summary = `writes a second, one region: ${one.join(" ")}; three regions: ${three.join(" ")}`;
    const rate = (counts: number[]) => counts.reduce((a, b) => a + b, 0) / counts.length;
    // A region's quota bounds one region (its bucket may start full: q more in the first second).
    expect(rate(one), summary).toBeLessThanOrEqual(1.5 * q);
    // Regions that waited on each other (one budget, one quota, one window) could not pass 2q.
    expect(rate(three), summary).toBeGreaterThan(2 * q);
    expect(three.length * 2, summary).toBeLessThan(one.length);
  }, 240_000);
});
