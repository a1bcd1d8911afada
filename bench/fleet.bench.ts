/**
 * Fleet throughput: N CallCov credentials all due at once, with the emulator's write quota set
 * like AWS's but scaled (`writeTps` instead of 50/s, so the run takes about a minute) and the
 * simulator's management rate limit. The bound is the calls the rotations must make divided by
 * the allowed rate: two store writes per rotation (put pending, move current) at `writeTps`, or
 * two management calls (create, revoke) at the account's budget, whichever takes longer. A
 * rotation counts when Redis records it completed (after confirm), as the product does.
 */
import { connectRedis } from "../src/queue/redis.js";
import { benchWorld, cpuTicks, redisCpuSeconds, round, until } from "./bench-world.js";

export interface FleetFigures {
  credentials: number;
  seconds: number;
  bound_seconds: number;
  ratio: number;
  throttled_pct: number;
  store_calls_per_rotation: number;
  store_calls_per_rotation_with_due_check: number;
  write_tps: number;
  rotations_per_second: number;
  workers: number;
  /** CPU milliseconds per rotation: the worker processes, this process (the sandbox), Redis. */
  cpu_ms_per_rotation: { workers: number; sandbox: number; redis: number };
}

export const WRITES_PER_ROTATION = 2;

/**
 * The account's management budget for a write quota: two calls a rotation (create, revoke) like the
 * two writes, so at writeTps a minute's worth it binds exactly when the write quota does.
 */
export const managementPerMinuteFor = (writeTps: number) => writeTps * 60;

/** The shortest time `rotations` can take: their store writes at `writeTps`, or their management calls at the account's budget. */
export function quotaBoundSeconds(rotations: number, writeTps: number, managementPerMinute: number): number {
  const managementBound = (2 * rotations) / (managementPerMinute / 60);
  return Math.max((WRITES_PER_ROTATION * rotations) / writeTps, managementBound);
}

/** The write quota that makes the bound for `credentials` rotations `seconds` long. */
export function writeTpsFor(credentials: number, seconds: number): number {
  return Math.max(1, Math.round((WRITES_PER_ROTATION * credentials) / seconds));
}

export async function fleetBench(
  credentials: number,
  writeTps: number,
  progress: (s: string) => void,
): Promise<FleetFigures> {
  const managementPerMinute = managementPerMinuteFor(writeTps);
  const world = await benchWorld({
    credentials,
    due: true,
    writeTps,
    managementPerMinute,
    inventory: { concurrency: 32, storeWriteQuota: writeTps, dueCheckEvery: "1h" },
  });
  const redis = connectRedis(world.redis);
  try {
    const workers = 2;
    // Measured from the moment the first worker is ready: starting node is not rotation work.
    const started = Array.from({ length: workers }, () => world.startWorker());
    await Promise.race(started);
    const t0 = performance.now();
    const pids = (await Promise.all(started)).map((w) => w.process.child.pid ?? 0);
    const cpu0 = { workers: pids.map(cpuTicks), sandbox: process.cpuUsage(), redis: await redisCpuSeconds(redis) };
    const emulator = world.sandbox.emulator;
    const sim = world.sandbox.callcov.state;
    let completed = 0;
    let shown = 0;
    const poll = setInterval(() => {
      redis.hlen(`${world.prefix}:completed`).then(
        (n) => {
          completed = n;
          if (n - shown >= credentials / 10) {
            shown = n;
            progress(`fleet: ${n}/${credentials} rotated after ${round((performance.now() - t0) / 1000, 1)} s`);
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
    const stats = emulator.stats();
    const storeCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
    const vendorRequests =
      Object.values(sim.counters.requestsByKey).reduce((a, c) => a + c.accepted + c.refused, 0) +
      2 * credentials +
      sim.counters.logins;
    const bound = quotaBoundSeconds(credentials, writeTps, managementPerMinute);
    return {
      credentials,
      seconds: round(seconds, 1),
      bound_seconds: round(bound, 1),
      ratio: round(seconds / bound),
      throttled_pct: round((100 * (stats.throttled + sim.counters.rateLimited)) / (storeCalls + vendorRequests), 3),
      // The due check's listing (one a credential) is not part of a rotation.
      store_calls_per_rotation: round((storeCalls - credentials) / credentials),
      store_calls_per_rotation_with_due_check: round(storeCalls / credentials),
      write_tps: writeTps,
      rotations_per_second: round(credentials / seconds, 1),
      workers,
      cpu_ms_per_rotation: {
        workers: round((workerTicks * 10) / credentials),
        sandbox: round((sandboxCpu.user + sandboxCpu.system) / 1000 / credentials),
        redis: round((redisCpu * 1000) / credentials),
      },
    };
  } finally {
    redis.disconnect();
    await world.close();
  }
}
