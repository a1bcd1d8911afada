/**
 * The maintenance ticks of the worker, each a BullMQ job scheduler on the maintenance queue: the
 * due check (hourly by default; also once at start), the health check with the usage watcher, and
 * the orphan sweep. `keepSchedules` makes the schedulers match the inventory and puts them back if
 * Redis loses them; `maintenanceProcessor` runs a tick by its job name. A due or health tick over
 * more than `tickShardSize` credentials is cut into shard jobs (tick-shards.ts), which every
 * replica's maintenance worker takes, one at a time, from the same queue.
 *
 * Must not: rotate anything (the due check only enqueues), or keep state between ticks beyond what
 * a version never changes (current versions' creation times, finished-markers seen).
 */
import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { describeError } from "../core/errors.js";
import type { Clock } from "../core/ports.js";
import { resolvingOnlyOpen } from "../alerts/alert-router.js";
import type { Logger } from "../observability/logger.js";
import { runDueCheck } from "../jobs/due-check.job.js";
import { CurrentVersionCache, type FleetView, listShard } from "../jobs/fleet-view.js";
import { runHealthCheck } from "../jobs/health-check.job.js";
import { type SweepAccount, runOrphanSweep } from "../jobs/orphan-sweep.job.js";
import type { RotationHistory } from "../queue/rotation-history-store.js";
import type { Enqueued, RotationRequest } from "../queue/rotation-queue.js";
import {
  type RuntimeConfig,
  type RuntimeCredential,
  type RuntimeSettings,
  vendorCredential,
} from "../config/runtime-config.js";
import { UsageWatcher } from "../jobs/usage-watcher.js";
import { SHARD_JOB, type ShardData, type ShardedTick, SortedFleet, parseShardData } from "../jobs/tick-shards.js";
import { tickSplitter } from "./tick-splitter.js";
import type { WorkerPorts } from "./worker-ports.js";

export const MAINTENANCE_QUEUE = "maintenance";

export interface MaintenanceContext {
  config: RuntimeConfig;
  /** The maintenance queue, where a tick's shard jobs are added. */
  queue: Pick<Queue, "addBulk">;
  ports: WorkerPorts;
  redis: Redis;
  history: RotationHistory;
  enqueue(request: RotationRequest): Promise<Enqueued>;
  /** Whether a rotation job of the credential holds its deduplication id now (Redis's word). */
  rotationInFlight(credentialId: string): Promise<boolean>;
  /** The credentials by id (a ById in the worker). */
  byId: Pick<ReadonlyMap<string, RuntimeCredential>, "get">;
}

