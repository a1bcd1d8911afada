/**
 * Failover in the middle of a fleet (issue 19): a small fleet of CallCov credentials, all due at
 * once, rotated by two worker processes on a real Redis Cluster of the test's own (3 masters, 3
 * replicas on 127.0.0.1:7200-7205). When some rotations are promoted and others are still in
 * flight (their creates held at the vendor, so on a machine of any speed), the master holding the
 * queue's slot is SIGKILLed; its replica takes over. The fleet must complete with the chaos
 * suite's invariants, judged from outside (test/support/outside-checks.ts): one working current
 * key per credential, replaced keys refused, no orphan, no stray AWSPENDING, no two rotations of
 * one credential at once; and no worker may die of it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { checkInvariants, completedRotations, snapshotVersions } from "../support/outside-checks.js";
import { type RedisClusterUnderTest, startRedisCluster } from "../support/redis-cluster.js";
import { type World, expectConverged, leaks, startWorld } from "../support/rotation-world.js";

const BASE_PORT = 7200;
const CREDENTIALS = 8;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("Redis Cluster failover in the middle of a fleet of rotations", () => {
  let cluster: RedisClusterUnderTest | undefined;
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    await cluster?.stop();
    world = undefined;
    cluster = undefined;
  });

  it("SIGKILL of the master holding the queue's slot: the fleet completes with every invariant", async () => {
    const started = Date.now();
    cluster = await startRedisCluster({ basePort: BASE_PORT, nodeTimeoutMs: 1_000 });
    const c = cluster;
    world = await startWorld({
      redis: c.topology(),
      credentials: CREDENTIALS,
      due: true,
      grace: "3s",
      lockDuration: "5s",
      dueCheckEvery: "1s",
      concurrency: 2,
      logLevel: "info",
    });
    const w = world;
    // The harness's own connection sees the master go too; it follows the cluster by itself.
    w.redis.on("error", () => undefined);
    w.queue.on("error", () => undefined);
    const victim = await c.masterFor(w.prefix);
    // In the middle, whatever the machine's speed: two keys are made, every later create waits at
    // the vendor until the kill (a worker that starts first could otherwise finish the whole fleet
    // before the second is up).
    const faults = w.sandbox.callcov.faults;
    const hold = faults.addRule({ kind: "hold", match: "POST /api/v1/api-keys/", skip: 2 });
    const workers = await Promise.all([w.startWorker(), w.startWorker()]);
    const versions = snapshotVersions(w.sandbox, w.creds);

    // Some rotations promoted, others held inside their create, the rest still to come.
    const deadline = Date.now() + 30_000;
    const middle = () => completedRotations(w.sandbox, w.creds) >= 2 && faults.heldCount > 0;
    while (!middle() && Date.now() < deadline) await sleep(50);
    const promotedAtKill = completedRotations(w.sandbox, w.creds);
    const keysAtKill = w.sandbox.callcov.state.counters.created;
    expect(promotedAtKill, "no rotation was promoted within 30 s").toBeGreaterThanOrEqual(2);
    expect(faults.heldCount, "no create was in flight at the kill").toBeGreaterThan(0);
    expect(promotedAtKill, "the fleet finished before the kill").toBeLessThan(CREDENTIALS);
    const killedAt = Date.now();
    await c.kill(victim);
    // The held creates land while the cluster fails over.
    faults.remove(hold);
    faults.release();
    await c.waitHealthy(w.prefix, 30_000);
    const failoverMs = Date.now() - killedAt;
    const newMaster = await c.masterFor(w.prefix);
    expect(newMaster).not.toBe(victim);

    for (const cred of w.creds) {
      snapshotVersions(w.sandbox, w.creds, versions);
      await w.waitRotated(cred, 90_000);
    }
    const completedMs = Date.now() - killedAt;
    snapshotVersions(w.sandbox, w.creds, versions);
    const violations = await checkInvariants(w.sandbox, w.creds, versions);
    for (const cred of w.creds) violations.push(...(await expectConverged(w, cred)));
    const ownExits = workers.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).length;
    const lines = workers.flatMap((p) => p.lines);
    violations.push(...leaks(lines.join("\n"), w.secrets()).map((s) => `secret ${s} in a log line`));
    violations.push(...leaks(await w.redisDump(), w.secrets()).map((s) => `secret ${s} in Redis`));

    const figures = {
      credentials: CREDENTIALS,
      workers: workers.length,
      promotedAtKill,
      keysMadeAtKill: keysAtKill,
      killedMaster: victim,
      newMaster,
      failoverMs,
      completedAfterKillMs: completedMs,
      rotations: completedRotations(w.sandbox, w.creds),
      keysMade: w.sandbox.callcov.state.counters.created,
      revoked: w.sandbox.callcov.state.counters.revoked,
      workerExits: ownExits,
      totalMs: Date.now() - started,
    };
    process.stderr.write(`cluster failover figures: ${JSON.stringify(figures)}\n`);
    expect(violations).toEqual([]);
    expect(ownExits).toBe(0);
    expect(figures.rotations).toBe(CREDENTIALS);
  }, 150_000);
});
