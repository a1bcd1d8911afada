/**
 * The Redis connection, on any of the three topologies redis-topology.ts reads from the
 * environment (one node, a Redis Cluster, Sentinel), with the settings BullMQ requires for
 * blocking connections (`maxRetriesPerRequest: null`). Redis only holds schedules and work in flight.
 *
 * On a Cluster every key of the product is under the queue prefix, a hash tag (checked here), so
 * BullMQ's scripts, ours (EVAL with several keys) and MULTI stay in one slot, and `duplicate()`
 * gives the same cluster. The modules that take a connection use ioredis's `Redis` type: a Cluster
 * answers every command they send, and the two that differ (SCAN, which a Cluster sends to one
 * node, and INFO) go through `scanKeys` and `isCluster` here.
 *
 * Must not: let a Redis that is down turn into a hang or a stack trace. The worker's connection
 * waits for Redis (its jobs resume when it is back, also across a cluster's or Sentinel's
 * failover); whatever answers a person (the CLI, the admin endpoint) bounds each call and says
 * "Redis does not answer" in one line (RedisUnavailableError).
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { RotatorError } from "../core/errors.js";
import {
  type RedisAccess,
  type RedisTopology,
  assertQueuePrefixFits,
  describeRedis,
  redisTopologyFrom,
} from "./redis-topology.js";

export {
  DEFAULT_REDIS_URL,
  type RedisTopology,
  describeRedis,
  redisEnvFor,
  redisTopologyFrom,
  shownUrl,
} from "./redis-topology.js";

/** Redis did not answer (down, restarting, unreachable, or too slow). Retryable: nothing was done. */
export class RedisUnavailableError extends RotatorError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

/** REDIS_URL (or the default), for a single node. Prefer `redisTopologyFrom`, which knows the cluster and Sentinel too. */
export function redisUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  const topology = redisTopologyFrom(env);
  if (topology.kind !== "node") throw new Error(`redisUrlFrom: Redis is a ${topology.kind} here, not one URL`);
  return topology.url;
}

/** How long a one-shot command's Redis call may take before it fails (a Redis that accepts but never answers). */
export const FAIL_FAST_COMMAND_MS = 3_000;

const lastErrors = new WeakMap<object, Error>();
/** A cluster's own error ("Failed to refresh slots cache.") hides the cause; a node's last error may say it. */
const lastNodeErrors = new WeakMap<object, Error>();

export interface ConnectOptions {
  /** The CLI: each command fails within a few seconds while Redis does not answer. */
  failFast?: boolean;
  /** The queue prefix the connection is for: on a Cluster it must be a hash tag (ConfigError otherwise). */
  queuePrefix?: string;
}

/**
 * Opens a connection. The worker's waits for Redis as long as it takes. `failFast` (the CLI): each
 * command fails within a few seconds while Redis does not answer, but the connection keeps trying
 * to come back (until closed), so a caller that polls (`rotate --wait`) outlasts a Redis restart.
 * A string is a REDIS_URL.
 */
export function connectRedis(target: RedisTopology | string, options: ConnectOptions = {}): Redis {
  const topology: RedisTopology = typeof target === "string" ? { kind: "node", url: target } : target;
  if (options.queuePrefix !== undefined) assertQueuePrefixFits(topology, options.queuePrefix);
  const failFast = options.failFast ?? false;
  const perNode: RedisOptions = {
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: true,
    ...(failFast ? { commandTimeout: FAIL_FAST_COMMAND_MS, connectTimeout: 2_000 } : {}),
    ...accessOptions(topology),
  };
  const retry = failFast
    ? (times: number) => Math.min(200 * times, 1_000)
    : (times: number) => Math.min(times * 200, 5_000);
  let redis: Redis;
  if (topology.kind === "cluster") {
    const cluster = new Cluster(topology.nodes, clusterOptions(topology, perNode, retry, failFast));
    // See the header: a Cluster answers every command the modules send.
    redis = cluster as unknown as Redis;
  } else if (topology.kind === "sentinel") {
    redis = new Redis({
      ...perNode,
      sentinels: topology.sentinels,
      name: topology.masterName,
      retryStrategy: retry,
      sentinelRetryStrategy: retry,
      // Not failoverDetector: in ioredis 5.11 its announcement, arriving while the connection is
      // already reconnecting after the master died, ends the connection for good ("Connection is closed").
      // A master demoted while this connection held on to it answers writes with READONLY: ask the sentinels again.
      reconnectOnError: (err: Error) => (err.message.startsWith("READONLY") ? 2 : false),
      ...(topology.sentinelLogin?.username ? { sentinelUsername: topology.sentinelLogin.username } : {}),
      ...(topology.sentinelLogin?.password ? { sentinelPassword: topology.sentinelLogin.password.reveal() } : {}),
      ...(perNode.tls ? { enableTLSForSentinelMode: true, sentinelTLS: perNode.tls } : {}),
      lazyConnect: false,
    });
  } else {
    redis = new Redis(topology.url, { ...perNode, retryStrategy: retry, lazyConnect: false });
  }
  // Without a listener ioredis prints a stack trace for every failed reconnect. A Redis that is
  // down shows up where it matters: assertRedisAnswers, the failing command, /readyz.
  redis.on("error", (err: Error) => void lastErrors.set(redis, err));
  redis.on("node error", (err: Error) => void lastNodeErrors.set(redis, err));
  redis.on("ready", () => {
    lastErrors.delete(redis);
    lastNodeErrors.delete(redis);
  });
  return redis;
}

