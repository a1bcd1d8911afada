/**
 * The emergency lane on real worker processes: an emergency asked over admin HTTP rotates in the
 * worker that took the request, under a held job that keeps the credential's one-rotation lock,
 * and the queue then completes that job. The lease keeps the queue's own workers off the job
 * while the lane runs (however long a call takes), and lets another worker resume it when the
 * lane's process dies (DESIGN.md rules 4 and 7).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { CliProcess } from "../../src/demo/cli-process.js";
import type { SeededCallCov } from "../../src/sandbox/seed.js";
import { type World, expectConverged, keysMadePerCredential, leaks, startWorld } from "../support/rotation-world.js";

const TOKEN = "lane-test-admin-token-0123";
const ADMIN = { KEY_ROTATOR_ADMIN_TOKEN: TOKEN };

async function askEmergency(
  worker: CliProcess,
  c: SeededCallCov,
  force = false,
): Promise<{ status: number; body: { rotationId: string; joined: boolean } }> {
  const { http } = JSON.parse(await worker.waitForLine(/"worker.ready"/)) as { http: string };
  const res = await fetch(`${http}/v1/credentials/${c.id}/rotate`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      emergency: true,
      reason: "key pasted in a public channel",
      ...(force ? { force: true } : {}),
    }),
  });
  return { status: res.status, body: (await res.json()) as { rotationId: string; joined: boolean } };
}

/** The `rotation.step` lines of one rotation, as "step" names, across the given workers. */
function stepsOf(rotationId: string, ...workers: CliProcess[]): string[] {
  return workers
    .flatMap((w) => w.lines)
    .filter((l) => l.includes('"rotation.step"') && l.includes(rotationId))
    .map((l) => (JSON.parse(l) as { step: string }).step);
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("emergency lane", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("rotates in the worker that took the request, and the queue completes the job with no call of its own", async () => {
    // A long grace: only an emergency revokes the old key within this test.
    world = await startWorld({ grace: "15m" });
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const worker = await world.startWorker(ADMIN);
    const asked = await askEmergency(worker, c);
    expect(asked.status).toBe(202);
    expect(asked.body.joined).toBe(false);
    await world.waitRotated(c);
    expect(await expectConverged(world, c)).toEqual([]);
    const { rotationId } = asked.body;
    await until(
      () => worker.lines.some((l) => l.includes('"rotation.finished"') && l.includes(rotationId)),
      "the rotation's completion",
    );
    expect(worker.lines.some((l) => l.includes('"lane.start"') && l.includes(rotationId))).toBe(true);
    expect(worker.lines.some((l) => l.includes('"lane.handed-over"') || l.includes('"lane.release"'))).toBe(false);
    // Each step ran once, in the lane; the queue's run of the finished job made no step again.
    expect(stepsOf(rotationId, worker)).toEqual(["create", "verify", "promote", "grace", "revoke", "confirm"]);
    expect(await world.queue.getJobState(`rotation-${rotationId}`)).toBe("completed");
    const job = await world.queue.getJob(`rotation-${rotationId}`);
    expect(job?.data).toMatchObject({
      step: "done",
      emergency: true,
      trigger: "emergency",
      actor: "http:admin@127.0.0.1",
      reason: "key pasted in a public channel",
    });
    expect(leaks(await world.redisDump(), world.secrets())).toEqual([]);
    expect(leaks(worker.lines.join("\n"), world.secrets())).toEqual([]);
  });

  it("keeps its lease while a call takes longer than the lease: no queue worker runs the job meanwhile; a second emergency joins it and is answered by a newer key", async () => {
    world = await startWorld({ grace: "15m", lockDuration: "1s" });
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const faults = world.sandbox.callcov.faults;
    faults.add({ kind: "hold", match: "DELETE /api/v1/api-keys/", count: 1 });
    const first = await world.startWorker(ADMIN);
    const second = await world.startWorker(ADMIN);
    const asked = await askEmergency(first, c);
    await until(() => faults.heldCount > 0, "the lane's revoke, held");
    // Four leases long: without renewals, the job would be due and a queue worker would take it.
    await new Promise((r) => setTimeout(r, 4_000));
    // Within the cooldown a second emergency needs force; it joins the rotation in flight.
    expect((await askEmergency(second, c)).status).toBe(429);
    const liveAtSecond = [...world.sandbox.callcov.state.keys.values()].filter((k) => k.active).map((k) => k.id);
    const again = await askEmergency(second, c, true);
    expect(again.body).toMatchObject({ joined: true, rotationId: asked.body.rotationId });
    faults.release();
    await world.waitRotated(c);
    expect(await expectConverged(world, c)).toEqual([]);
    expect(stepsOf(asked.body.rotationId, first, second).slice(0, 6)).toEqual([
      "create",
      "verify",
      "promote",
      "grace",
      "revoke",
      "confirm",
    ]);
    // The rotation's key was made before the second request: the lane's run goes on to one more.
    expect(keysMadePerCredential(world).get(c.id)).toBe(2);
    for (const keyId of liveAtSecond)
      expect(world.sandbox.callcov.isKeyActive(keyId), `${keyId} live at the second request`).toBe(false);
    expect(world.sandbox.callcov.state.counters.revokeRequestsByKey[c.keyId]).toBe(1);
  });

  it.each([
    [
      "inside create, the vendor's key made but the answer lost",
      { kind: "hold" as const, match: "POST /api/v1/api-keys/" },
    ],
    ["inside revoke, which then lands", { kind: "hold" as const, match: "DELETE /api/v1/api-keys/" }],
  ])("killed %s: another worker resumes the job when the lease runs out, and it converges", async (_where, rule) => {
    world = await startWorld({ grace: "15m" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const faults = w.sandbox.callcov.faults;
    faults.add({ ...rule, count: 1 });
    const first = await w.startWorker(ADMIN);
    await askEmergency(first, c);
    await until(() => faults.heldCount > 0, `a held ${rule.match}`);
    await first.kill("SIGKILL");
    faults.release();

    const second = await w.startWorker();
    await w.waitRotated(c);
    expect(await expectConverged(w, c)).toEqual([]);
    const { created, revoked } = w.sandbox.callcov.state.counters;
    // Every key made but the current one is revoked: the seeded key and, after a lost create, its orphan.
    expect(revoked).toBe(created - 1);
    expect(leaks([...first.lines, ...second.lines].join("\n"), w.secrets())).toEqual([]);
    expect(leaks(await w.redisDump(), w.secrets())).toEqual([]);
  });
});
