/**
 * Workers at growing sizes (1k, 10k, 50k, 100k credentials): one worker at each size but the
 * largest, three replicas started together at the largest (the chart's replica count, issue 21's
 * `scale` key). Per size: start-up (process start to `worker.ready`, and to the end of the first
 * due check: its one job, or every shard job of it, whichever replicas ran them), peak resident
 * memory (VmHWM: the highest it has been, the inventory load and the due check included),
 * resident memory at once after the due check and idle (15 s after the last maintenance job, when
 * the start-up's garbage is collected), and the size of `/metrics`. With replicas, each memory
 * figure is the largest replica's, and each replica's count of due and health shards is kept. At
 * the largest size a health tick and an orphan sweep are run and timed.
 * Bytes and counts are exact; seconds are wall time on a shared machine (noisy).
 */
import { readFileSync } from "node:fs";
import { Queue } from "bullmq";
import { connectRedis } from "../src/queue/redis.js";
import { MAINTENANCE_QUEUE } from "../src/worker/maintenance.js";
import { benchWorld, maintenanceQuiet, round } from "./bench-world.js";

export interface ScalePoint {
  credentials: number;
  startup_s: number;
  due_tick_s: number;
  peak_rss_mib: number;
  rss_after_due_mib: number;
  /** Resident memory 15 s after the maintenance queue is quiet (the steady state). */
  idle_rss_mib: number;
  /** From the end of the due tick to no maintenance job waiting or running (other start-up work). */
  quiet_after_due_s: number;
  /** Due checks split into shards by the replicas' start (one, unless their starts straddled a minute). */
  start_due_checks: number;
  replicas: number;
  /** Each replica's peak and idle resident memory (MiB), and the due and health shard jobs it ran, when more than one ran. */
  per_replica?: Array<{
    peak_rss_mib: number;
    idle_rss_mib: number;
    ran_due_check: boolean;
    due_shards: number;
    health_shards?: number;
  }>;
  /** A health tick (all its shards) from its job's add to its last shard's end. */
  health_tick_s?: number;
  metrics_bytes: number;
  metrics_series: number;
  sweep_s?: number;
  /** Why this size has no figures (a worker that did not start in time, say). */
  failed?: string;
}

export async function scaleBench(sizes: number[], progress: (s: string) => void): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const [i, credentials] of sizes.entries()) {
    const last = i === sizes.length - 1;
    const replicas = last && credentials >= 100_000 ? 3 : 1;
    progress(`scale: ${replicas === 1 ? "one worker" : `${replicas} replicas`} with ${credentials} credentials`);
    const world = await benchWorld({ credentials, inventory: { dueCheckEvery: "1h" } });
    const started = performance.now();
    try {
      const t0 = performance.now();
      const workers = await Promise.all(
        Array.from({ length: replicas }, () => world.startWorker({ LOG_LEVEL: "info" })),
      );
      const ready = performance.now();
      const dueShards = await tickDone(
        workers.map((w) => w.process),
        "due-check",
        workers.map(() => 0),
        1_800_000,
      );
      const due = performance.now();
      const pids = workers.map((w) => w.process.child.pid ?? 0);
      const afterDue = pids.map((pid) => statusKib(pid, "VmRSS") / 1024);
      // Idle means no maintenance job left: replicas whose starts straddle a minute each add a
      // start-up due check, and a new Redis adds an orphan sweep. One run read 142 MiB a replica
      // 15 s after a due tick that took 89 s (51 s in other runs), where the build reads 100 idle.
      const quiet = await worldQuiet(world, 900_000);
      await new Promise((r) => setTimeout(r, 15_000));
      const each: NonNullable<ScalePoint["per_replica"]> = pids.map((pid, k) => ({
        peak_rss_mib: round(statusKib(pid, "VmHWM") / 1024, 1),
        idle_rss_mib: round(statusKib(pid, "VmRSS") / 1024, 1),
        ran_due_check: (dueShards[k] ?? 0) > 0,
        due_shards: dueShards[k] ?? 0,
      }));
      const ran = Math.max(
        0,
        dueShards.findIndex((n) => n > 0),
      );
      const metrics = await (await fetch(`${(workers[ran] ?? workers[0])?.httpUrl}/metrics`)).text();
      const point: ScalePoint = {
        credentials,
        replicas,
        startup_s: round((ready - t0) / 1000, 1),
        due_tick_s: round((due - ready) / 1000, 1),
        peak_rss_mib: Math.max(...each.map((e) => e.peak_rss_mib)),
        rss_after_due_mib: round(Math.max(...afterDue), 1),
        quiet_after_due_s: round((quiet - due) / 1000, 1),
        start_due_checks: workers.reduce(
          (n, w) => n + w.process.lines.filter((l) => l.includes('"due-check.split"')).length,
          0,
        ),
        idle_rss_mib: Math.max(...each.map((e) => e.idle_rss_mib)),
        metrics_bytes: Buffer.byteLength(metrics),
        metrics_series: metrics.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length,
        ...(replicas > 1 ? { per_replica: each } : {}),
      };
      if (last) {
        const health = await healthTick(
          world,
          workers.map((w) => w.process),
        );
        point.health_tick_s = health.seconds;
        each.forEach((e, k) => (e.health_shards = health.shards[k] ?? 0));
      }
      if (last)
        point.sweep_s = await sweepSeconds(
          world,
          workers.map((w) => w.process),
        );
      points.push(point);
    } catch (err) {
      const message = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
      points.push({
        credentials,
        failed: `${message} (after ${round((performance.now() - started) / 1000, 1)} s)`,
      } as ScalePoint);
    } finally {
      await world.close();
    }
  }
  return points;
}

