/**
 * The --json contract (docs/json.md), per command, against the sandbox and a real Redis, as real
 * processes: stdout holds exactly one JSON document (errors too, as {"error": {"code",
 * "message"}}), the exit code is the one a person gets, times are ISO 8601, and no secret shows.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliCommand } from "../../src/demo/cli-process.js";
import { type World, leaks, startWorld } from "../support/rotation-world.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  doc: Record<string, unknown>;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
let world: World;

function run(args: string[], o: { env?: Record<string, string>; stdin?: string; pretty?: boolean } = {}): Promise<Run> {
  const { command, args: base } = cliCommand();
  const child = spawn(command, [...base, ...args], {
    env: { ...process.env, ...world.env, LOG_LEVEL: "silent", ...o.env },
    stdio: [o.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  // A command may stop reading early (submit's cap): the rest of the input is not its to take.
  child.stdin?.on("error", () => undefined);
  if (o.stdin !== undefined) child.stdin?.end(o.stdin);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      const lines = stdout.split("\n").filter((l) => l.trim() !== "");
      // iam-policy prints the policy as AWS shows one, pretty-printed: one document over many lines.
      if (!o.pretty) expect(lines, `one JSON line on stdout for ${args.join(" ")}; stderr: ${stderr}`).toHaveLength(1);
      expect(leaks(stdout + stderr, world.secrets())).toEqual([]);
      resolve({
        code,
        stdout,
        stderr,
        doc: JSON.parse(o.pretty ? stdout : (lines[0] ?? "null")) as Record<string, unknown>,
      });
    }),
  );
}

/** Every string that looks like a time is ISO 8601; no number is an epoch in ms. */
function expectIsoTimes(value: unknown, path = ""): void {
  if (Array.isArray(value)) value.forEach((v, i) => expectIsoTimes(v, `${path}[${i}]`));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      if (/(At|Until|until|since|deadline|now)$/.test(k) && v !== null && !k.endsWith("Ms"))
        expect(v, `${path}.${k}`).toMatch(ISO);
      if (typeof v === "number") expect(v, `${path}.${k} looks like epoch ms`).toBeLessThan(1e12);
      expectIsoTimes(v, `${path}.${k}`);
    }
}

beforeAll(async () => {
  world = await startWorld({ grace: "15m", jc: { count: 1 } });
}, 60_000);
afterAll(async () => world?.close());