export function maintenanceProcessor(ctx: MaintenanceContext): (job: Job) => Promise<unknown> {
  const { config, ports, redis, enqueue, byId, rotationInFlight } = ctx;
  const { store, log, metrics, clock } = ports;
  const settings = config.settings;
  const keyApi = config.credentials.filter((c) => c.module.flow === "key-api");
  // Sorted once: a shard is a contiguous run of it, and so one run of the listing's pages.
  const fleet = new SortedFleet(config.credentials);

  const finishedSeen = new Map<string, string>();
  // When each current key was made, kept between ticks: a version never changes once written.
  const currentVersions = new CurrentVersionCache(config.credentials.map((c) => c.secretId));
  const accountOf = accountsByManagement(keyApi, ports);
  const dueCheck = (credentials: RuntimeCredential[], fleetView?: () => Promise<FleetView | undefined>) =>
    runDueCheck({
      credentials,
      ...(fleetView ? { fleetView } : {}),
      store,
      schedule: (id, created, now) => scheduleOf(byId, id, created, now),
      enqueue,
      finishedSeen,
      currentVersions,
      log,
      metrics,
      now: () => clock.now(),
    });
  const healthCheck = async (
    credentials: RuntimeCredential[],
    shard?: ShardData,
    fleetView?: () => Promise<FleetView | undefined>,
  ) => {
    // One read of the open alerts per run, so a credential that is fine costs no Redis command.
    const open = await ports.alerter.openKeys?.();
    const alerter = open ? resolvingOnlyOpen(ports.alerter, open) : ports.alerter;
    const usage = new UsageWatcher(
      redis,
      settings.queuePrefix,
      alerter,
      (id) => byId.get(id)?.usage,
      metrics,
      // A key is probed once per verify cadence, not every health tick.
      settings.verifyEveryMs,
      (id) => byId.get(id)?.vendor ?? "unknown",
    );
    await usage.load(shard ? credentials.map((c) => c.id) : undefined);
    const summary = await runHealthCheck({
      credentials,
      ...(fleetView ? { fleetView } : {}),
      store,
      alerter,
      log,
      metrics,
      now: () => clock.now(),
      verifierFor: (c) => ports.verifierFor(byId.get(c.id) as RuntimeCredential),
      managementFor: (c) => {
        const credential = byId.get(c.id);
        return credential?.module.flow === "key-api" ? ports.vendorFor(credential) : undefined;
      },
      overdueAfterMs: Math.max(2 * settings.dueCheckEveryMs, 3_600_000),
      tickEveryMs: settings.healthCheckEveryMs,
      verifyEveryMs: settings.verifyEveryMs,
      currentVersions,
      onUsage: async (id, sample) => void (await usage.observe(id, sample, clock.now())),
      ...(ports.replicasFor
        ? {
            replicasFor: (c: { id: string }) =>
              (ports.replicasFor as NonNullable<WorkerPorts["replicasFor"]>)(byId.get(c.id) as RuntimeCredential),
          }
        : {}),
      ...(shard
        ? {
            accountOf: (c: { id: string }) => accountOf(byId.get(c.id) as RuntimeCredential),
            tickAt: tickTime(shard.at, clock.now(), settings.healthCheckEveryMs),
          }
        : {}),
    });
    await usage.save();
    return summary;
  };
  const orphanSweep = () =>
    runOrphanSweep({
      accounts: accountsOf(keyApi, ports),
      store,
      log,
      now: () => clock.now(),
      minAgeMs: settings.orphanMinAgeMs,
      rotationInFlight,
      alerter: ports.alerter,
    });

  const runTick = async (name: ShardedTick, credentials: RuntimeCredential[], shard?: ShardData) => {
    const part = shard ? ` (shard ${shard.shard + 1} of ${shard.shards})` : "";
    const where = shard ? { tick: shard.tick, shard: shard.shard, shards: shard.shards } : {};
    // A shard reads its own run of the listing's pages.
    const fleetView = shard
      ? () =>
          listShard(
            store,
            shard.list,
            shard.to,
            credentials.map((c) => c.secretId),
            log,
          )
      : undefined;
    if (name === "due-check") {
      const summary = await dueCheck(credentials, fleetView);
      log.info(
        { event: "due-check.done", ...where, ...summary },
        `due check${part}: ${summary.checked} checked, ${summary.started} started, ${summary.resumed} resumed, ${summary.held} held for a window, ${summary.errors} errors`,
      );
      return summary;
    }
    const summary = await healthCheck(credentials, shard, fleetView);
    log.info(
      { event: "health-check.done", ...where, checked: summary.checked, failing: summary.failing.length },
      `health check${part}: ${summary.checked} credentials, ${summary.failing.length} failing checks`,
    );
    return { checked: summary.checked, failing: summary.failing.length };
  };

  const split = tickSplitter({ queue: ctx.queue, store, log, clock, settings, fleet, credentials: config.credentials });

  const runShard = async (job: Job, name: ShardedTick) => {
    const parsed = parseShardData(job.data);
    if ("problem" in parsed) {
      log.warn(
        { event: "maintenance.shard-refused", job: job.name, jobId: job.id, problem: parsed.problem },
        `refused ${job.name} job ${job.id ?? "?"}: its data is not a shard (${parsed.problem}); the next tick covers its credentials`,
      );
      return { refused: parsed.problem };
    }
    return runTick(name, fleet.within(parsed.shard), parsed.shard);
  };

  return async (job) => {
    if (job.name === "due-check" || job.name === "health-check")
      return (await split(job, job.name)) ?? runTick(job.name, config.credentials);
    if (job.name === SHARD_JOB["due-check"]) return runShard(job, "due-check");
    if (job.name === SHARD_JOB["health-check"]) return runShard(job, "health-check");
    if (job.name === "orphan-sweep") {
      const summary = await orphanSweep();
      log.info(
        {
          event: "orphan-sweep.done",
          keysSeen: summary.keysSeen,
          revoked: summary.revoked.length,
          errors: summary.errors,
        },
        `orphan sweep: ${summary.keysSeen} keys seen, ${summary.revoked.length} orphans revoked`,
      );
      return summary;
    }
    throw new Error(`unknown maintenance job ${job.name}`);
  };
}

