/**
 * Finds a Redis for the demo and tests: REDIS_URL or 127.0.0.1:6379 when one answers, else a
 * private redis-server started from PATH on a free port (stopped again by `stop`). Says clearly
 * what to do when neither is possible.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { assertRedisAnswers, connectRedis, redisUrlFrom, shownUrl } from "../queue/redis.js";

export async function ensureRedis(): Promise<{ url: string; started: boolean; stop(): Promise<void> }> {
  const url = redisUrlFrom();
  if (await answers(url)) return { url, started: false, stop: async () => undefined };
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const failed = new Promise<Error>((resolve) => child.once("error", (err) => resolve(err)));
  const local = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    const early = await Promise.race([failed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
    if (early)
      throw new Error(
        `no Redis answers at ${shownUrl(url)}, and redis-server could not be started (${early.message}); install Redis (apt-get install redis-server) or set REDIS_URL`,
      );
    if (await answers(local)) {
      return { url: local, started: true, stop: async () => void child.kill("SIGTERM") };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`no Redis answers at ${shownUrl(url)}, and the redis-server started on port ${port} did not answer`);
}

async function answers(url: string): Promise<boolean> {
  const redis = connectRedis(url, { failFast: true });
  redis.on("error", () => undefined);
  try {
    await assertRedisAnswers(redis, url, 1_000);
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}
