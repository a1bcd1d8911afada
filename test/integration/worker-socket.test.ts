/**
 * The worker's local socket (KEY_ROTATOR_SOCKET) and the CLI's emergency through it, on real worker
 * and CLI processes, a real Redis with the world's own prefix and a real socket in a temp folder:
 * the lane is used when the socket is there (the --json says so, the audit line carries the CLI's
 * actor and reason), refusals are the queued path's (cooldown, cap, unknown credential), the file
 * is 0600 and removed on a clean stop, a dead worker's socket is replaced at start and anything
 * else at the path stops it, and the CLI goes through the queue when the socket is missing, dead,
 * or a worker of another inventory's (and, after a socket that could not confirm, a cooldown
 * refusal says so); on the socket path the CLI loads no queue, Redis or YAML.
 */
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startCli } from "../../src/demo/cli-process.js";
import { RotationHistory } from "../../src/queue/rotation-history-store.js";
import { type World, expectConverged, startWorld } from "../support/rotation-world.js";

let dir = "";
let world: World | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kr-sock-"));
});
afterEach(async () => {
  await world?.close();
  world = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function cli(w: World, args: string[], env: Record<string, string> = {}) {
  const p = startCli(args, { env: { ...w.env, ...env } });
  // "close": every line read, which "exit" does not promise.
  const closed = new Promise((r) => p.child.once("close", r));
  const code = await p.exited;
  await closed;
  const lines = p.lines.filter((l) => l.trim() !== "");
  const doc = lines.find((l) => l.startsWith("{"));
  return { code, lines, doc: doc ? (JSON.parse(doc) as Record<string, unknown>) : undefined };
}

/** The lines a person reads, with the seconds to wait (which tick between two asks) taken out. */
const said = (lines: string[]) => lines.filter((l) => !l.startsWith("{")).map((l) => l.replace(/\d+s\b/g, "Ns"));

describe("the worker's local socket", () => {
  it("takes the CLI's emergency into the worker's lane: --json says socket, the audit line names the CLI's actor and reason; the file is 0600 and goes on a clean stop", async () => {
    world = await startWorld({ grace: "15m" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const socket = join(dir, "kr.sock");
    const worker = await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    const st = lstatSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(worker.lines.find((l) => l.includes('"worker.ready"'))).toContain(socket);

    const r = await cli(w, ["rotate", c.id, "--emergency", "--reason", "leaked", "--actor", "alice", "--json"], {
      KEY_ROTATOR_SOCKET: socket,
    });
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({
      credential: c.id,
      rotationId: expect.any(String),
      jobId: expect.any(String),
      joined: false,
      emergency: true,
      actor: expect.stringMatching(/^cli:alice@/),
      socket: true,
    });
    const rotationId = String(r.doc?.rotationId);
    // Started in the worker's lane, by the CLI's name.
    // (Waited for: the worker's log comes through a pipe of its own, maybe after the CLI's exit.)
    const laneStart = await worker.waitForLine((l) => l.includes('"lane.start"') && l.includes(rotationId));
    expect(laneStart).toMatch(/"actor":"cli:alice@/);
    const trail = await new RotationHistory(w.redis, w.prefix).auditTrail(c.id);
    expect(trail).toEqual([
      expect.objectContaining({
        event: "rotation.requested",
        actor: expect.stringMatching(/^cli:alice@/),
        reason: "leaked",
        emergency: true,
        rotationId,
        joined: false,
        socket: true,
      }),
    ]);
    await w.waitRotated(c, 40_000);
    expect(await expectConverged(w, c)).toEqual([]);

    expect(await worker.kill("SIGTERM")).toBe(0);
    expect(existsSync(socket)).toBe(false);
  }, 120_000);

  it("refuses as the queued path does: the same exit codes and lines for the cooldown, the fleet's cap and an unknown credential", async () => {
    world = await startWorld({ grace: "15m", credentials: 3 });
    const w = world;
    const inventory = parse(readFileSync(w.inventory, "utf8")) as { settings: Record<string, unknown> };
    inventory.settings.emergency = { cooldown: "10m", maxPerMinute: 2 };
    writeFileSync(w.inventory, stringify(inventory));
    const [a, b, c] = w.creds;
    if (!a || !b || !c) throw new Error("no credentials");
    const socket = join(dir, "kr.sock");
    await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    const viaSocket = { KEY_ROTATOR_SOCKET: socket };

    expect((await cli(w, ["rotate", a.id, "--emergency", "--json"], viaSocket)).doc).toMatchObject({ socket: true });
    // The cooldown: through the socket, and through the queue (no socket in the CLI's environment).
    const cooled = await cli(w, ["rotate", a.id, "--emergency", "--reason", "again", "--json"], viaSocket);
    const cooledQueued = await cli(w, ["rotate", a.id, "--emergency", "--reason", "again", "--json"]);
    expect(cooled.code).toBe(1);
    expect(cooledQueued.code).toBe(1);
    expect(cooled.doc).toMatchObject({
      error: { code: "emergency_refused", refusedFor: "cooldown", retryAfterSeconds: expect.any(Number) },
    });
    expect(said(cooled.lines)).toEqual(said(cooledQueued.lines));
    expect(said(cooled.lines)).toEqual([
      expect.stringMatching(/^key-rotator rotate: emergency for cred-0 refused: .*cooldown/),
    ]);

    // The fleet's cap (2 a minute): b is the second; c is refused alike both ways.
    expect((await cli(w, ["rotate", b.id, "--emergency"], viaSocket)).code).toBe(0);
    const capped = await cli(w, ["rotate", c.id, "--emergency", "--reason", "leaked"], viaSocket);
    const cappedQueued = await cli(w, ["rotate", c.id, "--emergency", "--reason", "leaked"]);
    expect(capped.code).toBe(1);
    expect(cappedQueued.code).toBe(1);
    expect(said(capped.lines)).toEqual(said(cappedQueued.lines));
    expect(said(capped.lines)).toEqual([expect.stringMatching(/fleet-wide cap .* retry in Ns$/)]);

    const unknown = await cli(w, ["rotate", "nope", "--emergency", "--json"], viaSocket);
    const unknownQueued = await cli(w, ["rotate", "nope", "--emergency", "--json"]);
    expect(unknown.code).toBe(2);
    expect(unknownQueued.code).toBe(2);
    expect(unknown.doc).toEqual(unknownQueued.doc);
    expect(unknown.doc).toMatchObject({
      error: { code: "bad_input", message: `no credential "nope" in ${w.inventory}` },
    });

    // The socket's refusals are audited as the queue's, by the CLI's name.
    const trail = await new RotationHistory(w.redis, w.prefix).auditTrail(c.id);
    expect(trail.map((e) => [e.event, e.refusedFor, e.reason])).toEqual([
      ["emergency.refused", "global-cap", "leaked"],
      ["emergency.refused", "global-cap", "leaked"],
    ]);
    for (const e of trail) expect(e.actor).toMatch(/^cli:/);
  }, 120_000);

  it("replaces a dead worker's socket at start; the CLI goes through the queue while it is dead", async () => {
    world = await startWorld({ grace: "15m", credentials: 2 });
    const w = world;
    const [a, b] = w.creds;
    if (!a || !b) throw new Error("no credentials");
    const socket = join(dir, "kr.sock");
    const first = await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    await first.kill("SIGKILL");
    expect(lstatSync(socket).isSocket()).toBe(true);

    // Nobody listens: the queued path, as without a worker (the debug line says why).
    const queued = await cli(w, ["rotate", a.id, "--emergency", "--json"], { KEY_ROTATOR_SOCKET: socket });
    expect(queued.code).toBe(0);
    expect(queued.doc).toMatchObject({ credential: a.id, emergency: true });
    expect(queued.doc).not.toHaveProperty("socket");
    expect(queued.lines.join("\n")).toMatch(/not through the worker's socket .*ECONNREFUSED.*through the queue/);

    const second = await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    await w.waitRotated(a, 40_000);
    expect(lstatSync(socket).mode & 0o777).toBe(0o600);
    const r = await cli(w, ["rotate", b.id, "--emergency", "--json"], { KEY_ROTATOR_SOCKET: socket });
    expect(r.doc).toMatchObject({ credential: b.id, socket: true });
    await second.waitForLine((l) => l.includes('"lane.start"') && l.includes(String(r.doc?.rotationId)));
    await w.waitRotated(b, 40_000);
  }, 120_000);

  it("stops the start at a path that holds something else than a socket, naming it, and leaves it as it was", async () => {
    world = await startWorld();
    const w = world;
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "someone's file\n");
    const p = startCli(["worker"], { env: { ...w.env, KEY_ROTATOR_SOCKET: file } });
    const closed = new Promise((r) => p.child.once("close", r));
    expect(await p.exited).toBe(2);
    await closed;
    expect(p.lines.join("\n")).toContain(`KEY_ROTATOR_SOCKET ${file}: a file is there, not a socket`);
    expect(readFileSync(file, "utf8")).toBe("someone's file\n");
    expect(p.lines.some((l) => l.includes("worker ready"))).toBe(false);
  }, 60_000);

  it("goes through the queue when the worker runs another inventory or no socket is there", async () => {
    world = await startWorld({ grace: "15m", credentials: 2 });
    const w = world;
    const [a, b] = w.creds;
    if (!a || !b) throw new Error("no credentials");
    const socket = join(dir, "kr.sock");
    const worker = await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    // The same content at another path is another inventory to the worker: the CLI's is the one it was given.
    const copy = join(dir, "inventory-copy.yaml");
    copyFileSync(w.inventory, copy);
    const other = await cli(w, ["rotate", a.id, "--emergency", "--json"], {
      KEY_ROTATOR_SOCKET: socket,
      KEY_ROTATOR_CONFIG: copy,
    });
    expect(other.code).toBe(0);
    expect(other.doc).not.toHaveProperty("socket");
    expect(other.lines.join("\n")).toMatch(
      /not through the worker's socket .*409 \(other_inventory\).*through the queue/,
    );
    await w.waitRotated(a, 40_000);
    // Started by a queue worker, not the lane.
    expect(worker.lines.some((l) => l.includes('"lane.start"') && l.includes(String(other.doc?.rotationId)))).toBe(
      false,
    );
    const trail = await new RotationHistory(w.redis, w.prefix).auditTrail(a.id);
    expect(trail[0]).toMatchObject({ event: "rotation.requested", rotationId: other.doc?.rotationId });
    expect(trail[0]).not.toHaveProperty("socket");

    const missing = await cli(w, ["rotate", b.id, "--emergency", "--json"], {
      KEY_ROTATOR_SOCKET: join(dir, "no-such.sock"),
    });
    expect(missing.code).toBe(0);
    expect(missing.doc).not.toHaveProperty("socket");
    expect(missing.lines.join("\n")).toMatch(/not through the worker's socket .*ENOENT/);
    await w.waitRotated(b, 40_000);
  }, 120_000);

  it("after a socket that could not confirm (Redis slow at the worker: 503), the queued path's cooldown refusal says the emergency may be the one running", async () => {
    world = await startWorld({ grace: "15m" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    await w.startWorker();
    // A worker whose Redis did not answer within its 5 s: it may have queued the emergency after all.
    const slow = join(dir, "slow.sock");
    const server = createServer((_req, res) => {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "5" });
      res.end(JSON.stringify({ error: "redis_unavailable", message: "Redis did not answer within 5s" }));
    });
    await new Promise<void>((r) => server.listen(slow, () => r()));
    try {
      const first = await cli(w, ["rotate", c.id, "--emergency", "--json"], { KEY_ROTATOR_SOCKET: slow });
      expect(first.code).toBe(0);
      expect(first.doc).not.toHaveProperty("socket");
      const again = await cli(w, ["rotate", c.id, "--emergency", "--json"], { KEY_ROTATOR_SOCKET: slow });
      expect(again.code).toBe(1);
      // The command's document (the CLI's own log lines are JSON too).
      const refusal = (lines: string[]) =>
        JSON.parse(lines.find((l) => l.startsWith('{"error"')) ?? "{}") as {
          error?: { code?: string; refusedFor?: string; message?: string };
        };
      expect(refusal(again.lines).error).toMatchObject({ code: "emergency_refused", refusedFor: "cooldown" });
      expect(refusal(again.lines).error?.message).toContain(
        `did not confirm this request and may have started it: see key-rotator status ${c.id}`,
      );
      // Asked without a socket, the refusal is the plain one.
      const plain = await cli(w, ["rotate", c.id, "--emergency", "--json"]);
      expect(plain.code).toBe(1);
      expect(refusal(plain.lines).error?.refusedFor).toBe("cooldown");
      expect(refusal(plain.lines).error?.message).not.toContain("may have started it");
      await w.waitRotated(c, 40_000);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 120_000);

  it("on the socket path the CLI loads no queue, Redis client or YAML parser (the queued path, with the same hook, does)", async () => {
    world = await startWorld({ grace: "15m", credentials: 2 });
    const w = world;
    const [a, b] = w.creds;
    if (!a || !b) throw new Error("no credentials");
    const socket = join(dir, "kr.sock");
    await w.startWorker({ KEY_ROTATOR_SOCKET: socket });
    // A resolve hook that notes each package the process imports, from node_modules.
    const hooks = join(dir, "hooks.mjs");
    writeFileSync(
      hooks,
      `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);
  if (m) appendFileSync(process.env.KR_TEST_MODULE_LOG, m[1] + "\\n");
  return r;
}
`,
    );
    // And, at exit, what CommonJS loaded (bullmq's classes are required: src/queue/bullmq.ts).
    const register = join(dir, "register.mjs");
    writeFileSync(
      register,
      `import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
register(${JSON.stringify(`file://${hooks}`)});
const require = createRequire(import.meta.url);
process.on("exit", () => {
  for (const file of Object.keys(require.cache)) {
    const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (m) appendFileSync(process.env.KR_TEST_MODULE_LOG, m[1] + "\\n");
  }
});
`,
    );
    const loaded = async (id: string, env: Record<string, string>) => {
      const log = join(dir, `modules-${id}.log`);
      writeFileSync(log, "");
      const r = await cli(w, ["rotate", id, "--emergency", "--json"], {
        ...env,
        NODE_OPTIONS: `--import=${register}`,
        KR_TEST_MODULE_LOG: log,
      });
      expect(r.code).toBe(0);
      return { doc: r.doc, packages: new Set(readFileSync(log, "utf8").split("\n").filter(Boolean)) };
    };
    const heavy = ["bullmq", "ioredis", "yaml", "zod", "@aws-sdk/client-secrets-manager"];
    const viaSocket = await loaded(a.id, { KEY_ROTATOR_SOCKET: socket });
    expect(viaSocket.doc).toMatchObject({ socket: true });
    expect(viaSocket.packages.has("commander")).toBe(true);
    expect(heavy.filter((p) => viaSocket.packages.has(p))).toEqual([]);
    const queued = await loaded(b.id, {});
    expect(queued.doc).not.toHaveProperty("socket");
    expect(["bullmq", "ioredis", "yaml"].filter((p) => queued.packages.has(p))).toEqual(["bullmq", "ioredis", "yaml"]);
  }, 120_000);
});