/** The tick's time as its shard says, unless it is further from now than one tick (forged): then now. */
function tickTime(at: number, now: number, everyMs: number): number {
  return Math.abs(now - at) <= everyMs ? at : now;
}

/**
 * Makes the schedulers the inventory's, queues a due check at once, and returns the watchdog that
 * puts them back if they vanish from Redis.
 */
export async function keepSchedules(
  maintenance: Queue,
  settings: RuntimeSettings,
  clock: Clock,
  log: Logger,
): Promise<NodeJS.Timeout> {
  const wanted = {
    "due-check": settings.dueCheckEveryMs,
    "orphan-sweep": settings.orphanSweepEveryMs,
    "health-check": settings.healthCheckEveryMs,
  };
  if ((await maintenance.getJobSchedulersCount()) === 0) await sweepSoon(maintenance, settings, clock);
  await syncSchedulers(maintenance, wanted, log);
  // Redis may be flushed, replaced or written to while we run: put the schedules back when they
  // vanish, or when their interval or next run is not ours (a few cheap commands a minute), so
  // the due check resumes what the store shows unfinished and no forged entry holds a tick off.
  const watchdog = setInterval(
    () => {
      maintenance
        .getJobSchedulers(0, -1)
        .then(async (schedulers) => {
          const off = schedulersOff(schedulers, wanted, clock.now());
          if (off.length === 0) return;
          const lost = schedulers.length === 0;
          log.warn(
            { event: "scheduler.restored", found: schedulers.length, off },
            `job schedulers ${lost ? "missing from Redis (flushed or replaced?)" : `not as configured (${off.join(", ")})`}: restoring them`,
          );
          await syncSchedulers(maintenance, wanted, log, clock.now());
          if (lost || off.length === Object.keys(wanted).length) await sweepSoon(maintenance, settings, clock);
        })
        .catch((err: unknown) =>
          log.warn(
            { event: "scheduler.check-failed", error: describeError(err) },
            "could not check the job schedulers",
          ),
        );
    },
    Math.min(60_000, settings.dueCheckEveryMs),
  );
  watchdog.unref();
  // A due check at once (resuming whatever the store shows unfinished), as a job with an id per
  // minute, so replicas starting together run it once while it is in flight.
  await maintenance.add(
    "due-check",
    {},
    { jobId: `due-check-start-${Math.floor(clock.now() / 60_000)}`, removeOnComplete: true, removeOnFail: true },
  );
  return watchdog;
}

/**
 * Redis was lost (or is new): a create cut short with its job may have left a key the store never
 * got. Sweep now, and again once such a key is past the minimum age, instead of hours from now.
 */
async function sweepSoon(maintenance: Queue, settings: RuntimeSettings, clock: Clock): Promise<void> {
  const minute = Math.floor(clock.now() / 60_000);
  const opts = { removeOnComplete: true, removeOnFail: true };
  await maintenance.add("orphan-sweep", {}, { ...opts, jobId: `orphan-sweep-restored-${minute}` });
  await maintenance.add(
    "orphan-sweep",
    {},
    { ...opts, jobId: `orphan-sweep-restored-late-${minute}`, delay: settings.orphanMinAgeMs + 1_000 },
  );
}

function scheduleOf(byId: Pick<ReadonlyMap<string, RuntimeCredential>, "get">, id: string, created: Date, now: number) {
  const credential = byId.get(id);
  if (!credential) return { due: false, dueAt: Number.POSITIVE_INFINITY };
  return credential.schedule(created, now);
}

