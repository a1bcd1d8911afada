/**
 * Finds a Redis for the demo and the bench: the one the environment names (REDIS_URL,
 * REDIS_CLUSTER_HOSTS or REDIS_SENTINEL_*, with TLS and login) when it answers, else, unless a
 * cluster or Sentinel was named, a private redis-server started from PATH on a free port (stopped again by `stop`). Says
 * clearly what to do when neither is possible. `env` names the same Redis to a child process.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import {
  type RedisTopology,
  assertRedisAnswers,
  connectRedis,
  describeRedis,
  redisEnvFor,
  redisTopologyFrom,
} from "../queue/redis.js";

export interface LocalRedis {
  topology: RedisTopology;
  /** Where it is, for people (no password). */
  shown: string;
  /** The variables that name it to a child process (redisEnvFor). */
  env: Record<string, string>;
  started: boolean;
  stop(): Promise<void>;
}

export async function ensureRedis(): Promise<LocalRedis> {
  const named = redisTopologyFrom();
  const found = (topology: RedisTopology, started: boolean, stop: () => Promise<void>): LocalRedis => ({
    topology,
    shown: describeRedis(topology),
    env: redisEnvFor(topology),
    started,
    stop,
  });
  if (await answers(named)) return found(named, false, async () => undefined);
  // A cluster or Sentinel someone named is what they mean to try: fix it, do not bypass it.
  if (named.kind !== "node")
    throw new Error(
      `no Redis answers at ${describeRedis(named)}; start it, or unset the variable to use a private one`,
    );
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const failed = new Promise<Error>((resolve) => child.once("error", (err) => resolve(err)));
  const local: RedisTopology = { kind: "node", url: `redis://127.0.0.1:${port}` };
  for (let i = 0; i < 50; i++) {
    const early = await Promise.race([failed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
    if (early)
      throw new Error(
        `no Redis answers at ${describeRedis(named)}, and redis-server could not be started (${early.message}); install Redis (apt-get install redis-server) or set REDIS_URL`,
      );
    if (await answers(local)) return found(local, true, async () => void child.kill("SIGTERM"));
  }
  child.kill("SIGKILL");
  throw new Error(
    `no Redis answers at ${describeRedis(named)}, and the redis-server started on port ${port} did not answer`,
  );
}

async function answers(topology: RedisTopology): Promise<boolean> {
  const redis = connectRedis(topology, { failFast: true });
  redis.on("error", () => undefined);
  try {
    await assertRedisAnswers(redis, topology, topology.kind === "node" ? 1_000 : 5_000);
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
