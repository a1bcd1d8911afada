/**
 * Emergencies are bounded, on real worker and CLI processes (DESIGN.md rule 10, issue 16 item 7):
 * a flood of admin emergencies for one credential makes one rotation and 429s with Retry-After,
 * each refusal audited; the global cap holds across credentials; force passes the cooldown only,
 * with a reason; the CLI refuses alike (exit 1, the same message); and the emergency lane takes
 * its rotation from the store write budget the queue's limiter keeps, handing it to the queue
 * when that budget is spent.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import type { SeededCallCov } from "../../src/sandbox/seed.js";
import { RotationHistory } from "../../src/queue/rotation-history-store.js";
import { type World, expectConverged, keysMadePerCredential, startWorld } from "../support/rotation-world.js";

const TOKEN = "bounds-test-admin-token-0123";
const ADMIN = { KEY_ROTATOR_ADMIN_TOKEN: TOKEN };

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

function httpOf(worker: CliProcess): string {
  const line = worker.lines.find((l) => l.includes('"worker.ready"'));
  if (!line) throw new Error("worker not ready");
  return (JSON.parse(line) as { http: string }).http;
}

async function ask(http: string, c: SeededCallCov, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${http}/v1/credentials/${c.id}/rotate`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** Adds `settings.emergency` to the world's inventory (before any process reads it). */
function setEmergencySettings(world: World, emergency: Record<string, unknown>): void {
  const file = world.env.KEY_ROTATOR_CONFIG ?? "";
  const inventory = parse(readFileSync(file, "utf8")) as { settings: Record<string, unknown> };
  inventory.settings.emergency = emergency;
  writeFileSync(file, stringify(inventory));
}