/** One sweep per vendor account (the vendor module's `accountOf`): its credentials share one key list. */
function accountsOf(credentials: RuntimeCredential[], ports: WorkerPorts): SweepAccount[] {
  const groups = new Map<string, RuntimeCredential[]>();
  for (const c of credentials) {
    if (c.module.flow !== "key-api") continue;
    const key = `${c.vendor}|${c.module.accountOf(vendorCredential(c))}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  return [...groups.values()].flatMap((group) => {
    const first = group[0] as RuntimeCredential;
    return first.module.flow === "key-api"
      ? [
          {
            vendor: ports.vendorFor(first),
            value: first.module.value,
            credentials: group,
            vendorId: first.vendor,
            baseUrl: first.baseUrl,
          },
        ]
      : [];
  });
}

/**
 * Each key-API credential's whole vendor account (by its management adapter, as the health check
 * groups them) and the account's first credential by id, worked out once a process when a shard
 * first asks: a shard holds part of an account, and its alert is the whole account's.
 */
function accountsByManagement(
  keyApi: RuntimeCredential[],
  ports: WorkerPorts,
): (c: RuntimeCredential) => { first: string; credentials: readonly RuntimeCredential[] } {
  let byAccount: Map<unknown, { first: string; credentials: RuntimeCredential[] }> | undefined;
  const none = { first: "", credentials: [] };
  return (c) => {
    if (!byAccount) {
      byAccount = new Map();
      for (const k of keyApi) {
        const management = ports.vendorFor(k);
        const account = byAccount.get(management);
        if (!account) byAccount.set(management, { first: k.id, credentials: [k] });
        else {
          account.credentials.push(k);
          if (k.id < account.first) account.first = k.id;
        }
      }
    }
    return byAccount.get(ports.vendorFor(c)) ?? none;
  };
}

/**
 * Makes the queue's job schedulers exactly the wanted set (by id and interval). A new scheduler's
 * first tick is one interval away: BullMQ would otherwise fire it at once, on top of the startup
 * due check. One that already exists with the same interval is left alone, so a restarting replica
 * does not push every tick back.
 */
export async function syncSchedulers(
  queue: Queue,
  wanted: Record<string, number>,
  log: Logger,
  now = Date.now(),
): Promise<void> {
  const schedulers = await queue.getJobSchedulers(0, -1);
  for (const sch of schedulers) {
    const id = sch.id ?? sch.key;
    if (!(id in wanted)) {
      await queue.removeJobScheduler(id);
      log.info({ event: "scheduler.removed", scheduler: id }, `removed job scheduler ${id}`);
    }
  }
  const off = new Set(schedulersOff(schedulers, wanted, now));
  const present = new Set(schedulers.map((sch) => sch.id ?? sch.key));
  for (const [id, every] of Object.entries(wanted)) {
    if (!off.has(id)) continue;
    // An upsert keeps an entry's next run; one that is off is made anew.
    if (present.has(id)) await queue.removeJobScheduler(id);
    await queue.upsertJobScheduler(
      id,
      { every, startDate: now + every },
      { name: id, data: {}, opts: { removeOnComplete: 20, removeOnFail: 20 } },
    );
  }
}

/** A next run this much past its interval is not one we set: a forged or corrupt entry. */
const NEXT_RUN_SLACK_MS = 60_000;

/** The wanted schedulers that are missing, have another interval, or whose next run lies further off than one interval. */
export function schedulersOff(
  schedulers: Array<{ id?: string | null; key: string; every?: number | null; next?: number | null }>,
  wanted: Record<string, number>,
  now: number,
): string[] {
  const byId = new Map(schedulers.map((sch) => [sch.id ?? sch.key, sch]));
  return Object.entries(wanted)
    .filter(([id, every]) => {
      const sch = byId.get(id);
      return !sch || sch.every !== every || (sch.next ?? 0) > now + every + NEXT_RUN_SLACK_MS;
    })
    .map(([id]) => id);
}
