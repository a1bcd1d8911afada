/**
 * `npm test` needs a Redis: the one the environment names (REDIS_URL, 127.0.0.1:6379 by default)
 * when it answers, else a private redis-server from PATH on a free port for this run
 * (src/demo/local-redis.ts, as the demo does), stopped when the run ends. Test files, and the
 * worker processes they start, read the variables this sets before they start.
 */
import { ensureRedis } from "../../src/demo/local-redis.js";

export default async function setup(): Promise<() => Promise<void>> {
  // `env` names the Redis to a child process; older versions of ensureRedis gave a `url` only.
  const redis = (await ensureRedis()) as {
    url?: string;
    env?: Record<string, string>;
    started: boolean;
    stop(): Promise<void>;
  };
  if (redis.started) {
    const env = redis.env ?? (redis.url ? { REDIS_URL: redis.url } : {});
    Object.assign(process.env, env);
    process.stdout.write(
      `test: no Redis answered, so this run started its own at ${Object.values(env).find((v) => v.startsWith("redis")) ?? "a free port"}\n`,
    );
  }
  return () => redis.stop();
}
