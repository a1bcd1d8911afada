/**
 * Redis is not the source of truth: a FLUSHALL in the middle of a rotation loses nothing, and any
 * number of worker processes sharing one Redis never rotate one credential twice at once.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  type World,
  credentialOfKeyName,
  expectConverged,
  finishedPerCredential,
  keysMadePerCredential,
  leaks,
  startWorld,
} from "../support/rotation-world.js";
import { startPrivateRedis } from "../support/private-redis.js";

describe("worker processes and Redis", () => {
  let world: World | undefined;
  let stopRedis: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await world?.close();
    await stopRedis?.();
    world = undefined;
    stopRedis = undefined;
  });

  it.each(["waiting out grace", "inside verify"])(
    "FLUSHALL %s loses nothing: the worker resumes from the store",
    async (when) => {
      const redis = await startPrivateRedis();
      stopRedis = redis.stop;
      world = await startWorld({ redisUrl: redis.url, grace: "2s" });
      const w = world;
      const c = w.creds[0];
      if (!c) throw new Error("no credential");
      if (when === "inside verify")
        w.sandbox.callcov.faults.add({ kind: "hold", match: "GET /api/v1/health", count: 1 });
      const worker = await w.startWorker();
      await w.enqueue(c.id);
      if (when === "inside verify") await until(() => w.sandbox.callcov.faults.heldCount > 0);
      else await worker.waitForLine(/waiting: grace period/);
      await w.redis.flushall();
      w.sandbox.callcov.faults.release();
      await w.waitRotated(c, 40_000);
      expect(await expectConverged(w, c)).toEqual([]);
      expect(worker.lines.some((l) => l.includes("scheduler.restored"))).toBe(true);
      expect(w.sandbox.callcov.state.counters.created).toBe(2);
    },
  );

  it("a completed rotation costs two store writes; the next due check leaves it alone, and so does one after a FLUSHALL", async () => {
    // A private Redis: FLUSHALL on the shared one would wipe the queues of tests running beside it.
    const redis = await startPrivateRedis();
    stopRedis = redis.stop;
    world = await startWorld({ redisUrl: redis.url, credentials: 4, due: true, grace: "0s" });
    const w = world;
    w.sandbox.emulator.resetStats();
    const first = await w.startWorker();
    for (const c of w.creds) await w.waitRotated(c, 40_000);
    await first.kill("SIGTERM");
    const writes = w.sandbox.emulator.stats().writes;
    expect(writes).toBe(2 * w.creds.length);

    // Redis remembers each rotation completed: a restart's due check resumes none of them.
    const second = await w.startWorker();
    const done = JSON.parse(await second.waitForLine(/"due-check.done"/)) as {
      checked: number;
      resumed: number;
      started: number;
    };
    expect(done).toMatchObject({ checked: 4, resumed: 0, started: 0 });
    await second.kill("SIGTERM");

    // Redis lost: the secret's finished-marker still says each rotation finished, so nothing is
    // resumed: no store write, no key made, no revoke repeated.
    const revokesBefore = w.sandbox.callcov.state.counters.revoked;
    await w.redis.flushall();
    const third = await w.startWorker();
    const again = JSON.parse(await third.waitForLine(/"due-check.done"/)) as { resumed: number; started: number };
    expect(again).toMatchObject({ resumed: 0, started: 0 });
    expect(w.sandbox.emulator.stats().writes).toBe(writes);
    expect(w.sandbox.callcov.state.counters.created).toBe(8);
    expect(w.sandbox.callcov.state.counters.revoked).toBe(revokesBefore);
    for (const c of w.creds) expect(await expectConverged(w, c)).toEqual([]);
  });

  it("two worker processes rotate 16 due credentials, each exactly once, with no secret in Redis or logs", async () => {
    // Seeded 100 days old on a 90d cadence: each credential is due once, and its new key is not
    // due again for 90 days, so exactly one rotation per credential is the only right outcome.
    world = await startWorld({ credentials: 16, due: true, grace: "0s", concurrency: 4 });
    const w = world;
    const [a, b] = [await w.startWorker(), await w.startWorker()];
    for (const c of w.creds) await w.waitRotated(c, 40_000);
    await Promise.all([a.kill("SIGTERM"), b.kill("SIGTERM")]);
    // Counted per credential, not per key name: two rotations of one credential carry two
    // different rotation ids in their key names, and both must show up here.
    const made = keysMadePerCredential(w);
    const finished = finishedPerCredential([...a.lines, ...b.lines]);
    for (const c of w.creds) {
      expect(made.get(c.id), `keys made for ${c.id}`).toBe(1);
      expect(finished.get(c.id), `rotations finished for ${c.id}`).toEqual(["completed"]);
      const ours = [...w.sandbox.callcov.state.keys.values()].filter((k) => credentialOfKeyName(k.name) === c.id);
      const versions = (await w.stagesOf(c)).map((v) => v.versionId);
      for (const k of ours) expect(versions).toContain(k.name.split("/")[2]);
      expect(await expectConverged(w, c)).toEqual([]);
    }
    expect([...made.keys()].sort()).toEqual(w.creds.map((c) => c.id).sort());
    expect([...finished.keys()].sort()).toEqual(w.creds.map((c) => c.id).sort());
    expect([...finished.values()].flat()).toHaveLength(16);
    // 16 seeded by hand + 16 made by the rotations, nothing else.
    expect(w.sandbox.callcov.state.counters.created).toBe(32);
    expect(leaks([...a.lines, ...b.lines].join("\n"), w.secrets())).toEqual([]);
    expect(leaks(await w.redisDump(), w.secrets())).toEqual([]);
  });
});

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
