/**
 * The long-running worker: BullMQ workers for rotations and maintenance (the ticks themselves are
 * in maintenance.ts), the HTTP surface with its emergency lane (emergency-lane.ts), and an
 * orderly stop. On start it rebuilds its schedules from the inventory (upserting those it wants,
 * removing any others under its prefix) and runs a due check at once, which resumes every
 * rotation the store shows unfinished. Any number of replicas may run.
 *
 * Must not: rotate anything itself outside a job (the queue and the lane run jobs), or trust Redis
 * for what the store can say.
 */
import { Queue, Worker } from "../queue/bullmq.js";
import type { Redis } from "ioredis";
import { describeError } from "../core/errors.js";
import type { Alert } from "../core/ports.js";
import { RedisOpenAlertStore } from "../alerts/redis-open-alert-store.js";
import { type RotationJobContext, rotationProcessor } from "../jobs/rotation.job.js";
import { usageGateFor } from "../jobs/usage-watcher.js";
import { emergencyLane } from "../jobs/emergency-lane.js";
import { MAINTENANCE_QUEUE, keepSchedules, maintenanceProcessor } from "./maintenance.js";
import { IdleCollector } from "./idle-collector.js";
import { RotationHistory } from "../queue/rotation-history-store.js";
import { RegionWriteBudget } from "../queue/write-budget.js";
import { ADMIN_TIMEOUT_MS, type AdminRotate, type HttpServerOptions, startHttpServer } from "../http/http-server.js";
import { type LocalSocket, checkSocketPath, listenOnSocket } from "../http/local-socket.js";
import { type RedisTopology, assertRedisAnswers, connectRedis } from "../queue/redis.js";
import {
  ROTATION_QUEUE,
  dedupIdFor,
  emergencyFlagKey,
  enqueueRotation,
  parseEmergencyFlag,
  type RotationRequest,
} from "../queue/rotation-queue.js";
import type { RuntimeConfig } from "../config/runtime-config.js";
import { withFields } from "../config/load-runtime.js";
import { ById } from "../config/id-table.js";
import type { WorkerPorts } from "./worker-ports.js";

export type { WorkerPorts };

/** The region of credentials that name none (the AWS SDK's default). */
const DEFAULT_REGION = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";

/** Put pending, move current: a completed rotation leaves AWSPENDING where it is (see rotation-history-store.ts). */
const WRITES_PER_ROTATION = 2;

export interface WorkerOptions {
  /** Where Redis is: one node, a cluster or Sentinel (redis-topology.ts), or a REDIS_URL. */
  redis: RedisTopology | string;
  adminToken?: string;
  /** Named admin tokens and the leak webhook, passed to the HTTP server as they are. */
  http?: Pick<HttpServerOptions, "adminTokens" | "leaks">;
  /** Overrides settings.httpPort (0 for a random port in tests). */
  httpPort?: number;
  httpHost?: string;
  /** The admin API on its own port and bind address (KEY_ROTATOR_ADMIN_PORT/_HOST); absent: on httpPort. */
  adminPort?: number;
  adminHost?: string;
  /**
   * The local socket (KEY_ROTATOR_SOCKET, local-socket.ts): its absolute path, and the inventory
   * file this worker loaded, which a CLI's request must name.
   */
  socket?: { path: string; inventory: string };
}

export interface RunningWorker {
  httpUrl: string;
  /** Where the admin API listens when it has its own port. */
  adminUrl?: string;
  rotations: Queue;
  redis: Redis;
  /** Finishes the jobs in hand (they stay resumable if cut), then closes everything. */
  close(): Promise<void>;
}

