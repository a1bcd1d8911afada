/**
 * The maintenance schedulers are the inventory's whatever Redis holds: missing, another interval,
 * or a next run pushed far off (forged or corrupt) is put back by the worker's watchdog, so no
 * Redis content holds the due check, the health check or the orphan sweep off for long.
 */
import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { MAINTENANCE_QUEUE, schedulersOff, syncSchedulers } from "../../src/worker/maintenance.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const log = createLogger({ level: "silent" });
const wanted = { "due-check": 60_000, "health-check": 900_000 };

describe("schedulersOff", () => {
  const now = 1_000_000_000;
  it.each([
    [
      "as configured",
      [
        { key: "due-check", every: 60_000, next: now + 30_000 },
        { key: "health-check", every: 900_000, next: now + 1 },
      ],
      [],
    ],
    ["one missing", [{ key: "due-check", every: 60_000, next: now + 30_000 }], ["health-check"]],
    [
      "another interval",
      [
        { key: "due-check", every: 86_400_000, next: now + 30_000 },
        { key: "health-check", every: 900_000, next: now },
      ],
      ["due-check"],
    ],
    [
      "a next run years away",
      [
        { key: "due-check", every: 60_000, next: now + 365 * 86_400_000 },
        { key: "health-check", every: 900_000, next: now },
      ],
      ["due-check"],
    ],
  ])("%s", (_what, schedulers, off) => {
    expect(schedulersOff(schedulers, wanted, now)).toEqual(off);
  });
});

describe("syncSchedulers on real Redis", () => {
  const redis = testRedis();
  const prefix = testPrefix("schedulers");
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix });
  afterEach(async () => {
    await queue.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("puts back a scheduler whose next run was pushed years away, and leaves a right one's next run alone", async () => {
    const now = Date.now();
    await syncSchedulers(queue, wanted, log, now);
    const before = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s.next]));
    // Forged: the due check's next run in the repeat set, ten years on.
    await redis.zadd(`${prefix}:${MAINTENANCE_QUEUE}:repeat`, now + 10 * 365 * 86_400_000, "due-check");
    expect(schedulersOff(await queue.getJobSchedulers(0, -1), wanted, now)).toEqual(["due-check"]);
    await syncSchedulers(queue, wanted, log, now + 1_000);
    const after = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s.next]));
    expect(after.get("due-check")).toBeLessThanOrEqual(now + 1_000 + 60_000);
    expect(after.get("health-check")).toBe(before.get("health-check"));
    expect(schedulersOff(await queue.getJobSchedulers(0, -1), wanted, now + 1_000)).toEqual([]);
  });
});
