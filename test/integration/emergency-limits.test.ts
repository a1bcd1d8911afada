/**
 * The bounds on emergencies against a real Redis (emergency-limits.ts, DESIGN.md rule 10): the
 * cooldown per credential, the global cap, `force`, the audit of every refusal, and Redis content
 * that cannot delay an emergency past one bound however it was forged.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { EmergencyLimits, EmergencyRefusedError, gateEmergency } from "../../src/queue/emergency-limits.js";
import { RotationHistory } from "../../src/queue/rotation-history-store.js";
import type { Enqueued } from "../../src/queue/rotation-queue.js";
import type { Logger } from "../../src/observability/logger.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const MINUTE = 60_000;
const YEAR = 365 * 86_400_000;

let redis: Redis;
let prefix: string;
beforeEach(() => {
  redis = testRedis();
  prefix = testPrefix("limits");
});
afterEach(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const limits = (cooldownMs: number, maxPerMinute = 100) =>
  new EmergencyLimits(redis, prefix, { cooldownMs, maxPerMinute });
const cooldownKey = (credentialId: string) => `${prefix}:emergency:cooldown:${credentialId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("emergency cooldown", () => {
  it("admits one emergency per credential per cooldown; another credential is not affected", async () => {
    const l = limits(10 * MINUTE);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    const again = await l.admit("a", false);
    expect(again).toMatchObject({ admitted: false, refusedFor: "cooldown" });
    if (again.admitted) throw new Error("unreachable");
    expect(again.retryAfterMs).toBeGreaterThan(10 * MINUTE - 5_000);
    expect(again.retryAfterMs).toBeLessThanOrEqual(10 * MINUTE);
    expect(await l.admit("b", false)).toMatchObject({ admitted: true });
  });

  it("admits again once the cooldown has passed", async () => {
    const l = limits(300);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    expect(await l.admit("a", false)).toMatchObject({ admitted: false });
    await sleep(350);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
  });

  it("a cooldown of 0 turns it off (the cap still holds)", async () => {
    const l = limits(0, 2);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    expect(await l.admit("a", false)).toMatchObject({ admitted: false, refusedFor: "global-cap" });
  });

  it("force passes the cooldown and starts a new one", async () => {
    const l = limits(10 * MINUTE);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    expect(await l.admit("a", true)).toMatchObject({ admitted: true });
    expect(await l.admit("a", false)).toMatchObject({ admitted: false, refusedFor: "cooldown" });
  });

  it.each([
    ["a time ten years ahead, kept forever", String(Date.now() + 10 * YEAR)],
    ["garbage", "not-a-time"],
    ["infinity", "1e400"],
    ["an empty string", ""],
  ])("a forged stamp (%s) delays an emergency by at most one cooldown", async (_what, forged) => {
    const cooldownMs = 1_500;
    const l = limits(cooldownMs);
    await redis.set(cooldownKey("a"), forged);
    const first = await l.admit("a", false);
    expect(first).toMatchObject({ admitted: false, refusedFor: "cooldown" });
    if (first.admitted) throw new Error("unreachable");
    expect(first.retryAfterMs).toBeLessThanOrEqual(cooldownMs);
    const since = Date.now();
    await sleep(cooldownMs + 100);
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
    expect(Date.now() - since).toBeLessThan(cooldownMs + 1_000);
  });

  it("a forged key of another type, or a cap of another type, does not break or block the gate", async () => {
    const l = limits(10 * MINUTE);
    await redis.hset(cooldownKey("a"), "at", "1");
    await redis.set(`${prefix}:emergency:started`, "x");
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
  });

  it("force always passes a forged stamp", async () => {
    const l = limits(10 * MINUTE);
    await redis.set(cooldownKey("a"), String(Date.now() + 10 * YEAR));
    expect(await l.admit("a", true)).toMatchObject({ admitted: true });
  });
});

describe("global cap", () => {
  it("admits at most maxPerMinute emergencies across credentials, then says when the next slot frees", async () => {
    const l = limits(10 * MINUTE, 3);
    for (const id of ["a", "b", "c"]) expect(await l.admit(id, false)).toMatchObject({ admitted: true });
    const fourth = await l.admit("d", false);
    expect(fourth).toMatchObject({ admitted: false, refusedFor: "global-cap" });
    if (fourth.admitted) throw new Error("unreachable");
    expect(fourth.retryAfterMs).toBeGreaterThan(MINUTE - 5_000);
    expect(fourth.retryAfterMs).toBeLessThanOrEqual(MINUTE);
    // force lifts the cooldown, never the cap
    expect(await l.admit("a", true)).toMatchObject({ admitted: false, refusedFor: "global-cap" });
  });

  it("refusals do not count against the cap: a flood for one credential leaves room for others", async () => {
    const l = limits(10 * MINUTE, 2);
    for (let i = 0; i < 50; i++) await l.admit("a", false);
    expect(await l.admit("b", false)).toMatchObject({ admitted: true });
  });

  it("cap entries forged in the future are dropped", async () => {
    const l = limits(10 * MINUTE, 2);
    const far = Date.now() + 10 * YEAR;
    await redis.zadd(`${prefix}:emergency:started`, far, "x", far, "y", far, "z");
    expect(await l.admit("a", false)).toMatchObject({ admitted: true });
  });
});

describe("the lane's write budget, taken with the admission", () => {
  const budget = (size: number, max = 100, region = true) => ({
    ...(region ? { region: { key: `${prefix}:write-budget:r`, size, windowMs: MINUTE } } : {}),
    limiter: { key: `${prefix}:rotations:limiter`, max, windowMs: MINUTE },
  });
  const limiterCount = async () => Number((await redis.get(`${prefix}:rotations:limiter`)) ?? 0);

  it("an admission takes the region's token and the limiter's slot; a spent bucket still admits", async () => {
    const l = limits(0);
    expect(await l.admit("a", false, true, budget(1))).toMatchObject({ admitted: true, budget: true });
    expect(await limiterCount()).toBe(1);
    // The region's bucket is spent: admitted all the same (the queue will start it), no limiter slot.
    expect(await l.admit("b", false, true, budget(1))).toMatchObject({ admitted: true, budget: false });
    expect(await limiterCount()).toBe(1);
  });

  it("a full limiter window is a spent budget too; without a region, the limiter alone decides", async () => {
    const l = limits(0);
    expect(await l.admit("a", false, true, budget(10, 1, false))).toMatchObject({ admitted: true, budget: true });
    expect(await l.admit("b", false, true, budget(10, 1, false))).toMatchObject({ admitted: true, budget: false });
    expect(await redis.exists(`${prefix}:write-budget:r`)).toBe(0);
  });

  it("a refused emergency takes nothing of the budget", async () => {
    const l = limits(MINUTE);
    await l.admit("a", false);
    expect(await l.admit("a", false, true, budget(5))).toMatchObject({ admitted: false, refusedFor: "cooldown" });
    expect(await limiterCount()).toBe(0);
    expect(await redis.exists(`${prefix}:write-budget:r`)).toBe(0);
  });

  it("gateEmergency tells the start whether the slot was taken, and nothing when none was asked", async () => {
    const log = { warn: () => undefined, info: () => undefined } as unknown as Logger;
    const gate = { limits: limits(0), history: new RotationHistory(redis, prefix), log, now: Date.now };
    const told: Array<boolean | undefined> = [];
    const start = async (_r: unknown, taken: boolean | undefined): Promise<Enqueued> => {
      told.push(taken);
      return { jobId: "j", rotationId: "r", joined: false };
    };
    const request = { credentialId: "a", trigger: "emergency" as const, emergency: true, actor: "cli:alice" };
    await gateEmergency(gate, request, start, budget(1));
    await gateEmergency(gate, request, start, budget(1));
    await gateEmergency(gate, request, start);
    expect(told).toEqual([true, false, undefined]);
  });
});

describe("gateEmergency", () => {
  const silentLog = () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = {
      warn: (o: Record<string, unknown>, msg: string) => void lines.push({ ...o, msg }),
      info: () => undefined,
    } as unknown as Logger;
    return { log, lines };
  };
  const started: Enqueued = { jobId: "rotation-r1", rotationId: "r1", joined: false };

  it("refuses past the cooldown with a retry time, audits it in the log and the trail, and starts nothing", async () => {
    const { log, lines } = silentLog();
    const history = new RotationHistory(redis, prefix);
    const gate = { limits: limits(10 * MINUTE), history, log, now: Date.now };
    let starts = 0;
    const start = async () => (starts++, started);
    const request = {
      credentialId: "a",
      trigger: "emergency" as const,
      emergency: true,
      actor: "admin-http",
      reason: "leaked",
    };
    expect(await gateEmergency(gate, request, start)).toEqual(started);
    const refused = await gateEmergency(gate, request, start).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EmergencyRefusedError);
    expect(refused).toMatchObject({ refusedFor: "cooldown" });
    expect((refused as EmergencyRefusedError).retryAfterSeconds).toBeGreaterThan(590);
    expect(starts).toBe(1);
    expect(lines).toEqual([
      expect.objectContaining({
        event: "emergency.refused",
        credentialId: "a",
        actor: "admin-http",
        reason: "leaked",
        refusedFor: "cooldown",
        retryAfterSeconds: expect.any(Number),
      }),
    ]);
    expect(await history.auditTrail("a")).toEqual([
      expect.objectContaining({
        event: "emergency.refused",
        actor: "admin-http",
        reason: "leaked",
        refusedFor: "cooldown",
      }),
    ]);

    // Forced: passes, and is audited as forced.
    expect(await gateEmergency(gate, { ...request, force: true, reason: "the new key leaked too" }, start)).toEqual(
      started,
    );
    expect(starts).toBe(2);
    expect((await history.auditTrail("a"))[0]).toMatchObject({
      event: "emergency.forced",
      reason: "the new key leaked too",
    });
  });

  it("gives the admission back when nothing could be started", async () => {
    const { log } = silentLog();
    const gate = { limits: limits(10 * MINUTE), history: new RotationHistory(redis, prefix), log, now: Date.now };
    const request = { credentialId: "a", trigger: "emergency" as const, emergency: true };
    await expect(
      gateEmergency(gate, request, async () => Promise.reject(new Error("Redis went away"))),
    ).rejects.toThrow(/went away/);
    expect(await gateEmergency(gate, request, async () => started)).toEqual(started);
  });
});
