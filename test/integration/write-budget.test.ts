// The store's write budget is each region's own (write-budget.ts): one region's spent window
// never holds another's rotations, and a forged counter holds rotations back one window at most.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegionWriteBudget } from "../../src/queue/write-budget.js";
import { testRedis } from "../support/redis.js";

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
