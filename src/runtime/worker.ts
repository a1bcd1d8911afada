/**
 * The long-running worker: BullMQ workers for rotations and maintenance, the job schedulers,
 * the HTTP surface, and an orderly stop. On start it rebuilds its schedules from the inventory
 * (upserting those it wants, removing any others under its prefix) and runs a due check at once,
 * which resumes every rotation the store shows unfinished. Any number of replicas may run.
 *
 * Must not: rotate anything itself (jobs do), or trust Redis for what the store can say.
 */
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { describeError } from "../core/errors.js";
import type { Alert, Alerter, Clock, KeyApiVendor, KeyVerifier, SecretStore } from "../core/ports.js";
import { resolvingOnlyOpen } from "../alerts/alert-router.js";
import type { OpenAlertStore } from "../alerts/open-alert-store.js";
import { RedisOpenAlertStore } from "../alerts/redis-open-alert-store.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { rotationProcessor } from "../../jobs/rotation.job.js";
import { runDueCheck } from "../../jobs/due-check.job.js";
import { runOrphanSweep } from "../../jobs/orphan-sweep.job.js";
import { runHealthCheck } from "../../jobs/health-check.job.js";
import { UsageWatcher, usageGateFor } from "./usage-watcher.js";
import { RotationHistory } from "./history.js";
import { type ReadyCheck, startHttpServer } from "./http-server.js";
import { assertRedisAnswers, connectRedis } from "./redis.js";
import { ROTATION_QUEUE, emergencyFlagKey, enqueueRotation, type RotationRequest } from "./rotation-queue.js";
import type { RuntimeConfig, RuntimeCredential } from "./runtime-config.js";

export const MAINTENANCE_QUEUE = "maintenance";
/** Put pending, move current: a completed rotation leaves AWSPENDING where it is (see history.ts). */
const WRITES_PER_ROTATION = 2;

export interface WorkerPorts {
  store: SecretStore;
  vendorFor(credential: RuntimeCredential): KeyApiVendor;
  verifierFor(credential: RuntimeCredential): KeyVerifier;
  alerter: Alerter & { flush?(): Promise<void>; keepOpenAlertsIn?(store: OpenAlertStore): void; openKeys?(): Promise<Set<string> | undefined> };
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  readyChecks?: ReadyCheck[];
}

export interface WorkerOptions {
  redisUrl: string;
  adminToken?: string;
  /** Overrides settings.httpPort (0 for a random port in tests). */
  httpPort?: number;
  httpHost?: string;
}

export interface RunningWorker {
  httpUrl: string;
  rotations: Queue;
  redis: Redis;
  /** Finishes the jobs in hand (they stay resumable if cut), then closes everything. */
  close(): Promise<void>;
}