function accessOptions(access: RedisAccess): RedisOptions {
  const login = access.login;
  return {
    ...(login?.username ? { username: login.username } : {}),
    ...(login?.password ? { password: login.password.reveal() } : {}),
    ...(access.tls ? { tls: access.tls.ca ? { ca: access.tls.ca } : {} } : {}),
  };
}

function clusterOptions(
  topology: RedisTopology,
  perNode: RedisOptions,
  retry: (times: number) => number,
  failFast: boolean,
): ClusterOptions {
  return {
    redisOptions: perNode,
    enableOfflineQueue: true,
    clusterRetryStrategy: retry,
    // A master that dies takes the cluster some seconds (cluster-node-timeout plus an election)
    // to replace. The worker rides that out: each try is a redirection, so allow enough of them
    // for about a minute. The CLI keeps ioredis's defaults (a few seconds) and fails clearly.
    ...(failFast
      ? {}
      : { maxRedirections: 300, retryDelayOnFailover: 200, retryDelayOnClusterDown: 200, retryDelayOnTryAgain: 200 }),
    // With TLS the certificates name the hosts as given; resolving them to addresses first would fail the check.
    ...(topology.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
}

/** Is `redis` a Redis Cluster client? */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The masters of a cluster, or the one connection itself: where SCAN and INFO must go. */
export function primaries(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes("master") : [redis];
}

/** Is the connection up right now? (A command sent now would go out instead of waiting.) */
export function redisIsUp(redis: Redis): boolean {
  return redis.status === "ready";
}

/**
 * One line for a failed Redis call: "Redis does not answer at <where> (<why>)". The why is the
 * connection's last error (connection refused, say) rather than ioredis's "max retries" wording.
 */
export function redisProblem(redis: Redis | undefined, where: RedisTopology | string, err?: unknown): string {
  const cause =
    (redis && (lastNodeErrors.get(redis) ?? lastErrors.get(redis))) ?? (err instanceof Error ? err : undefined);
  const why = cause ? plainCause(cause) : redis ? `connection ${redis.status}` : "not connected";
  return `Redis does not answer at ${describeRedis(where)} (${why})`;
}

function plainCause(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(err.message)) return "timed out";
  if (/max retries per request/i.test(err.message) || /Connection is closed/i.test(err.message))
    return "connection lost";
  if (/WRONGPASS|NOAUTH|NOPERM/.test(err.message)) return `refused the login: ${err.message.split("\n")[0] ?? ""}`;
  if (/certificate|self[- ]signed|SSL|TLS/i.test(err.message) || code?.startsWith("ERR_TLS") || code?.includes("CERT"))
    return `TLS: ${err.message.split("\n")[0] ?? ""}`;
  return err.message.split("\n")[0] ?? "unknown";
}

/** Resolves when Redis answers PING, or rejects (RedisUnavailableError) with a message that names the address. */
export async function assertRedisAnswers(
  redis: Redis,
  where: RedisTopology | string,
  timeoutMs = 3_000,
): Promise<void> {
  const hint =
    "(set REDIS_URL, REDIS_CLUSTER_HOSTS or REDIS_SENTINEL_HOSTS, or start one: bash scripts/ensure-redis.sh)";
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RedisUnavailableError(
            `${redisProblem(redis, where, new Error(`timed out after ${timeoutMs} ms`))} ${hint}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    const nodeCause = typeof where !== "string" && where.kind === "cluster" ? await startNodeProblem(where) : undefined;
    if (nodeCause)
      throw new RedisUnavailableError(
        `Redis does not answer at ${describeRedis(where)} (${plainCause(nodeCause)}) ${hint}`,
        err,
      );
    if (err instanceof RedisUnavailableError) throw err;
    throw new RedisUnavailableError(`${redisProblem(redis, where, err)} ${hint}`, err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a cluster's first start-up node does not let us in (TLS, the login), or undefined when it
 * does: ioredis's slots refresh swallows that cause and reports "Failed to refresh slots cache.".
 */
async function startNodeProblem(topology: RedisTopology & { kind: "cluster" }): Promise<Error | undefined> {
  const node = topology.nodes[0];
  if (!node) return undefined;
  const probe = new Redis({
    host: node.host,
    port: node.port,
    ...accessOptions(topology),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
  });
  let first: Error | undefined;
  probe.on("error", (err: Error) => void (first ??= err));
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (err) {
    return first ?? (err instanceof Error ? err : undefined);
  } finally {
    probe.disconnect();
  }
}

/** Every key matching a SCAN pattern, on each master of a cluster. SCAN, not KEYS: it does not block Redis. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of primaries(redis)) {
    let cursor = "0";
    do {
      const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
  }
  return keys;
}

/** Deletes every key under a prefix (the demo and tests clean up after themselves with it). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`);
  // One DEL per batch on a single node; on a cluster a DEL of keys in several slots is refused.
  if (isCluster(redis)) await Promise.all(keys.map((k) => redis.unlink(k)));
  else for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
}
