/**
 * One worker at growing sizes (1k, 10k, 50k, 100k credentials): start-up (process start to
 * `worker.ready`, and to the end of its first due check), peak resident memory (VmHWM: the
 * highest it has been, the inventory load included), resident memory once the due check is done,
 * and the size of `/metrics`. At the largest size an orphan sweep is run and timed.
 * Bytes and counts are exact; seconds are wall time on a shared machine (noisy).
 */
import { readFileSync } from "node:fs";
import { Queue } from "bullmq";
import { connectRedis } from "../src/queue/redis.js";
import { MAINTENANCE_QUEUE } from "../src/worker/maintenance.js";
import { benchWorld, round } from "./bench-world.js";

export interface ScalePoint {
  credentials: number;
  startup_s: number;
  due_tick_s: number;
  peak_rss_mib: number;
  rss_after_due_mib: number;
  metrics_bytes: number;
  metrics_series: number;
  sweep_s?: number;
  /** Why this size has no figures (a worker that did not start in time, say). */
  failed?: string;
}

export async function scaleBench(sizes: number[], progress: (s: string) => void): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const [i, credentials] of sizes.entries()) {
    progress(`scale: one worker with ${credentials} credentials`);
    const world = await benchWorld({ credentials, inventory: { dueCheckEvery: "1h" } });
    const started = performance.now();
    try {
      const t0 = performance.now();
      const { process: worker, httpUrl } = await world.startWorker({ LOG_LEVEL: "info" });
      const ready = performance.now();
      await worker.waitForLine(/"due-check.done"/, 1_800_000);
      const due = performance.now();
      const pid = worker.child.pid ?? 0;
      const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
      const point: ScalePoint = {
        credentials,
        startup_s: round((ready - t0) / 1000, 1),
        due_tick_s: round((due - ready) / 1000, 1),
        peak_rss_mib: round(statusKib(pid, "VmHWM") / 1024, 1),
        rss_after_due_mib: round(statusKib(pid, "VmRSS") / 1024, 1),
        metrics_bytes: Buffer.byteLength(metrics),
        metrics_series: metrics.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length,
      };
      if (i === sizes.length - 1) point.sweep_s = await sweepSeconds(world, worker);
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

async function sweepSeconds(
  world: Awaited<ReturnType<typeof benchWorld>>,
  worker: { lines: string[] },
): Promise<number> {
  const redis = connectRedis(world.redis);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix: world.prefix });
  try {
    const before = worker.lines.filter((l) => l.includes('"orphan-sweep.done"')).length;
    const t0 = performance.now();
    await queue.add("orphan-sweep", {}, { removeOnComplete: true, removeOnFail: true });
    const end = Date.now() + 900_000;
    while (worker.lines.filter((l) => l.includes('"orphan-sweep.done"')).length === before) {
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
