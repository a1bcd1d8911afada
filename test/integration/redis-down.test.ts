/**
 * Redis down is an answer, never a hang or a stack trace (issue 16 item 9): with the worker's Redis
 * killed, the admin endpoint answers 503 within a few seconds and /readyz 503; every CLI command
 * that touches Redis ends within a bound with one clear line (rotate: exit 1; status, history and
 * submit answer from the store, which is the source of truth, and say Redis is unreachable); and
 * `rotate --wait` rides out a Redis restart, or ends at its --timeout naming what it waited for.
 */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import { type RestartableRedis, freePort, startRestartableRedis } from "../support/restartable-redis.js";
import { type World, expectConverged, startWorld } from "../support/rotation-world.js";

const TOKEN = "redis-down-admin-token-0123";
const ADMIN = { KEY_ROTATOR_ADMIN_TOKEN: TOKEN };
/** What "within a bound" means here: tsx's start (1-3 s on this machine) plus a few seconds. */
const CLI_BOUND_MS = 12_000;
const STACK_FRAME = /^\s+at .+\(|^\s+at \S+:\d+:\d+|TCPConnectWrap|^\w*Error: /m;

interface Run {
  code: number | null;
  ms: number;
  lines: string[];
  all: string;
}

async function run(world: World, args: string[], stdin?: string): Promise<Run> {
  const began = Date.now();
  const p = startCli(args, { env: world.env, ...(stdin !== undefined ? { stdin } : {}) });
  const killer = setTimeout(() => void p.kill("SIGKILL"), 90_000);
  const code = await p.exited;
  clearTimeout(killer);
  const lines = p.lines.filter((l) => l.trim() !== "");
  return { code, ms: Date.now() - began, lines, all: lines.join("\n") };
}

function httpOf(worker: CliProcess): string {
  const line = worker.lines.find((l) => l.includes('"worker.ready"'));
  if (!line) throw new Error("worker not ready");
  return (JSON.parse(line) as { http: string }).http;
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const began = Date.now();
  const value = await f();
  return { value, ms: Date.now() - began };
}

describe("with Redis down", () => {
  let world: World | undefined;
  let redis: RestartableRedis | undefined;
  afterEach(async () => {
    // The world's own connection waits for Redis: bring it back so the world can close.
    if (redis && !redis.isUp()) await redis.start();
    await world?.close().catch(() => undefined);
    await redis?.stop();
    world = undefined;
    redis = undefined;
  });

  it("the admin endpoint answers 503 within seconds, /readyz 503, and every CLI command ends within a bound with one line and no stack", async () => {
    redis = await startRestartableRedis();
    world = await startWorld({ redisUrl: redis.url, grace: "15m", jc: { count: 1 } });
    const w = world;
    const c = w.creds[0];
    const jc = w.jcCreds[0];
    if (!c || !jc) throw new Error("no credentials");
    const worker = await w.startWorker(ADMIN);
    const http = httpOf(worker);
    // The test's own queue reports the lost connection; without a listener BullMQ prints it.
    w.queue.on("error", () => undefined);
    await redis.kill();

    const admin = await timed(() =>
      fetch(`${http}/v1/credentials/${c.id}/rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ emergency: true, reason: "leaked while Redis is down" }),
        signal: AbortSignal.timeout(30_000),
      }),
    );
    expect(admin.value.status).toBe(503);
    expect(admin.ms).toBeLessThan(6_000);
    expect(admin.value.headers.get("retry-after")).toMatch(/^\d+$/);
    const body = (await admin.value.json()) as { error: string; message: string };
    expect(body.error).toBe("redis_unavailable");
    expect(body.message).toMatch(/Redis/);
    expect(body.message).not.toMatch(STACK_FRAME);
    // Nothing was queued to run later: no rotation starts once Redis is back (checked below).

    const ready = await timed(() => fetch(`${http}/readyz`, { signal: AbortSignal.timeout(30_000) }));
    expect(ready.value.status).toBe(503);
    expect(ready.ms).toBeLessThan(5_000);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);

    const shown = redis.url;
    const cases: Array<[string, string[], number, RegExp, string?]> = [
      [
        "rotate",
        ["rotate", c.id],
        1,
        new RegExp(`^key-rotator: Redis does not answer at ${shown} \\(connection refused\\)`),
      ],
      ["rotate --wait", ["rotate", c.id, "--wait"], 1, /^key-rotator: Redis does not answer at .*connection refused/],
      [
        "rotate --emergency",
        ["rotate", c.id, "--emergency", "--reason", "leaked"],
        1,
        /^key-rotator: Redis does not answer at .*connection refused/,
      ],
      [
        "status",
        ["status"],
        0,
        /^\(Redis unreachable at redis:\/\/127\.0\.0\.1:\d+: steps in flight and last results unknown\)$/m,
      ],
      [
        "history",
        ["history", c.id],
        0,
        /^Redis unreachable at redis:\/\/127\.0\.0\.1:\d+: rotations rebuilt from the store's versions only\.$/m,
      ],
      [
        "submit",
        ["submit", jc.id],
        0,
        /staged as version .*; Redis does not answer at .*, so the worker picks it up at its first check once Redis is back$/m,
        (() => {
          const pair = w.sandbox.justcall.generatePair();
          w.jcSecrets.push(pair.apiSecret);
          return `${pair.apiKey}\n${pair.apiSecret}\n`;
        })(),
      ],
    ];
    const figures: string[] = [];
    for (const [name, args, code, said, stdin] of cases) {
      const r = await run(w, args, stdin);
      figures.push(`${name}: exit ${String(r.code)} in ${(r.ms / 1000).toFixed(1)}s`);
      expect(r.all, name).toMatch(said);
      expect(r.all, name).not.toMatch(STACK_FRAME);
      expect(r.code, `${name}: ${r.all}`).toBe(code);
      expect(r.ms, name).toBeLessThan(CLI_BOUND_MS);
      // A failure is one line (stdout and stderr together).
      if (code === 1) expect(r.lines, name).toHaveLength(1);
    }
    console.log(`Redis down: admin 503 in ${admin.ms} ms, readyz 503 in ${ready.ms} ms; ${figures.join("; ")}`);

    // The refused admin request was not kept to run later.
    await redis.start();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(w.sandbox.callcov.state.counters.created).toBe(1);
    expect(worker.lines.filter((l) => l.includes('"lane.start"'))).toEqual([]);
  }, 180_000);

  it("rotate --wait rides out a Redis restart, saying what it waits for, and ends done", async () => {
    redis = await startRestartableRedis();
    world = await startWorld({ redisUrl: redis.url, grace: "4s" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    await w.startWorker();
    const began = Date.now();
    const cli = startCli(["rotate", c.id, "--wait", "--timeout", "90"], { env: w.env });
    await cli.waitForLine(/^\s+[\d.]+s\s+grace$/, 30_000);
    w.queue.on("error", () => undefined);
    // Down for 3 s and back empty (no persistence): the job is gone and the worker resumes the
    // rotation from the store under the same job id.
    await redis.restart(3_000);
    const code = await cli.exited;
    const text = cli.lines.join("\n");
    console.log(
      `rotate --wait across a Redis restart: exit ${String(code)} after ${((Date.now() - began) / 1000).toFixed(1)}s\n${text}`,
    );
    expect(text).toMatch(
      /Redis does not answer at redis:\/\/127\.0\.0\.1:\d+ \(.+\); still waiting for rotation \S+ \(the worker goes on with it\), at most until --timeout 90s/,
    );
    expect(text).toMatch(/Redis answers again/);
    expect(text).toMatch(/^done: cred-0 rotated in [\d.]+s$/m);
    expect(text).not.toMatch(STACK_FRAME);
    expect(code).toBe(0);
    await w.waitRotated(c, 40_000);
    expect(await expectConverged(w, c)).toEqual([]);
  }, 180_000);

  it("rotate --wait with Redis gone for good ends at its --timeout with one clear line", async () => {
    redis = await startRestartableRedis();
    world = await startWorld({ redisUrl: redis.url, grace: "15m" });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    // No worker: the job waits, so the command is still waiting when Redis goes.
    const cli = startCli(["rotate", c.id, "--wait", "--timeout", "8"], { env: w.env });
    await cli.waitForLine(/^rotation \S+ of cred-0$/, 30_000);
    const began = Date.now();
    w.queue.on("error", () => undefined);
    await redis.kill();
    const code = await cli.exited;
    const ms = Date.now() - began;
    const text = cli.lines.join("\n");
    expect(code).toBe(1);
    expect(ms).toBeLessThan(12_000);
    expect(text).toMatch(/still waiting for rotation/);
    expect(text).toMatch(
      /^key-rotator rotate: gave up waiting after 8s: Redis does not answer at redis:\/\/127\.0\.0\.1:\d+ \(.+\) for the last \d+s; rotation \S+ goes on in the worker \(see key-rotator status cred-0\)$/m,
    );
    expect(text).not.toMatch(STACK_FRAME);
  }, 120_000);

  it("a Redis that accepts connections but never answers (stopped with SIGSTOP): the admin endpoint still answers 503, and commands end within a bound", async () => {
    const port = await freePort();
    const server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      world = await startWorld({ redisUrl: `redis://127.0.0.1:${port}`, grace: "15m" });
      const w = world;
      const c = w.creds[0];
      if (!c) throw new Error("no credential");
      const worker = await w.startWorker(ADMIN);
      const http = httpOf(worker);
      server.kill("SIGSTOP");
      const admin = await timed(() =>
        fetch(`${http}/v1/credentials/${c.id}/rotate`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ emergency: true, reason: "leaked while Redis hangs" }),
          signal: AbortSignal.timeout(30_000),
        }),
      );
      expect(admin.value.status).toBe(503);
      expect(admin.ms).toBeLessThan(7_000);
      expect(((await admin.value.json()) as { message: string }).message).toMatch(/Redis did not answer within 5s/);
      const figures: string[] = [];
      for (const [args, code] of [
        [["rotate", c.id], 1],
        [["status"], 0],
      ] as const) {
        const r = await run(w, [...args]);
        figures.push(`${args[0]}: exit ${String(r.code)} in ${(r.ms / 1000).toFixed(1)}s`);
        expect(r.code, r.all).toBe(code);
        expect(r.ms).toBeLessThan(CLI_BOUND_MS);
        expect(r.all).not.toMatch(STACK_FRAME);
        expect(r.all).toMatch(/Redis (does not answer|unreachable) at redis:/);
        figures.push(r.lines[0] ?? "");
      }
      console.log(`Redis frozen: admin 503 in ${admin.ms} ms; ${figures.join("; ")}`);
    } finally {
      server.kill("SIGCONT");
      await world?.close().catch(() => undefined);
      world = undefined;
      server.kill("SIGKILL");
    }
  }, 120_000);
});
