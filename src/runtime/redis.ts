/**
 * The Redis connection: REDIS_URL (default redis://127.0.0.1:6379), with the settings BullMQ
 * requires for blocking connections. Redis only holds schedules and work in flight.
 */
import { Redis } from "ioredis";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export function redisUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL && env.REDIS_URL.trim() !== "" ? env.REDIS_URL : DEFAULT_REDIS_URL;
}

/** Opens a connection; `failFast` gives up after a few tries (for the CLI) instead of forever. */
export function connectRedis(url: string, options: { failFast?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: true,
    retryStrategy: options.failFast ? (times) => (times > 3 ? null : 200 * times) : (times) => Math.min(times * 200, 5_000),
    lazyConnect: false,
  });
  // Without a listener ioredis prints a stack trace for every failed reconnect. A Redis that is
  // down shows up where it matters: assertRedisAnswers, the failing command, /readyz.
  redis.on("error", () => undefined);
  return redis;
}

/** The URL as it may be shown: any user and password replaced by `***`. */
export function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** Resolves when Redis answers PING, or rejects with a message that names the address. */
export async function assertRedisAnswers(redis: Redis, url: string, timeoutMs = 3_000): Promise<void> {
  const shown = shownUrl(url);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis does not answer at ${shown} (set REDIS_URL, or start one: bash scripts/ensure-redis.sh)`)), timeoutMs);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("Redis does not answer")) throw err;
    throw new Error(`Redis does not answer at ${shown}: ${err instanceof Error ? err.message : String(err)} (set REDIS_URL, or start one: bash scripts/ensure-redis.sh)`);
  } finally {
    clearTimeout(timer);
  }
}

/** Deletes every key under a prefix (the demo and tests clean up after themselves with it). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}