/**
 * Waits for a due or health tick to end, reading the replicas' log lines from `from` on: its one
 * job's line, or (a tick cut into shards) every shard's of the tick its split line names. Returns
 * how many of the tick's jobs each replica ran.
 */
async function tickDone(
  workers: Array<{ lines: string[] }>,
  event: "due-check" | "health-check",
  from: number[],
  timeoutMs: number,
): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  const linesOf = (k: number) => (workers[k]?.lines ?? []).slice(from[k] ?? 0);
  for (;;) {
    const all = workers.flatMap((_, k) => linesOf(k));
    const split = all.find((l) => l.includes(`"${event}.split"`));
    if (split) {
      const { tick, shards } = JSON.parse(split) as { tick: string; shards: number };
      const mark = `"tick":${JSON.stringify(tick)}`;
      const counts = workers.map(
        (_, k) => linesOf(k).filter((l) => l.includes(`"${event}.done"`) && l.includes(mark)).length,
      );
      if (counts.reduce((a, b) => a + b, 0) >= shards) return counts;
    } else {
      const whole = workers.map((_, k) =>
        linesOf(k).some((l) => l.includes(`"${event}.done"`) && !l.includes('"tick"')),
      );
      if (whole.some(Boolean)) return whole.map((w) => (w ? 1 : 0));
    }
    if (Date.now() > end) throw new Error(`no end of the ${event} tick within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `maintenanceQuiet` on this world's maintenance queue. */
async function worldQuiet(world: Awaited<ReturnType<typeof benchWorld>>, timeoutMs: number): Promise<number> {
  const redis = connectRedis(world.redis);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix: world.prefix });
  try {
    return await maintenanceQuiet(queue, timeoutMs);
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** A health tick added by hand, timed from its add to the end of its last shard. */
async function healthTick(
  world: Awaited<ReturnType<typeof benchWorld>>,
  workers: Array<{ lines: string[] }>,
): Promise<{ seconds: number; shards: number[] }> {
  const redis = connectRedis(world.redis);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix: world.prefix });
  try {
    const from = workers.map((w) => w.lines.length);
    const t0 = performance.now();
    await queue.add("health-check", {}, { jobId: `bench-health-${Date.now()}`, removeOnComplete: true });
    const shards = await tickDone(workers, "health-check", from, 900_000);
    return { seconds: round((performance.now() - t0) / 1000, 1), shards };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

async function sweepSeconds(
  world: Awaited<ReturnType<typeof benchWorld>>,
  workers: Array<{ lines: string[] }>,
): Promise<number> {
  const sweeps = () => workers.reduce((n, w) => n + w.lines.filter((l) => l.includes('"orphan-sweep.done"')).length, 0);
  const redis = connectRedis(world.redis);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix: world.prefix });
  try {
    const before = sweeps();
    const t0 = performance.now();
    await queue.add("orphan-sweep", {}, { removeOnComplete: true, removeOnFail: true });
    const end = Date.now() + 900_000;
    while (sweeps() === before) {
      if (Date.now() > end) return Number.NaN;
      await new Promise((r) => setTimeout(r, 200));
    }
    return round((performance.now() - t0) / 1000, 1);
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

function statusKib(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, "") ?? 0);
}
