/**
 * The Redis connection: REDIS_URL (default redis://127.0.0.1:6379), with the settings BullMQ
 * requires for blocking connections. Redis only holds schedules and work in flight.
 *
 * Must not: let a Redis that is down turn into a hang or a stack trace. The worker's connection
 * waits for Redis (its jobs resume when it is back); whatever answers a person (the CLI, the admin
 * endpoint) bounds each call and says "Redis does not answer" in one line (RedisUnavailableError).
 */
import { Redis } from "ioredis";
import { RotatorError } from "../core/errors.js";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** Redis did not answer (down, restarting, unreachable, or too slow). Retryable: nothing was done. */
export class RedisUnavailableError extends RotatorError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

export function redisUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL && env.REDIS_URL.trim() !== "" ? env.REDIS_URL : DEFAULT_REDIS_URL;
}

/** How long a one-shot command's Redis call may take before it fails (a Redis that accepts but never answers). */
export const FAIL_FAST_COMMAND_MS = 3_000;

const lastErrors = new WeakMap<Redis, Error>();

/**
 * Opens a connection. The worker's waits for Redis as long as it takes. `failFast` (the CLI): each
 * command fails within a few seconds while Redis does not answer, but the connection keeps trying
 * to come back (until closed), so a caller that polls (`rotate --wait`) outlasts a Redis restart.
 */
export function connectRedis(url: string, options: { failFast?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: true,
    retryStrategy: options.failFast ? (times) => Math.min(200 * times, 1_000) : (times) => Math.min(times * 200, 5_000),
    ...(options.failFast ? { commandTimeout: FAIL_FAST_COMMAND_MS, connectTimeout: 2_000 } : {}),
    lazyConnect: false,
  });
  // Without a listener ioredis prints a stack trace for every failed reconnect. A Redis that is
  // down shows up where it matters: assertRedisAnswers, the failing command, /readyz.
  redis.on("error", (err: Error) => void lastErrors.set(redis, err));
  redis.on("ready", () => void lastErrors.delete(redis));
  return redis;
}

/** Is the connection up right now? (A command sent now would go out instead of waiting.) */
export function redisIsUp(redis: Redis): boolean {
  return redis.status === "ready";
}

/**
 * One line for a failed Redis call: "Redis does not answer at <url> (<why>)". The why is the
 * connection's last error (connection refused, say) rather than ioredis's "max retries" wording.
 */
export function redisProblem(redis: Redis | undefined, url: string, err?: unknown): string {
  const cause = (redis && lastErrors.get(redis)) ?? (err instanceof Error ? err : undefined);
  const why = cause ? plainCause(cause) : redis ? `connection ${redis.status}` : "not connected";
  return `Redis does not answer at ${shownUrl(url)} (${why})`;
}

function plainCause(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(err.message)) return "timed out";
  if (/max retries per request/i.test(err.message) || /Connection is closed/i.test(err.message))
    return "connection lost";
  return err.message.split("\n")[0] ?? "unknown";
}

/** The URL as it may be shown: any user and password replaced by `***`. */
export function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** Resolves when Redis answers PING, or rejects (RedisUnavailableError) with a message that names the address. */
export async function assertRedisAnswers(redis: Redis, url: string, timeoutMs = 3_000): Promise<void> {
  const hint = "(set REDIS_URL, or start one: bash scripts/ensure-redis.sh)";
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RedisUnavailableError(
            `${redisProblem(redis, url, new Error(`timed out after ${timeoutMs} ms`))} ${hint}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    if (err instanceof RedisUnavailableError) throw err;
    throw new RedisUnavailableError(`${redisProblem(redis, url, err)} ${hint}`, err);
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
