/**
 * Idle footprint: one worker process with N credentials scheduled and none due, measured over a
 * window after its startup due check: resident memory (the median of a reading a second, and the
 * highest), CPU share of one core, and Redis commands
 * per minute: the worker's own, counted on its connections (redis-client-count.ts), so other
 * clients of a shared Redis do not count; the whole server's (INFO) is kept beside it.
 * The window holds no health tick (every 15 minutes), so one is then run on its own and its Redis
 * commands counted: what a tick adds to the average minute is shown beside the window's figure.
 */
import { readFileSync } from "node:fs";
import { Queue } from "bullmq";
import { connectRedis, primaries } from "../src/queue/redis.js";
import { MAINTENANCE_QUEUE } from "../src/worker/maintenance.js";
import { benchWorld, cpuTicks, round } from "./bench-world.js";
import { countCommandsOf } from "./redis-client-count.js";
import { median } from "./samples.js";

export interface IdleFigures {
  credentials: number;
  /** The median of the window's readings, one a second (a reading taken just before a collection is the window's top). */
  rss_mib: number;
  /** The window's highest reading. */
  rss_max_mib: number;
  /** The anonymous part of RSS (RssAnon): heap and buffers, not the file-backed pages of the node binary. */
  rss_anon_mib: number;
  cpu_pct: number;
  /** The worker's own commands (its connections only). */
  redis_cmds_per_min: number;
  /** The whole server's (INFO), which counts every other client too. */
  redis_server_cmds_per_min: number;
  redis_cmds_by_command: Record<string, number>;
  window_seconds: number;
  /** Redis commands of one health-check tick over every credential (run after the window). */
  health_tick_redis_cmds: number;
  /** The average minute over the 15-minute health cadence: the window's rate plus a tick's share. */
  redis_cmds_per_min_with_health_ticks: number;
}

export async function idleBench(
  credentials: number,
  windowSeconds: number,
  progress: (s: string) => void,
): Promise<IdleFigures> {
  const world = await benchWorld({ credentials, inventory: { dueCheckEvery: "1h" } });
  const redis = connectRedis(world.redis);
  try {
    const { process: worker } = await world.startWorker({ LOG_LEVEL: "info" });
    await worker.waitForLine(/"due-check.done"/, 120_000);
    // Let the startup due check's garbage be collected before measuring the steady state.
    await new Promise((r) => setTimeout(r, 15_000));
    const pid = worker.child.pid ?? 0;
    const cpu0 = cpuTicks(pid);
    const cmds0 = await totalCommands(redis);
    const own = await countCommandsOf(redis, pid);
    const t0 = performance.now();
    progress(`idle: measuring one worker with ${credentials} credentials for ${windowSeconds} s`);
    const readings: Array<{ rss: number; anon: number }> = [];
    while (performance.now() - t0 < windowSeconds * 1000) {
      await new Promise((r) => setTimeout(r, 1_000));
      readings.push({ rss: rssKib(pid), anon: rssKib(pid, "RssAnon") });
    }
    const counted = await own.stop();
    const cmds1 = await totalCommands(redis);
    const cpu1 = cpuTicks(pid);
    const elapsed = (performance.now() - t0) / 1000;
    const ticksPerSecond = 100;
    const rss = median(readings.map((r) => r.rss));
    const rssAnon = median(readings.map((r) => r.anon));
    const tick = await healthTickCommands(redis, world.prefix, worker, progress);
    const perMinute = (counted.commands / elapsed) * 60;
    return {
      credentials,
      rss_mib: round(rss / 1024, 1),
      rss_max_mib: round(Math.max(...readings.map((r) => r.rss)) / 1024, 1),
      rss_anon_mib: round(rssAnon / 1024, 1),
      cpu_pct: round((100 * (cpu1 - cpu0)) / ticksPerSecond / elapsed, 2),
      redis_cmds_per_min: round(perMinute, 1),
      redis_server_cmds_per_min: round(((cmds1 - cmds0 - 2) / elapsed) * 60, 1),
      redis_cmds_by_command: counted.byCommand,
      window_seconds: round(elapsed, 1),
      health_tick_redis_cmds: tick,
      redis_cmds_per_min_with_health_ticks: round(perMinute + tick / 15, 1),
    };
  } finally {
    redis.disconnect();
    await world.close();
  }
}

/** Runs one health-check tick now (as its scheduler would) and counts the Redis commands it made. */
async function healthTickCommands(
  redis: ReturnType<typeof connectRedis>,
  prefix: string,
  worker: { waitForLine(m: RegExp, t?: number): Promise<string>; lines: string[]; child: { pid?: number } },
  progress: (s: string) => void,
): Promise<number> {
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix });
  try {
    const before = worker.lines.filter((l) => l.includes('"health-check.done"')).length;
    const own = await countCommandsOf(redis, worker.child.pid ?? 0);
    await queue.add("health-check", {}, { removeOnComplete: true });
    progress("idle: one health-check tick over every credential");
    const end = Date.now() + 300_000;
    while (worker.lines.filter((l) => l.includes('"health-check.done"')).length === before) {
      if (Date.now() > end) throw new Error("the health-check tick did not finish within 5 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
    return (await own.stop()).commands;
  } finally {
    await queue.close();
  }
}

function rssKib(pid: number, field = "VmRSS"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, "") ?? 0);
}

/** Commands Redis has processed so far; on a cluster, its masters' together. */
async function totalCommands(redis: ReturnType<typeof connectRedis>): Promise<number> {
  let total = 0;
  for (const node of primaries(redis)) {
    const info = await node.info("stats");
    total += Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
  }
  return total;
}
