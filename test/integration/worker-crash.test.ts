/**
 * Crash safety with real processes (DESIGN.md rule 7): a `key-rotator worker` process is
 * SIGKILLed at every step boundary and inside the vendor and store calls (held open by the fault
 * knobs), a fresh worker process starts, and the rotation must converge: one working current key,
 * the old key revoked exactly once, no orphan at the vendor, no pending stage, no secret in Redis or the logs.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { FaultRule } from "../../src/sandbox/faults.js";
import { type World, expectConverged, leaks, startWorld } from "../support/rotation-world.js";

type KillPoint = [string, "callcov" | "emulator" | "grace", FaultRule | undefined, "release" | "drop"];

const killPoints: KillPoint[] = [
  [
    "inside create, before the vendor acts (the request then lands)",
    "callcov",
    { kind: "hold", match: "POST /api/v1/api-keys/" },
    "release",
  ],
  ["inside create, the request lost", "callcov", { kind: "hold", match: "POST /api/v1/api-keys/" }, "drop"],
  [
    "between the vendor's create and the store write (the write then lands)",
    "emulator",
    { kind: "hold", match: "PutSecretValue" },
    "release",
  ],
  [
    "between the vendor's create and the store write (the write lost)",
    "emulator",
    { kind: "hold", match: "PutSecretValue" },
    "drop",
  ],
  ["inside verify", "callcov", { kind: "hold", match: "GET /api/v1/health" }, "drop"],
  ["inside promote (it then lands)", "emulator", { kind: "hold", match: "UpdateSecretVersionStage" }, "release"],
  ["inside promote (lost)", "emulator", { kind: "hold", match: "UpdateSecretVersionStage" }, "drop"],
  ["while waiting out grace", "grace", undefined, "release"],
  ["inside revoke (it then lands)", "callcov", { kind: "hold", match: "DELETE /api/v1/api-keys/" }, "release"],
  ["inside confirm", "callcov", { kind: "hold", match: "GET /api/v1/health", skip: 1 }, "drop"],
];

describe("SIGKILL at each step, then restart", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it.each(killPoints)("killed %s: converges", async (_where, target, rule, then) => {
    world = await startWorld({ grace: "1s" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const faults = target === "callcov" ? w.sandbox.callcov.faults : w.sandbox.emulator.faults;
    if (rule) faults.add({ ...rule, count: 1 });
    const first = await w.startWorker();
    await w.enqueue(c.id);
    if (target === "grace") await first.waitForLine(/waiting: grace period/);
    else await until(() => faults.heldCount > 0, `a held ${rule?.match ?? ""} call`);
    await first.kill("SIGKILL");
    if (then === "release") faults.release();
    else faults.dropHeld();

    const second = await w.startWorker();
    await w.waitRotated(c);
    expect(await expectConverged(w, c)).toEqual([]);
    // expectConverged holds the old key to exactly one revocation and the current key to no revoke
    // request. Beyond it: every key the vendor made, except the current one, was revoked (exactly
    // once: the simulator cannot revoke a key twice), counting the seeded key and any orphan.
    const { created, revoked, revocationsByKey } = w.sandbox.callcov.state.counters;
    expect(revocationsByKey[c.keyId]).toBe(1);
    expect(revoked).toBe(created - 1);
    const logs = [...first.lines, ...second.lines].join("\n");
    expect(leaks(logs, w.secrets())).toEqual([]);
    expect(leaks(await w.redisDump(), w.secrets())).toEqual([]);
  });
});

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
