/**
 * What a one-shot CLI command needs: the inventory turned into runtime config, a logger, and, when
 * reachable, Redis and the rotation queue; the store and the vendors (`services()`) only when the
 * command asks for them, so a command that only queues (`rotate --emergency`) does not load the
 * AWS SDK, prom-client or the alert sinks. `close()` releases all of it.
 *
 * Redis down is an answer, not a hang or a stack trace: the connection fails each call within a
 * few seconds (connectRedis failFast) while it keeps trying to come back, and neither it nor the
 * queue prints anything of its own (BullMQ prints an unheard connection error with its stack).
 * Redis is any topology the environment names (redis-topology.ts).
 */
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { loadRuntime } from "../config/load-runtime.js";
import { assertRedisAnswers, connectRedis, describeRedis, redisTopologyFrom } from "../queue/redis.js";
import { assertQueuePrefixFits } from "../queue/redis-topology.js";
import { ROTATION_QUEUE } from "../queue/rotation-queue.js";
import type { RuntimeConfig } from "../config/runtime-config.js";
import type { Services } from "../worker/compose-services.js";
import { type Logger, cliLogger } from "./cli-logger.js";

export interface CliContext {
  runtime: RuntimeConfig;
  /** Warnings and refusals, on stderr (LOG_LEVEL, default warn). */
  log: Logger;
  /** The store, vendors and alerter, built on first call (it loads the AWS SDK) and then shared. */
  services(): Promise<Services>;
  redis?: Redis;
  queue?: Queue;
  /** Where Redis is, for messages (a URL without its password, or the cluster's or Sentinel's hosts). */
  redisUrl: string;
  close(): Promise<void>;
}

export async function openCli(
  configPath: string,
  /** queue: false for a command that reads and writes Redis but no job (BullMQ is not loaded). */
  options: { redis: "required" | "optional" | "none"; queue?: boolean },
): Promise<CliContext> {
  const { inventory, runtime } = await loadRuntime(configPath);
  // A Redis configuration that does not parse, or a cluster with a prefix that is no hash tag, is
  // bad input (exit 2), found before anything is opened.
  const queuePrefix = runtime.settings.queuePrefix;
  const topology = options.redis === "none" ? undefined : redisTopologyFrom();
  if (topology) assertQueuePrefixFits(topology, queuePrefix);
  const log = cliLogger();
  let services: Promise<Services> | undefined;
  let redis: Redis | undefined;
  let queue: Queue | undefined;
  if (topology) {
    const candidate = connectRedis(topology, { failFast: true });
    try {
      await assertRedisAnswers(candidate, topology, 2_000);
      redis = candidate;
      if (options.queue !== false) {
        const { Queue } = await import("../queue/bullmq.js");
        queue = new Queue(ROTATION_QUEUE, { connection: candidate, prefix: queuePrefix });
        queue.on("error", () => undefined);
      }
    } catch (err) {
      candidate.disconnect();
      if (options.redis === "required") throw err;
    }
  }
  return {
    runtime,
    log,
    services() {
      services ??= Promise.all([import("../worker/compose-services.js"), import("./no-metrics.js")]).then(
        ([{ createServices }, { noMetrics }]) => createServices(inventory, runtime, { log, metrics: noMetrics() }),
      );
      return services;
    },
    ...(redis ? { redis } : {}),
    ...(queue ? { queue } : {}),
    redisUrl: topology ? describeRedis(topology) : "(not used)",
    async close() {
      await queue?.close().catch(() => undefined);
      redis?.disconnect();
      await (await services?.catch(() => undefined))?.close();
    },
  };
}
