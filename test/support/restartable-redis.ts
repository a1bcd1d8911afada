/**
 * A redis-server of the test's own on a fixed free port that the test can wipe (FLUSHALL), kill
 * and start again on the same port, empty: the Redis loss of DESIGN.md rule 1, touching nothing
 * else on the machine. No persistence, so a restart always comes back empty. Also a scan of every
 * key and value in it, for the secret scan.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";

export interface RestartableRedis {
  url: string;
  port: number;
  /** FLUSHALL. */
  wipe(): Promise<void>;
  /** SIGKILL the server (Redis is down until `start`). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty; waits until it answers. */
  start(): Promise<void>;
  /** kill, wait `downMs`, start. */
  restart(downMs?: number): Promise<void>;
  isUp(): boolean;
  /** Every key and its value (strings, hashes, lists, sets, sorted sets, streams) as one text. */
  dump(): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export async function startRestartableRedis(): Promise<RestartableRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const client = () => {
    const r = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2_000,
      commandTimeout: 10_000,
    });
    r.on("error", () => undefined);
    return r;
  };
  const withClient = async <T>(f: (r: Redis) => Promise<T>): Promise<T> => {
    const r = client();
    try {
      await r.connect();
      return await f(r);
    } finally {
      r.disconnect();
    }
  };
  const start = async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const c = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      child = c;
      for (let i = 0; i < 100; i++) {
        if (c.exitCode !== null) break;
        const ok = await withClient((r) => r.ping()).then(
          () => true,
          () => false,
        );
        if (ok) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      c.kill("SIGKILL");
      // The port may still be in TIME_WAIT from the killed server: try again shortly.
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((res) => c.once("exit", () => res()));
    c.kill("SIGKILL");
    await exited;
  };
  // Should the test process die midway, its redis-server must not live on.
  const onExit = () => void child?.kill("SIGKILL");
  process.on("exit", onExit);
  await start();
  return {
    url,
    port,
    wipe: () => withClient(async (r) => void (await r.flushall())),
    kill,
    start,
    async restart(downMs = 500) {
      await kill();
      await new Promise((res) => setTimeout(res, downMs));
      await start();
    },
    isUp: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    dump: () =>
      withClient(async (r) => {
        const parts: string[] = [];
        let cursor = "0";
        do {
          const [next, keys] = await r.scan(cursor, "COUNT", 1000);
          cursor = next;
          for (const key of keys) {
            const type = await r.type(key);
            parts.push(key);
            if (type === "string") parts.push((await r.get(key)) ?? "");
            else if (type === "hash") parts.push(JSON.stringify(await r.hgetall(key)));
            else if (type === "list") parts.push(...(await r.lrange(key, 0, -1)));
            else if (type === "set") parts.push(...(await r.smembers(key)));
            else if (type === "zset") parts.push(...(await r.zrange(key, 0, -1)));
            else if (type === "stream") parts.push(JSON.stringify(await r.xrange(key, "-", "+")));
          }
        } while (cursor !== "0");
        return parts.join("\n");
      }),
    async stop() {
      await kill();
      process.off("exit", onExit);
    },
  };
}
