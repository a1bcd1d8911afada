/**
 * Fleet throughput: N CallCov credentials all due at once, with the emulator's write quota set
 * like AWS's (scaled: `writeTps` instead of 50/s) and the simulator's management rate limit.
 * The bound is the calls the rotations must make divided by the allowed rate: two store writes
 * per rotation (put pending, move current: DESIGN.md's floor) at `writeTps`, or two management
 * calls (create, revoke) at the account's budget, whichever takes longer. This implementation
 * makes a third write (it unstages AWSPENDING at the end); `bound_seconds_at_3_writes` is the
 * bound it could reach as it stands.
 */
import { benchWorld, round, until } from "./bench-world.js";

export interface FleetFigures {
  credentials: number;
  seconds: number;
  bound_seconds: number;
  ratio: number;
  throttled_pct: number;
  store_calls_per_rotation: number;
  store_calls_per_rotation_with_due_check: number;
  bound_seconds_at_3_writes: number;
  workers: number;
}

export async function fleetBench(credentials: number, writeTps: number, progress: (s: string) => void): Promise<FleetFigures> {
  // The account's management budget: two calls a rotation (create, revoke) like the two writes, so
  // at writeTps a minute's worth it binds exactly when the write quota does.
  const managementPerMinute = writeTps * 60;
  const world = await benchWorld({ credentials, due: true, writeTps, managementPerMinute, inventory: { concurrency: 32, storeWriteQuota: writeTps, dueCheckEvery: "1h" } });
  try {
    const workers = 2;
    // Measured from the moment the first worker is ready: starting node is not rotation work.
    const started = Array.from({ length: workers }, () => world.startWorker());
    await Promise.race(started);
    const t0 = performance.now();
    await Promise.all(started);
    const emulator = world.sandbox.emulator;
    const sim = world.sandbox.callcov.state;
    let last = 0;
    await until(() => {
      const done = sim.counters.revoked;
      if (done - last >= credentials / 10) {
        last = done;
        progress(`fleet: ${done}/${credentials} rotated after ${round((performance.now() - t0) / 1000, 1)} s`);
      }
      return (emulator.stats().calls.UpdateSecretVersionStage ?? 0) >= 2 * credentials;
    }, 30 * 60_000, "every credential rotated", 50);
    const seconds = (performance.now() - t0) / 1000;
    const stats = emulator.stats();
    const storeCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
    const vendorRequests = Object.values(sim.counters.requestsByKey).reduce((a, c) => a + c.accepted + c.refused, 0) + 2 * credentials + sim.counters.logins;
    const managementBound = (2 * credentials) / (managementPerMinute / 60);
    const bound = Math.max((2 * credentials) / writeTps, managementBound);
    return {
      credentials,
      seconds: round(seconds, 1),
      bound_seconds: round(bound, 1),
      ratio: round(seconds / bound),
      throttled_pct: round((100 * (stats.throttled + sim.counters.rateLimited)) / (storeCalls + vendorRequests), 3),
      store_calls_per_rotation: round((storeCalls - credentials) / credentials),
      store_calls_per_rotation_with_due_check: round(storeCalls / credentials),
      bound_seconds_at_3_writes: round(Math.max((3 * credentials) / writeTps, managementBound), 1),
      workers,
    };
  } finally {
    await world.close();
  }
}
