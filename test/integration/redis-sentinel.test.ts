/**
 * The product on a real Sentinel set of the test's own (a master and two replicas on
 * 127.0.0.1:7300-7302, three sentinels on 7310-7312), named by REDIS_SENTINEL_HOSTS and
 * REDIS_SENTINEL_MASTER_NAME: a worker process and the CLI rotate a credential; the master is
 * SIGKILLed; once Sentinel has promoted a replica the same worker, which never restarted, and the
 * CLI rotate the next one. (`rotate` without --wait: its wait reads a job's data and then its state
 * in two calls, and a job that ends in between reads as "not rotated"; waitRotated judges instead.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { type RedisSentinelUnderTest, startRedisSentinel } from "../support/redis-sentinel.js";
import { type World, expectConverged, startWorld } from "../support/rotation-world.js";

const BASE_PORT = 7300;

describe("on Sentinel", () => {
  let sentinel: RedisSentinelUnderTest | undefined;
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    await sentinel?.stop();
    world = undefined;
    sentinel = undefined;
  });

  it("a worker and the CLI rotate before and after the master is SIGKILLed and replaced", async () => {
    sentinel = await startRedisSentinel({ basePort: BASE_PORT });
    const s = sentinel;
    world = await startWorld({ redis: s.topology(), credentials: 2, grace: "1s", logLevel: "info" });
    const w = world;
    w.redis.on("error", () => undefined);
    w.queue.on("error", () => undefined);
    const [first, second] = w.creds;
    if (!first || !second) throw new Error("two credentials expected");
    const worker = await w.startWorker();

    const before = startCli(["rotate", first.id], { env: w.env });
    expect(await before.exited, before.lines.join("\n")).toBe(0);
    await w.waitRotated(first, 30_000);

    const oldMaster = await s.masterPort();
    await s.kill(oldMaster);
    const newMaster = await s.waitNewMaster(oldMaster);
    expect(newMaster).not.toBe(oldMaster);

    const after = startCli(["rotate", second.id], { env: w.env });
    expect(await after.exited, after.lines.join("\n")).toBe(0);
    await w.waitRotated(second, 30_000);
    for (const c of w.creds) expect(await expectConverged(w, c)).toEqual([]);
    expect(worker.child.exitCode).toBeNull();
  }, 90_000);
});