async function cli(world: World, args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const p = startCli(args, { env: world.env });
  const code = await p.exited;
  return { code, lines: p.lines.filter((l) => l.trim() !== "") };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("bounded emergencies", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("600 admin emergencies in a minute for one credential make one rotation; the rest get 429 with Retry-After, each audited", async () => {
    world = await startWorld({ grace: "15m" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const worker = await w.startWorker(ADMIN);
    const http = httpOf(worker);
    w.sandbox.emulator.resetStats();

    // 600 requests over about 6 s, 20 at a time: well inside a minute, and spread over the
    // rotation's whole run and after it.
    const answers: Answer[] = [];
    const began = Date.now();
    for (let batch = 0; batch < 30; batch++) {
      const round = await Promise.all(
        Array.from({ length: 20 }, () => ask(http, c, { emergency: true, reason: "flood" })),
      );
      answers.push(...round);
      await new Promise((r) => setTimeout(r, 150));
    }
    const tookMs = Date.now() - began;
    expect(tookMs).toBeLessThan(60_000);
    await w.waitRotated(c, 40_000);
    expect(await expectConverged(w, c)).toEqual([]);

    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(599);
    for (const a of refused) {
      expect(a.body).toMatchObject({ error: "emergency_refused", refusedFor: "cooldown" });
      expect(a.body.message).toMatch(/cooldown/);
      const seconds = Number(a.retryAfter);
      expect(Number.isInteger(seconds)).toBe(true);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(600);
    }
    // One rotation's store writes: one new version put, then moved to current.
    expect(w.sandbox.emulator.stats().calls.PutSecretValue).toBe(1);
    expect(keysMadePerCredential(w).get(c.id)).toBe(1);

    // Every refusal audited: a log line each, and an entry each in the trail `history` shows.
    const logged = worker.lines
      .filter((l) => l.includes('"emergency.refused"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toHaveLength(599);
    for (const l of logged)
      expect(l).toMatchObject({
        credentialId: c.id,
        actor: "http:admin@127.0.0.1",
        reason: "flood",
        refusedFor: "cooldown",
        retryAfterSeconds: expect.any(Number),
      });
    expect(await new RotationHistory(w.redis, w.prefix).auditTrail(c.id)).toHaveLength(599);
    const shown = await cli(w, ["history", c.id, "--json"]);
    expect(shown.code).toBe(0);
    const doc = JSON.parse(shown.lines.find((l) => l.startsWith("{") && l.includes('"audit"')) ?? "{}") as {
      audit: unknown[];
    };
    expect(doc.audit).toHaveLength(599);
    console.log(
      `flood: 600 requests in ${(tookMs / 1000).toFixed(1)}s: 1 accepted, ${refused.length} refused; PutSecretValue ${w.sandbox.emulator.stats().calls.PutSecretValue}`,
    );
  }, 120_000);

  it("the global cap holds across credentials; force passes the cooldown only, and needs a reason; the CLI refuses alike", async () => {
    world = await startWorld({ grace: "15m", credentials: 3 });
    const w = world;
    setEmergencySettings(w, { cooldown: "10m", maxPerMinute: 2 });
    const [a, b, c] = w.creds;
    if (!a || !b || !c) throw new Error("no credentials");
    const worker = await w.startWorker(ADMIN);
    const http = httpOf(worker);

    expect((await ask(http, a, { emergency: true, reason: "leaked" })).status).toBe(202);
    const cooled = await ask(http, a, { emergency: true, reason: "leaked again" });
    expect(cooled).toMatchObject({ status: 429, body: { refusedFor: "cooldown" } });
    expect(Number(cooled.retryAfter)).toBeGreaterThan(500);

    // force is for emergencies only, and the body's reason is required anyway
    expect((await ask(http, a, { force: true, reason: "x" })).status).toBe(400);
    expect((await ask(http, a, { emergency: true, force: true })).status).toBe(400);
    await w.waitRotated(a, 40_000);
    const forced = await ask(http, a, { emergency: true, force: true, reason: "the new key leaked too" });
    expect(forced.status).toBe(202);

    // Two emergencies started this minute: the cap is reached for every credential, force or not.
    const capped = await ask(http, b, { emergency: true, reason: "leaked" });
    expect(capped).toMatchObject({ status: 429, body: { refusedFor: "global-cap" } });
    expect(Number(capped.retryAfter)).toBeGreaterThan(0);
    expect(Number(capped.retryAfter)).toBeLessThanOrEqual(60);
    expect((await ask(http, b, { emergency: true, force: true, reason: "really" })).status).toBe(429);

    // The CLI: the same refusal, one line, exit 1; --force without a reason is bad usage.
    const viaCli = await cli(w, ["rotate", c.id, "--emergency", "--reason", "leaked"]);
    expect(viaCli.code).toBe(1);
    const said = viaCli.lines.filter((l) => !l.startsWith("{"));
    expect(said).toEqual([
      expect.stringMatching(/^key-rotator rotate: emergency for cred-2 refused: the fleet-wide cap .* retry in \d+s$/),
    ]);
    const noReason = await cli(w, ["rotate", a.id, "--emergency", "--force"]);
    expect(noReason.code).toBe(2);
    expect(noReason.lines.join("\n")).toMatch(/--force needs --reason/);
    const cooledCli = await cli(w, ["rotate", a.id, "--emergency", "--reason", "again", "--json"]);
    expect(cooledCli.code).toBe(1);
    expect(JSON.parse(cooledCli.lines.find((l) => l.includes('"emergency_refused"')) ?? "{}")).toMatchObject({
      error: { code: "emergency_refused", refusedFor: "cooldown", retryAfterSeconds: expect.any(Number) },
    });

    // Audited, with who asked: the admin's and the CLI's refusals, and the forced one.
    const history = new RotationHistory(w.redis, w.prefix);
    const trailA = await history.auditTrail(a.id);
    expect(trailA.map((e) => [e.event, e.refusedFor])).toEqual([
      ["emergency.refused", "cooldown"],
      ["emergency.forced", undefined],
      ["emergency.refused", "cooldown"],
    ]);
    expect(trailA[0]?.actor).toMatch(/^cli:/);
    expect((await history.auditTrail(c.id))[0]).toMatchObject({
      event: "emergency.refused",
      refusedFor: "global-cap",
      actor: expect.stringMatching(/^cli:/),
      reason: "leaked",
    });
    const shown = await cli(w, ["history", a.id]);
    expect(shown.lines.join("\n")).toMatch(/Audit trail/);
    expect(shown.lines.join("\n")).toMatch(/emergency.forced .* the new key leaked too/);
  }, 120_000);

  it("the lane shares the store write budget: when this second's is spent, the queue starts the rotation when there is room", async () => {
    world = await startWorld({ grace: "15m", storeWriteQuota: 2 });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const worker = await w.startWorker(ADMIN);
    const http = httpOf(worker);
    // The queue's limiter (one rotation a second at a quota of 2 writes) is spent for the next 3 s.
    const limiter = `${w.prefix}:rotations:limiter`;
    await w.redis.set(limiter, "1", "PX", 3_000);
    const asked = Date.now();
    const answer = await ask(http, c, { emergency: true, reason: "leaked" });
    expect(answer.status).toBe(202);
    const rotationId = String(answer.body.rotationId);
    await until(() => worker.lines.some((l) => l.includes('"lane.budget-spent"')), "the lane to hand over");
    expect(worker.lines.some((l) => l.includes('"lane.start"') && l.includes(rotationId))).toBe(false);
    await w.waitRotated(c, 40_000);
    const created = worker.lines.find((l) => l.includes('"rotation.step"') && l.includes('"step":"create"'));
    expect(created).toBeDefined();
    // The queue started it only once the budget's window had passed.
    expect(Date.parse((JSON.parse(created ?? "{}") as { time: string }).time)).toBeGreaterThan(asked + 2_000);
    expect(await expectConverged(w, c)).toEqual([]);
  }, 90_000);
});
