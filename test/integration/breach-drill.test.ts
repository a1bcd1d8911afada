/**
 * The breach drill (issue 21 item 6), on a real worker and CLI processes, real Redis under its own
 * prefix, the emulator and the vendor simulators: `rotate --emergency --vendor callcov` rotates
 * every CallCov credential and no other vendor's, ahead of the SendGrid rotations the schedule
 * queued before it, past a fleet cap smaller than itself without spending it; declaring it again
 * rotates nothing twice; one audit line for the drill; bad
 * input is exit 2 with a clear message.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { type SeededKeyApi, seedKeyApiCredential } from "../../src/sandbox/seed.js";
import { enqueueRotation } from "../../src/queue/rotation-queue.js";
import { EmergencyLimits } from "../../src/queue/emergency-limits.js";
import { type World, expectConverged, keysMadePerCredential, startWorld } from "../support/rotation-world.js";

interface Drill {
  drillId: string;
  vendor: string;
  credentials: number;
  queued: number;
  joined: number;
  skipped: number;
  failed: number;
  rotations: Array<{ credential: string; result: string }>;
}

const CAP = 2;

let world: World;
let sendgrid: SeededKeyApi[];
let auditDir: string;

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; lines: string[] }> {
  const p = startCli(args, { env: { ...world.env, KEY_ROTATOR_AUDIT_LOG: join(auditDir, "audit.jsonl") } });
  const code = await p.exited;
  const stdout = p.lines.find((l) => l.startsWith("{")) ?? "";
  return { code, stdout, lines: p.lines.filter((l) => l.trim() !== "") };
}

const drill = async (...extra: string[]) => {
  const r = await cli([
    "rotate",
    "--emergency",
    "--vendor",
    "callcov",
    "--reason",
    "CallCov breach",
    "--json",
    ...extra,
  ]);
  expect(r.code, r.lines.join("\n")).toBe(0);
  return JSON.parse(r.stdout) as Drill;
};

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  auditDir = mkdtempSync(join(tmpdir(), "kr-drill-"));
  world = await startWorld({ credentials: 5, logLevel: "info" });
  sendgrid = [];
  for (const id of ["sg-0", "sg-1", "sg-2"])
    sendgrid.push(await seedKeyApiCredential(world.sandbox, world.client, "sendgrid", id));
  // One rotation at a time, so the order in which rotations start is the order the queue gives; a
  // cap of emergencies a minute below the drill's size, which a drill neither meets nor spends.
  world.rewriteInventory({
    keyApi: sendgrid,
    concurrency: 1,
    extraSettings: { emergency: { cooldown: "10m", maxPerMinute: CAP } },
  });
}, 60_000);

afterAll(async () => {
  await world?.close();
  rmSync(auditDir, { recursive: true, force: true });
});

describe("breach drill", () => {
  it("rotates every credential of the vendor, ahead of scheduled work, once however often it is declared", async () => {
    // The schedule's rotations of two SendGrid credentials wait on the queue (no worker yet).
    for (const s of sendgrid.slice(0, 2))
      await enqueueRotation(world.queue, world.redis, { credentialId: s.id, trigger: "schedule" });
    const first = await drill();
    const callcov = world.creds.map((c) => c.id).sort();
    expect(first).toMatchObject({ vendor: "callcov", credentials: 5, queued: 5, joined: 0, skipped: 0, failed: 0 });
    expect(first.rotations.map((r) => r.credential).sort()).toEqual(callcov);
    // Declared again before any worker ran: every credential is within its cooldown, none asked twice.
    const second = await drill();
    expect(second).toMatchObject({ queued: 0, joined: 0, skipped: 5, failed: 0 });
    // The fleet's cap is whole: single emergencies still get their CAP a minute, and no more.
    const limits = new EmergencyLimits(world.redis, world.prefix, { cooldownMs: 600_000, maxPerMinute: CAP });
    const admitted = [];
    for (const id of ["a", "b", "c"]) admitted.push((await limits.admit(`not-in-inventory-${id}`, false)).admitted);
    expect(admitted).toEqual([true, true, false]);

    const worker = await world.startWorker();
    for (const c of world.creds) await world.waitRotated(c, 60_000);
    for (const c of world.creds) expect(await expectConverged(world, c)).toEqual([]);
    await until(
      async () => (await world.redis.hmget(`${world.prefix}:completed`, "sg-0", "sg-1")).every((v) => v !== null),
      "the scheduled SendGrid rotations",
    );

    // Every rotation of the drill started before any scheduled one (a rotation's first step line).
    const firstStep = new Map<string, number>();
    worker.lines.forEach((line, i) => {
      if (!line.includes('"rotation.step"')) return;
      const id = (JSON.parse(line) as { credentialId?: string }).credentialId ?? "";
      if (!firstStep.has(id)) firstStep.set(id, i);
    });
    const lastDrill = Math.max(...callcov.map((id) => firstStep.get(id) ?? Infinity));
    const firstScheduled = Math.min(...["sg-0", "sg-1"].map((id) => firstStep.get(id) ?? -1));
    expect(lastDrill).toBeLessThan(firstScheduled);

    // Declared a third time after it finished: still within the cooldown, nothing rotates again.
    expect(await drill()).toMatchObject({ queued: 0, skipped: 5 });
    const made = keysMadePerCredential(world);
    expect(callcov.map((id) => made.get(id))).toEqual(callcov.map(() => 1));
    // No other vendor's key was touched by the drill: the SendGrid key nobody scheduled is current and alive.
    const untouched = sendgrid[2] as SeededKeyApi;
    expect(world.sandbox.sendgrid.isKeyActive(untouched.keyId)).toBe(true);
    expect(firstStep.has(untouched.id)).toBe(false);

    // One audit line per declaration, not one per credential.
    const audit = readFileSync(join(auditDir, "audit.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"breach.declared"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toHaveLength(3);
    expect(audit[0]).toMatchObject({
      vendor: "callcov",
      credentials: 5,
      reason: "CallCov breach",
      drillId: first.drillId,
    });
  }, 180_000);

  it("refuses bad input with exit 2 and a message that says what is wrong", async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ["--emergency", "--vendor", "acme", "--reason", "x"],
        /no credential of vendor "acme".*its vendors: callcov, sendgrid/,
      ],
      [["--emergency", "--vendor", "callcov"], /--vendor needs --reason/],
      [["--emergency", "--vendor", "callcov", "--reason", "  "], /--vendor needs --reason/],
      [["--vendor", "callcov", "--reason", "x"], /--vendor is only for --emergency/],
      [["cred-0", "--emergency", "--vendor", "callcov", "--reason", "x"], /not both/],
      [["--emergency", "--vendor", "callcov", "--reason", "x", "--direct"], /not for --direct/],
      [["--emergency"], /missing required argument 'credential' \(or --emergency --vendor <id>/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(["rotate", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.lines.join("\n")).toMatch(message);
    }
    const json = await cli(["rotate", "--emergency", "--vendor", "acme", "--reason", "x", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "bad_input" } });
  }, 60_000);
});