export async function startWorker(config: RuntimeConfig, ports: WorkerPorts, options: WorkerOptions): Promise<RunningWorker> {
  const { settings } = config;
  const { log, store, clock, metrics } = ports;
  const redis = connectRedis(options.redisUrl);
  await assertRedisAnswers(redis, options.redisUrl);
  // Open alerts shared by every replica and kept over restarts, so a resolve reaches its incident.
  ports.alerter.keepOpenAlertsIn?.(new RedisOpenAlertStore(redis, settings.queuePrefix));
  const connection = { connection: redis, prefix: settings.queuePrefix };
  const rotations = new Queue(ROTATION_QUEUE, connection);
  const maintenance = new Queue(MAINTENANCE_QUEUE, connection);
  const history = new RotationHistory(redis, settings.queuePrefix);
  const byId = new Map(config.credentials.map((c) => [c.id, c]));
  const keyApi = config.credentials.filter((c) => c.vendor === "callcov");
  const operatorAlerter = ports.alerter as WorkerPorts["alerter"] & { escalate?(a: Alert): Promise<void> };
  const enqueue = (request: RotationRequest) => enqueueRotation(rotations, redis, request, clock.now());

  const dueCheck = () =>
    runDueCheck({ credentials: config.credentials, store, schedule: (id, created, now) => scheduleOf(byId, id, created, now), enqueue,
      completedRotations: () => history.completedRotations(), log, metrics, now: () => clock.now() });
  const healthCheck = async () => {
    // One read of the open alerts per tick, so a credential that is fine costs no Redis command.
    const open = await ports.alerter.openKeys?.();
    const alerter = open ? resolvingOnlyOpen(ports.alerter, open) : ports.alerter;
    const usage = new UsageWatcher(redis, settings.queuePrefix, alerter, (id) => byId.get(id)?.usage, metrics);
    await usage.load();
    const summary = await runHealthCheck({
      credentials: config.credentials, store, alerter, log, metrics, now: () => clock.now(),
      verifierFor: (c) => ports.verifierFor(byId.get(c.id) as RuntimeCredential),
      managementFor: (c) => (c.vendor === "callcov" ? ports.vendorFor(byId.get(c.id) as RuntimeCredential) : undefined),
      overdueAfterMs: Math.max(2 * settings.dueCheckEveryMs, 3_600_000),
      onUsage: async (id, sample) => void (await usage.observe(id, sample, clock.now())),
    });
    await usage.save();
    return summary;
  };
  const orphanSweep = () =>
    runOrphanSweep({ accounts: accountsOf(keyApi, ports), store, log, now: () => clock.now(), minAgeMs: settings.orphanMinAgeMs });

  const wanted = { "due-check": settings.dueCheckEveryMs, "orphan-sweep": settings.orphanSweepEveryMs, "health-check": settings.healthCheckEveryMs };
  await syncSchedulers(maintenance, wanted, log);
  // Redis may be flushed or replaced while we run: put the schedules back when they vanish
  // (one cheap command a minute), so the due check resumes what the store shows unfinished.
  const watchdog = setInterval(() => {
    maintenance.getJobSchedulersCount().then(async (n) => {
      if (n >= Object.keys(wanted).length) return;
      log.warn({ event: "scheduler.restored", found: n }, "job schedulers missing from Redis (flushed or replaced?): restoring them");
      await syncSchedulers(maintenance, wanted, log);
    }).catch((err: unknown) => log.warn({ event: "scheduler.check-failed", error: describeError(err) }, "could not check the job schedulers"));
  }, Math.min(60_000, settings.dueCheckEveryMs));
  watchdog.unref();
  // A due check at once (resuming whatever the store shows unfinished), as a job with an id per
  // minute, so replicas starting together run it once while it is in flight.
  await maintenance.add("due-check", {}, { jobId: `due-check-start-${Math.floor(clock.now() / 60_000)}`, removeOnComplete: true, removeOnFail: true });

  const workerConnections = [redis.duplicate(), redis.duplicate()] as const;
  const rotationWorker = new Worker(
    ROTATION_QUEUE,
    rotationProcessor({
      resolve: (id) => {
        const credential = byId.get(id);
        if (!credential) return undefined;
        if (credential.vendor === "justcall") {
          const op = credential.operator ?? { singlePair: false, remindEveryMs: 4 * 3_600_000, deadlineMs: 48 * 3_600_000 };
          return { kind: "operator" as const, credential: { ...credential, ...op }, deps: { store, verifier: ports.verifierFor(credential), alerter: operatorAlerter, clock } };
        }
        const vendor = ports.vendorFor(credential);
        return { kind: "key-api" as const, credential, deps: { store, vendor, alerter: ports.alerter, clock, usageGate: usageGateFor(vendor, () => clock.now(), Math.min(60_000, Math.max(1_000, credential.graceMs))) } };
      },
      history,
      log,
      metrics,
      now: () => clock.now(),
      emergencyRequested: async (rotationId) => {
        // The flag holds who asked: it goes into the audit trail as the rotation turns emergency.
        const actor = await redis.getdel(emergencyFlagKey(rotations, rotationId));
        if (actor !== null) log.info({ event: "rotation.escalated", rotationId, actor }, `rotation ${rotationId} finishes as an emergency (asked by ${actor})`);
        return actor !== null;
      },
    }),
    {
      ...connection, connection: workerConnections[0], concurrency: settings.concurrency, lockDuration: settings.lockDurationMs, stalledInterval: settings.lockDurationMs, maxStalledCount: 10,
      // A rotation makes two store writes (put, promote); BullMQ's limiter is shared by
      // every replica, so the fleet stays inside the account's write quota instead of being throttled.
      limiter: { max: Math.max(1, Math.floor(settings.storeWriteQuota / WRITES_PER_ROTATION)), duration: 1_000 },
      // An idle worker long-polls Redis: 30 s per poll keeps it to a few commands a minute.
      drainDelay: 30,
    },
  );
  const maintenanceWorker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      if (job.name === "due-check") {
        const summary = await dueCheck();
        log.info({ event: "due-check.done", ...summary }, `due check: ${summary.checked} checked, ${summary.started} started, ${summary.resumed} resumed, ${summary.held} held for a window, ${summary.errors} errors`);
        return summary;
      }
      if (job.name === "health-check") {
        const summary = await healthCheck();
        log.info({ event: "health-check.done", checked: summary.checked, failing: summary.failing.length }, `health check: ${summary.checked} credentials, ${summary.failing.length} failing checks`);
        return { checked: summary.checked, failing: summary.failing.length };
      }
      if (job.name === "orphan-sweep") {
        const summary = await orphanSweep();
        log.info({ event: "orphan-sweep.done", keysSeen: summary.keysSeen, revoked: summary.revoked.length, errors: summary.errors }, `orphan sweep: ${summary.keysSeen} keys seen, ${summary.revoked.length} orphans revoked`);
        return summary;
      }
      throw new Error(`unknown maintenance job ${job.name}`);
    },
    // Maintenance jobs are idempotent ticks: a crashed one is simply run again, so stalls are checked rarely.
    { ...connection, connection: workerConnections[1], concurrency: 1, lockDuration: 120_000, stalledInterval: 300_000, drainDelay: 30 },
  );
  for (const w of [rotationWorker, maintenanceWorker]) {
    w.on("error", (err) => log.error({ event: "worker.error", error: describeError(err) }, "queue worker error"));
  }

  const http = await startHttpServer({
    port: options.httpPort ?? settings.httpPort,
    host: options.httpHost ?? "0.0.0.0",
    registry: metrics.registry,
    readyChecks: [{ name: "redis", check: async () => void (await redis.ping()) }, ...(ports.readyChecks ?? [])],
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    admin: {
      has: (id) => byId.has(id),
      rotate: (r) => enqueue({ credentialId: r.credentialId, trigger: r.emergency ? "emergency" : "admin", emergency: r.emergency, actor: r.actor, reason: r.reason }),
    },
  });
  log.info({ event: "worker.ready", credentials: config.credentials.length, http: http.url, prefix: settings.queuePrefix }, `worker ready: ${config.credentials.length} credentials, http ${http.url}`);

  let closing: Promise<void> | undefined;
  return {
    httpUrl: http.url,
    rotations,
    redis,
    close: () =>
      (closing ??= (async () => {
        log.info({ event: "worker.stopping" }, "stopping: finishing the jobs in hand");
        clearInterval(watchdog);
        await Promise.all([rotationWorker.close(), maintenanceWorker.close()]);
        await ports.alerter.flush?.();
        await http.close();
        await Promise.all([rotations.close(), maintenance.close()]);
        for (const c of [redis, ...workerConnections]) c.disconnect();
        log.info({ event: "worker.stopped" }, "stopped");
      })()),
  };
}

