/**
 * Idle footprint: one worker process with N credentials scheduled and none due, measured over a
 * window after its startup due check: resident memory, CPU share of one core, and Redis commands
 * per minute (from the private Redis's INFO, less the benchmark's own two INFO calls).
 */
import { readFileSync } from "node:fs";
import { connectRedis } from "../src/runtime/redis.js";
import { benchWorld, cpuTicks, round } from "./bench-world.js";

export interface IdleFigures {
  credentials: number;
  rss_mib: number;
  /** The anonymous part of RSS (RssAnon): heap and buffers, not the file-backed pages of the node binary. */
  rss_anon_mib: number;
  cpu_pct: number;
  redis_cmds_per_min: number;
  window_seconds: number;
}

export async function idleBench(credentials: number, windowSeconds: number, progress: (s: string) => void): Promise<IdleFigures> {
  const world = await benchWorld({ credentials, inventory: { dueCheckEvery: "1h" } });
  const redis = connectRedis(world.redisUrl);
  try {
    const { process: worker } = await world.startWorker({ LOG_LEVEL: "info" });
    await worker.waitForLine(/"due-check.done"/, 120_000);
    // Let the startup due check's garbage be collected before measuring the steady state.
    await new Promise((r) => setTimeout(r, 15_000));
    const pid = worker.child.pid ?? 0;
    const cpu0 = cpuTicks(pid);
    const cmds0 = await totalCommands(redis);
    const t0 = performance.now();
    progress(`idle: measuring one worker with ${credentials} credentials for ${windowSeconds} s`);
    await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    const cmds1 = await totalCommands(redis);
    const cpu1 = cpuTicks(pid);
    const elapsed = (performance.now() - t0) / 1000;
    const ticksPerSecond = 100;
    return {
      credentials,
      rss_mib: round(rssKib(pid) / 1024, 1),
      rss_anon_mib: round(rssKib(pid, "RssAnon") / 1024, 1),
      cpu_pct: round((100 * (cpu1 - cpu0)) / ticksPerSecond / elapsed, 2),
      redis_cmds_per_min: round(((cmds1 - cmds0 - 2) / elapsed) * 60, 1),
      window_seconds: round(elapsed, 1),
    };
  } finally {
    redis.disconnect();
    await world.close();
  }
}

function rssKib(pid: number, field = "VmRSS"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, "") ?? 0);
}

async function totalCommands(redis: ReturnType<typeof connectRedis>): Promise<number> {
  const info = await redis.info("stats");
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}
