/**
 * redis-server processes of a test's own, on loopback ports the test names, in a temporary folder:
 * the ground the cluster, Sentinel and TLS harnesses stand on. Each server can be SIGKILLed alone;
 * `stopAll` (and the test process's exit) kills every one that is left.
 *
 * Must not: touch any other Redis (the shared one at 6379 among them): every command here goes to
 * a port this file started a server on.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  /** The server's own output, for a failure message. */
  output(): string;
  isUp(): boolean;
  kill(): Promise<void>;
}

export interface ServerGroup {
  dir: string;
  servers: ServerProcess[];
  /** Starts `redis-server <args>` (or with `--sentinel`), waits until it answers PING. */
  start(port: number, args: string[], options?: { sentinel?: boolean; client?: RedisOptions }): Promise<ServerProcess>;
  stopAll(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Fails clearly when a port the test wants is taken (a server left over from an earlier run, say). */
export async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once("error", () => reject(new Error(`port ${port} is taken: a redis-server left over from an earlier run?`)));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
  });
}

/** One short-lived client to a server of ours: no retries, bounded waits. */
export async function withClient<T>(port: number, f: (r: Redis) => Promise<T>, options: RedisOptions = {}): Promise<T> {
  const r = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    ...options,
  });
  r.on("error", () => undefined);
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

export function serverGroup(name: string): ServerGroup {
  const dir = mkdtempSync(join(tmpdir(), `kr-${name}-`));
  const servers: ServerProcess[] = [];
  const killAll = () => void servers.forEach((s) => s.child.kill("SIGKILL"));
  process.on("exit", killAll);
  return {
    dir,
    servers,
    async start(port, args, options = {}) {
      await assertPortFree(port);
      const child = spawn("redis-server", [...args, ...(options.sentinel ? ["--sentinel"] : [])], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout?.on("data", (d: Buffer) => void (out = (out + d.toString()).slice(-4_000)));
      child.stderr?.on("data", (d: Buffer) => void (out = (out + d.toString()).slice(-4_000)));
      const server: ServerProcess = {
        port,
        child,
        output: () => out,
        isUp: () => child.exitCode === null && child.signalCode === null,
        async kill() {
          if (!server.isUp()) return;
          const exited = new Promise<void>((r) => child.once("exit", () => r()));
          child.kill("SIGKILL");
          await exited;
        },
      };
      servers.push(server);
      for (let i = 0; i < 100; i++) {
        if (!server.isUp()) break;
        const ok = await withClient(port, (r) => r.ping(), options.client).then(
          () => true,
          () => false,
        );
        if (ok) return server;
        await sleep(50);
      }
      await server.kill();
      throw new Error(`redis-server on port ${port} did not start: ${out.split("\n").slice(-5).join(" | ")}`);
    },
    async stopAll() {
      await Promise.all(servers.map((s) => s.kill()));
      process.off("exit", killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The flags every test server shares: loopback, nothing on disk, no background saves. */
export function baseArgs(port: number): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
}

/** Polls `check` until it is true or `timeoutMs` passes; then throws, naming `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
