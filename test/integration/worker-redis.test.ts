/**
 * Redis is not the source of truth: a FLUSHALL in the middle of a rotation loses nothing, and any
 * number of worker processes sharing one Redis never rotate one credential twice at once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type World, expectConverged, leaks, startWorld } from "../support/rotation-world.js";
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

  it.each(["waiting out grace", "inside verify"])("FLUSHALL %s loses nothing: the worker resumes from the store", async (when) => {
    const redis = await startPrivateRedis();
    stopRedis = redis.stop;
    world = await startWorld({ redisUrl: redis.url, grace: "2s" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    if (when === "inside verify") w.sandbox.callcov.faults.add({ kind: "hold", match: "GET /api/v1/health", count: 1 });
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
  });

  it("two worker processes rotate 16 due credentials, each exactly once, with no secret in Redis or logs", async () => {
    world = await startWorld({ credentials: 16, due: true, grace: "0s", concurrency: 4 });
    const w = world;
    const [a, b] = [await w.startWorker(), await w.startWorker()];
    for (const c of w.creds) await w.waitRotated(c, 40_000);
    await Promise.all([a.kill("SIGTERM"), b.kill("SIGTERM")]);
    const keys = [...w.sandbox.callcov.state.keys.values()];
    for (const c of w.creds) {
      const made = keys.filter((k) => k.name.startsWith(`key-rotator/${c.id}/`));
      const byRotation = new Map<string, number>();
      for (const k of made) byRotation.set(k.name, (byRotation.get(k.name) ?? 0) + 1);
      // One vendor key per rotation, and every rotation's key is a store version.
      expect([...byRotation.values()].every((n) => n === 1)).toBe(true);
      const versions = (await w.stagesOf(c)).map((v) => v.versionId);
      for (const name of byRotation.keys()) expect(versions).toContain(name.split("/")[2]);
      expect(await expectConverged(w, c)).toEqual([]);
    }
    const completedBy = [a, b].map((p) => p.lines.filter((l) => l.includes("\"rotation.finished\"")).length);
    expect((completedBy[0] ?? 0) + (completedBy[1] ?? 0)).toBeGreaterThanOrEqual(16);
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