describe("--json, per command", () => {
  it("--version", async () => {
    const r = await run(["--version", "--json"]);
    expect(r).toMatchObject({
      code: 0,
      doc: { name: "key-rotator", version: expect.stringMatching(/^\d+\.\d+\.\d+/) },
    });
  });

  it("usage errors: unknown command, unknown option, missing argument", async () => {
    for (const args of [
      ["frobnicate", "--json"],
      ["status", "--bogus", "--json"],
      ["rotate", "--json"],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.doc).toEqual({ error: { code: "usage", message: expect.any(String) } });
    }
  });

  it("check-config and iam-policy", async () => {
    const ok = await run(["check-config", world.inventory, "--json"]);
    expect(ok).toMatchObject({ code: 0, doc: { ok: true, problems: [], credentials: 2 } });
    const bad = await run(["check-config", "/dev/zero", "--json"]);
    expect(bad.code).toBe(2);
    expect(bad.doc).toMatchObject({ ok: false, problems: [expect.stringMatching(/is a device/)] });
    const policy = await run(
      ["iam-policy", world.inventory, "--region", "us-east-1", "--account", "123456789012", "--json"],
      { pretty: true },
    );
    expect(policy).toMatchObject({ code: 0, doc: { Version: "2012-10-17" } });
  });

  it("plan: ISO times, totals, and nothing written", async () => {
    const writes = world.sandbox.emulator.stats().calls.PutSecretValue ?? 0;
    const r = await run(["plan", "--days", "400", "--json"]);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ days: 400, writesNothing: true, total: { rotations: 8, storeWrites: 16 } });
    expectIsoTimes(r.doc);
    expect(world.sandbox.emulator.stats().calls.PutSecretValue ?? 0).toBe(writes);
    const bad = await run(["plan", "--days", "soon", "--json"]);
    expect(bad).toMatchObject({ code: 2, doc: { error: { code: "bad_input" } } });
  });

  it("status: the secret, its current version and creation time, health, window hold, usage as a number", async () => {
    const r = await run(["status", "--json"]);
    expect(r.code).toBe(0);
    const [cc, jc] = r.doc.credentials as Array<Record<string, unknown>>;
    expect(cc).toMatchObject({
      credential: "cred-0",
      vendor: "callcov",
      secretId: world.creds[0]?.secretId,
      currentVersionId: expect.any(String),
      currentCreatedAt: expect.stringMatching(ISO),
      dueAt: expect.stringMatching(ISO),
      overdue: false,
      heldByWindowUntil: null,
      inFlight: null,
      lastResult: null,
      health: { failing: [] },
      usage: { observable: true, perMinute: null },
    });
    expect(jc).toMatchObject({ credential: "jc-0", usage: { observable: false, perMinute: null } });
    expect(r.doc).toMatchObject({ redis: "ok", at: expect.stringMatching(ISO) });
    expectIsoTimes(r.doc);
    const unknown = await run(["status", "nope", "--json"]);
    expect(unknown).toMatchObject({ code: 2, doc: { error: { code: "bad_input" } } });
  });

  it("rotate: queued, then an emergency refused by its cooldown, both as documents", async () => {
    const first = await run([
      "rotate",
      "cred-0",
      "--emergency",
      "--reason",
      "json test",
      "--actor",
      "tester",
      "--json",
    ]);
    expect(first.code).toBe(0);
    expect(first.doc).toMatchObject({
      credential: "cred-0",
      rotationId: expect.any(String),
      jobId: expect.any(String),
      joined: false,
      emergency: true,
      actor: expect.stringMatching(/^cli:tester@/),
    });
    const again = await run(["rotate", "cred-0", "--emergency", "--reason", "again", "--json"]);
    expect(again.code).toBe(1);
    expect(again.doc).toEqual({
      error: {
        code: "emergency_refused",
        message: expect.stringMatching(/refused/),
        refusedFor: "cooldown",
        retryAfterSeconds: expect.any(Number),
      },
    });
    const none = await run(["rotate", "nope", "--json"]);
    expect(none).toMatchObject({ code: 2, doc: { error: { code: "bad_input" } } });
  });

  it("rotate --wait with no worker: a timeout error document, having warned that no worker took the job", async () => {
    const r = await run(["rotate", "jc-0", "--wait", "--timeout", "6", "--json"]);
    expect(r.code).toBe(1);
    expect(r.doc).toEqual({
      error: { code: "timeout", message: expect.any(String), rotationId: expect.any(String), step: expect.any(String) },
    });
    expect(r.stderr).toMatch(/no worker has taken/);
  });

  it("history: newest first, ISO times, the audit trail with the actor's name", async () => {
    const r = await run(["history", "cred-0", "--json"]);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ credential: "cred-0", order: "newest-first", redis: "ok" });
    expect(r.doc.audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: "rotation.requested", actor: expect.stringMatching(/^cli:tester@/) }),
      ]),
    );
    expectIsoTimes(r.doc);
  });

  it("submit: bad input and a refused pair as error documents; nothing stored", async () => {
    const bad = await run(["submit", "jc-0", "--json"], { stdin: "just-one-field\n" });
    expect(bad).toMatchObject({ code: 2, doc: { error: { code: "bad_input" } } });
    const huge = await run(["submit", "jc-0", "--json"], { stdin: "a".repeat(10 * 1024 * 1024) });
    expect(huge.code).toBe(2);
    expect(huge.doc).toMatchObject({ error: { code: "bad_input", message: expect.stringMatching(/too long/) } });
    const refused = await run(["submit", "jc-0", "--json"], {
      stdin: JSON.stringify({ api_key: "abcdef123456", api_secret: "abcdef123456abcdef" }),
    });
    expect(refused).toMatchObject({ code: 1, doc: { error: { code: "vendor_refused" } } });
  });

  it("with Redis down: status answers from the store, rotate says so as an error document", async () => {
    const env = { REDIS_URL: "redis://127.0.0.1:1" };
    const status = await run(["status", "cred-0", "--json"], { env });
    expect(status.code).toBe(0);
    expect(status.doc).toMatchObject({ redis: "unreachable" });
    const rotate = await run(["rotate", "cred-0", "--json"], { env });
    expect(rotate).toMatchObject({ code: 1, doc: { error: { code: "redis_unavailable" } } });
  });
});