function scheduleOf(byId: Map<string, RuntimeCredential>, id: string, created: Date, now: number) {
  const credential = byId.get(id);
  if (!credential) return { due: false, dueAt: Number.POSITIVE_INFINITY };
  return credential.schedule(created, now);
}

/** One sweep per vendor account: credentials that share a base URL and management login. */
function accountsOf(credentials: RuntimeCredential[], ports: WorkerPorts) {
  const groups = new Map<string, RuntimeCredential[]>();
  for (const c of credentials) {
    const key = `${c.baseUrl}|${c.managementSecretId ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].map((group) => ({ vendor: ports.vendorFor(group[0] as RuntimeCredential), credentials: group }));
}

/**
 * Makes the queue's job schedulers exactly the wanted set (by id and interval). A new scheduler's
 * first tick is one interval away: BullMQ would otherwise fire it at once, on top of the startup
 * due check. One that already exists with the same interval is left alone, so a restarting replica
 * does not push every tick back.
 */
export async function syncSchedulers(queue: Queue, wanted: Record<string, number>, log: Logger, now = Date.now()): Promise<void> {
  const existing = new Map<string, number | undefined>();
  for (const s of await queue.getJobSchedulers(0, -1)) {
    const id = s.id ?? s.key;
    existing.set(id, s.every);
    if (!(id in wanted)) {
      await queue.removeJobScheduler(id);
      log.info({ event: "scheduler.removed", scheduler: id }, `removed job scheduler ${id}`);
    }
  }
  for (const [id, every] of Object.entries(wanted)) {
    if (existing.get(id) === every) continue;
    await queue.upsertJobScheduler(id, { every, startDate: now + every }, { name: id, data: {}, opts: { removeOnComplete: 20, removeOnFail: 20 } });
  }
}
