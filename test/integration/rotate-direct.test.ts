/**
 * `key-rotator rotate <credential> --emergency --direct`: the incident path that needs no Redis.
 * It rotates in the CLI process with the store's stages as the lock, and a rotation it finds in
 * grace is finished first, so the key that rotation was replacing is revoked, not forgotten.
 */
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../support/alert-receiver.js";
import { startCli } from "../../src/demo/cli-process.js";
import { type World, expectConverged, leaks, startWorld } from "../support/rotation-world.js";

const NO_REDIS = "redis://127.0.0.1:9";

async function direct(world: World, id: string) {
  const p = startCli(["rotate", id, "--emergency", "--direct", "--json"], {
    env: { ...world.env, REDIS_URL: NO_REDIS },
  });
  const code = await p.exited;
  const json = p.lines.find((l) => l.startsWith('{"credential"'));
  return {
    code,
    lines: p.lines,
    result: json ? (JSON.parse(json) as { step: string; rotationId: string }) : undefined,
  };
}

describe("rotate --emergency --direct", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("rotates with Redis down: one working current key, the old one revoked, no orphan", async () => {
    world = await startWorld({ grace: "1h" });
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const r = await direct(world, c.id);
    expect(r.code, r.lines.join("\n")).toBe(0);
    expect(r.result?.step).toBe("done");
    expect(await expectConverged(world, c)).toEqual([]);
    expect(leaks(r.lines.join("\n"), world.secrets())).toEqual([]);
  });

  it("a rotation in grace is finished first: the key it was replacing is revoked too", async () => {
    world = await startWorld({ grace: "1h" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const worker = await w.startWorker();
    await w.enqueue(c.id);
    await until(
      async () => (await w.stagesOf(c)).some((v) => v.stages.includes("AWSCURRENT") && v.stages.includes("AWSPENDING")),
      "the rotation to reach grace",
    );
    const inGrace = await w.currentKey(c);
    // The incident: the worker and Redis are gone, the original key is still live.
    await worker.kill("SIGKILL");
    expect(w.sandbox.callcov.isKeyActive(c.keyId)).toBe(true);
    const r = await direct(w, c.id);
    expect(r.code, r.lines.join("\n")).toBe(0);
    expect(w.sandbox.callcov.isKeyActive(c.keyId)).toBe(false);
    expect(w.sandbox.callcov.isKeyActive(inGrace.keyId)).toBe(false);
    expect((await w.currentKey(c)).keyId).not.toBe(inGrace.keyId);
    expect(await expectConverged(w, c)).toEqual([]);
  });
});