export async function startWorker(
  config: RuntimeConfig,
  ports: WorkerPorts,
  options: WorkerOptions,
): Promise<RunningWorker> {
  const { settings } = config;
  const { log, store, clock, metrics } = ports;
  // Before anything starts: a path that cannot be the socket stops the start, named.
  if (options.socket) await checkSocketPath(options.socket.path);
  const redis = connectRedis(options.redis, { queuePrefix: settings.queuePrefix });
  await assertRedisAnswers(redis, options.redis);
  // Open alerts shared by every replica and kept over restarts, so a resolve reaches its incident.
  ports.alerter.keepOpenAlertsIn?.(new RedisOpenAlertStore(redis, settings.queuePrefix));
  const connection = { connection: redis, prefix: settings.queuePrefix };
  const rotations = new Queue(ROTATION_QUEUE, connection);
  const maintenance = new Queue(MAINTENANCE_QUEUE, connection);
  const history = new RotationHistory(redis, settings.queuePrefix);
  const byId = new ById(config.credentials);
  const operatorAlerter = ports.alerter as WorkerPorts["alerter"] & { escalate?(a: Alert): Promise<void> };
  const enqueue = (request: RotationRequest) => enqueueRotation(rotations, redis, request, clock.now());

  const watchdog = await keepSchedules(maintenance, settings, clock, log);

  const rotationContext: RotationJobContext = {
    resolve: (id) => {
      const credential = byId.get(id);
      if (!credential) return undefined;
      const module = credential.module;
      if (module.flow === "operator") {
        const op = credential.operator ?? {
          singlePair: false,
          remindEveryMs: 4 * 3_600_000,
          deadlineMs: 48 * 3_600_000,
        };
        return {
          kind: "operator" as const,
          credential: withFields(credential, op),
          deps: {
            store,
            verifier: ports.verifierFor(credential),
            value: module.value,
            guide: { ...module.guide, vendorName: module.name },
            alerter: operatorAlerter,
            clock,
          },
        };
      }
      const vendor = ports.vendorFor(credential);
      return {
        kind: "key-api" as const,
        credential,
        deps: {
          store,
          vendor,
          value: module.value,
          ...(ports.replicasFor ? { replicas: ports.replicasFor(credential) } : {}),
          alerter: ports.alerter,
          clock,
          usageGate: usageGateFor(
            vendor,
            { redis, prefix: settings.queuePrefix },
            () => clock.now(),
            Math.min(60_000, Math.max(1_000, credential.graceMs)),
          ),
        },
      };
    },
    history,
    log,
    metrics,
    now: () => clock.now(),
    emergencyRequested: async (credentialId) => {
      // The flag holds who asked and when: the audit trail, and the time the new key must follow.
      const raw = await redis.getdel(emergencyFlagKey(rotations, credentialId));
      if (raw === null) return undefined;
      const { at, actor } = parseEmergencyFlag(raw, clock.now());
      log.info(
        { event: "rotation.escalated", credentialId, actor, askedAt: new Date(at).toISOString() },
        `the rotation of ${credentialId} finishes as an emergency (asked by ${actor})`,
      );
      return at;
    },
  };
  // A rotation makes two store writes (put, promote): rotations a second that keep a region inside
  // its write quota. The queue's workers and the emergency lane take from the same budgets.
  const rotationsPerSecond = Math.max(1, Math.floor(settings.storeWriteQuota / WRITES_PER_ROTATION));
  // The quota is each account's own in each region (write-budget.ts); BullMQ's limiter caps how
  // fast the fleet's jobs are taken up.
  const quotaOf = (c: RuntimeConfig["credentials"][number] | undefined) =>
    `${c?.aws.region ?? DEFAULT_REGION}${c?.aws.roleArn ? `|${c.aws.roleArn.split(":")[4] ?? ""}` : ""}`;
  const regions = new Set(config.credentials.map(quotaOf));
  // With one budget the limiter is that budget. With several it cannot know whose job comes next:
  // a slot it gave a job that its region's bucket then refused is lost to every other region, so
  // at exactly the sum the regions together fell 13% short of their quotas (the 3-region bench:
  // 38 writes a second a region at q = 44). A quarter more leaves room for those; the buckets
  // still hold each region to its own quota.
  const limiterMax = regions.size > 1 ? Math.ceil(rotationsPerSecond * regions.size * 1.25) : rotationsPerSecond;
  rotationContext.writeBudget = new RegionWriteBudget(redis, settings.queuePrefix, rotationsPerSecond).forCredentials(
    (id) => quotaOf(byId.get(id)),
  );
  const lane = emergencyLane({
    rotations,
    redis,
    ctx: rotationContext,
    leaseMs: settings.lockDurationMs,
    maxInFlight: settings.concurrency,
    limiter: { max: limiterMax, durationMs: 1_000 },
    limits: settings.emergency,
  });

  const workerConnections = [redis.duplicate(), redis.duplicate()] as const;
  const rotationWorker = new Worker(ROTATION_QUEUE, rotationProcessor(rotationContext), {
    ...connection,
    connection: workerConnections[0],
    concurrency: settings.concurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.lockDurationMs,
    maxStalledCount: 10,
    // BullMQ's limiter is shared by every replica; each region's bucket is the exact gate.
    limiter: { max: limiterMax, duration: 1_000 },
    // An idle worker long-polls Redis: 30 s per poll keeps it to a few commands a minute.
    drainDelay: 30,
  });
  const collector = new IdleCollector();
  const maintenanceWorker = new Worker(
    MAINTENANCE_QUEUE,
    collector.around(
      maintenanceProcessor({
        config,
        queue: maintenance,
        ports,
        redis,
        history,
        enqueue,
        byId,
        rotationInFlight: async (id) => (await rotations.getDeduplicationJobId(dedupIdFor(id))) !== null,
      }),
    ),
    // Maintenance jobs are idempotent ticks: a crashed one is simply run again, so stalls are checked rarely.
    // One at a time, so a tick's shards spread over the replicas; a shard (tickShardSize credentials)
    // takes seconds, far inside the lock.
    {
      ...connection,
      connection: workerConnections[1],
      concurrency: 1,
      lockDuration: 120_000,
      stalledInterval: 300_000,
      drainDelay: 30,
    },
  );
  for (const w of [rotationWorker, maintenanceWorker]) {
    w.on("error", (err) => log.error({ event: "worker.error", error: describeError(err) }, "queue worker error"));
  }

  const admin: AdminRotate = {
    has: (id) => byId.has(id),
    rotate: (r) =>
      lane.rotate({
        credentialId: r.credentialId,
        trigger: r.emergency ? "emergency" : "admin",
        emergency: r.emergency,
        actor: r.actor,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(r.force ? { force: true } : {}),
      }),
  };
  const http = await startHttpServer({
    port: options.httpPort ?? settings.httpPort,
    host: options.httpHost ?? "0.0.0.0",
    ...(options.adminPort !== undefined ? { adminPort: options.adminPort } : {}),
    ...(options.adminHost !== undefined ? { adminHost: options.adminHost } : {}),
    registry: metrics.registry,
    readyChecks: [{ name: "redis", check: async () => void (await redis.ping()) }, ...(ports.readyChecks ?? [])],
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...options.http,
    admin,
  });
  const socket: LocalSocket | undefined = options.socket
    ? await listenOnSocket({
        ...options.socket,
        admin,
        audit: (entry) => history.audit(entry),
        timeoutMs: ADMIN_TIMEOUT_MS,
        warn: (message) => log.warn({ event: "socket.audit" }, message),
      })
    : undefined;
  log.info(
    {
      event: "worker.ready",
      credentials: config.credentials.length,
      http: http.url,
      ...(http.adminUrl ? { admin: http.adminUrl } : {}),
      ...(socket ? { socket: socket.path } : {}),
      prefix: settings.queuePrefix,
    },
    `worker ready: ${config.credentials.length} credentials, http ${http.url}`,
  );
  // Start-up's garbage is given back even on a replica that runs no maintenance job.
  collector.started();

  let closing: Promise<void> | undefined;
  return {
    httpUrl: http.url,
    ...(http.adminUrl ? { adminUrl: http.adminUrl } : {}),
    rotations,
    redis,
    close: () =>
      (closing ??= (async () => {
        log.info({ event: "worker.stopping" }, "stopping: finishing the jobs in hand");
        clearInterval(watchdog);
        // No new requests from the CLI: it goes through the queue while this worker stops.
        await socket?.close();
        await lane.close();
        await Promise.all([rotationWorker.close(), maintenanceWorker.close()]);
        collector.stop();
        await ports.alerter.flush?.();
        await http.close();
        await Promise.all([rotations.close(), maintenance.close()]);
        for (const c of [redis, ...workerConnections]) c.disconnect();
        log.info({ event: "worker.stopped" }, "stopped");
      })()),
  };
}
