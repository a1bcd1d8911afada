/**
 * The fleet over several regions: the fleet bench's credentials (same count, same per-region write
 * quota) spread evenly over 3 regions, credential i in region i % 3, each region with its own write
 * quota in the emulator (served by the request's SigV4 scope) and its own slot budget in the worker
 * (src/queue/write-budget.ts). Each region has a third of the writes to make at the one-region
 * rate, so the bound is the one-region bound / 3; the target is a time at most 1.10 x that bound,
 * against the one-region figure measured in the same `npm run bench`. The CallCov account's
 * management budget is scaled by the regions too (it would otherwise bind at the one-region bound):
 * the store's quota is what this section measures. Per region: its rotations and when its last
 * store write landed, so a region that lags (a limiter still global, a late due check) shows.
 */
import { availableParallelism } from "node:os";
import { connectRedis } from "../src/queue/redis.js";
import { benchWorld, cpuTicks, redisCpuSeconds, round, until } from "./bench-world.js";
import type { FleetFigures } from "./fleet.bench.js";

export const FLEET_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"];
export const REGIONS_TARGET = 1.1;

export interface RegionsFigures {
  credentials: number;
  regions: string[];
  write_tps_per_region: number;
  /** The fleet bench's one-region figure, from the same run. */
  one_region: { seconds: number; bound_seconds: number };
  /** Every credential rotated, measured as the fleet bench measures (first worker ready to last completed). */
  seconds: number;
  /** The one-region bound / the number of regions. */
  bound_seconds: number;
  /** seconds / bound_seconds: the target is at most 1.10. */
  ratio: number;
  target: number;
  met: boolean;
  /** The speed-up over the one-region run (ideal: the number of regions). */
  speedup: number;
  rotations_per_second: number;
  throttled_pct: number;
  /** Per region: rotations, and when (seconds after the start) its first and last store writes landed. */
  per_region: Record<string, { rotations: number; first_write_s: number; last_write_s: number }>;
  workers: number;
  /** CPU milliseconds per rotation: the worker processes, this process (the sandbox), Redis. */
  cpu_ms_per_rotation: { workers: number; sandbox: number; redis: number };
  /** CPU cores in use on average over the run (workers + sandbox + Redis). */
  cpu_cores_used: number;
  /** The cores the run needs to finish at its bound, at this CPU per rotation; the machine has `cpu_cores`. */
  cpu_cores_at_bound: number;
  cpu_cores: number;
}

export async function regionsBench(
  oneRegion: Pick<FleetFigures, "credentials" | "write_tps" | "seconds" | "bound_seconds">,
  progress: (s: string) => void,
  regions = FLEET_REGIONS,
): Promise<RegionsFigures> {
  const credentials = oneRegion.credentials;
  const writeTps = oneRegion.write_tps;
  const world = await benchWorld({
    credentials,
    due: true,
    writeTps,
    managementPerMinute: writeTps * 60 * regions.length,
    regions,
    inventory: { concurrency: 32, storeWriteQuota: writeTps, dueCheckEvery: "1h" },
  });
  const redis = connectRedis(world.redis);
  try {
    const workers = 2;
    const started = Array.from({ length: workers }, () => world.startWorker());
    await Promise.race(started);
    const t0 = performance.now();
    const epoch0 = Date.now();
    const pids = (await Promise.all(started)).map((w) => w.process.child.pid ?? 0);
    const cpu0 = { workers: pids.map(cpuTicks), sandbox: process.cpuUsage(), redis: await redisCpuSeconds(redis) };
    const sim = world.sandbox.callcov.state;
    let completed = 0;
    let shown = 0;
    const poll = setInterval(() => {
      redis.hlen(`${world.prefix}:completed`).then(
        (n) => {
          completed = n;
          if (n - shown >= credentials / 10) {
            shown = n;
            progress(
              `fleet over ${regions.length} regions: ${n}/${credentials} rotated after ${round((performance.now() - t0) / 1000, 1)} s`,
            );
          }
        },
        () => undefined,
      );
    }, 50);
    await until(() => completed >= credentials, 30 * 60_000, "every credential rotated", 10);
    clearInterval(poll);
    const seconds = (performance.now() - t0) / 1000;
    const workerTicks = pids.reduce((sum, pid, i) => sum + cpuTicks(pid) - (cpu0.workers[i] ?? 0), 0);
    const sandboxCpu = process.cpuUsage(cpu0.sandbox);
    const redisCpu = (await redisCpuSeconds(redis)) - cpu0.redis;
    const stats = world.sandbox.emulator.stats();
    const storeCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
    const vendorRequests =
      Object.values(sim.counters.requestsByKey).reduce((a, c) => a + c.accepted + c.refused, 0) +
      2 * credentials +
      sim.counters.logins;
    const perRegion: RegionsFigures["per_region"] = {};
    for (const region of regions) {
      // Its store writes since the start (a PutSecretValue records its version and its stage).
      const writes = world.sandbox.emulator
        .stateOf(region)
        .history()
        .filter((e) => e.op !== "CreateSecret" && e.at >= epoch0);
      const at = writes.map((e) => (e.at - epoch0) / 1000);
      perRegion[region] = {
        rotations: new Set(writes.flatMap((e) => (e.op === "PutSecretValue" && e.versionId ? [e.versionId] : []))).size,
        first_write_s: round(Math.min(...at), 1),
        last_write_s: round(Math.max(...at), 1),
      };
    }
    const bound = oneRegion.bound_seconds / regions.length;
    const cpuSeconds = workerTicks / 100 + (sandboxCpu.user + sandboxCpu.system) / 1e6 + redisCpu;
    return {
      credentials,
      regions,
      write_tps_per_region: writeTps,
      one_region: { seconds: oneRegion.seconds, bound_seconds: oneRegion.bound_seconds },
      seconds: round(seconds, 1),
      bound_seconds: round(bound, 1),
      ratio: round(seconds / bound),
      target: REGIONS_TARGET,
      met: seconds / bound <= REGIONS_TARGET,
      speedup: round(oneRegion.seconds / seconds),
      rotations_per_second: round(credentials / seconds, 1),
      throttled_pct: round((100 * (stats.throttled + sim.counters.rateLimited)) / (storeCalls + vendorRequests), 3),
      per_region: perRegion,
      workers,
      cpu_ms_per_rotation: {
        workers: round((workerTicks * 10) / credentials),
        sandbox: round((sandboxCpu.user + sandboxCpu.system) / 1000 / credentials),
        redis: round((redisCpu * 1000) / credentials),
      },
      cpu_cores_used: round(cpuSeconds / seconds),
      cpu_cores_at_bound: round(cpuSeconds / bound),
      cpu_cores: availableParallelism(),
    };
  } finally {
    redis.disconnect();
    await world.close();
  }
}
