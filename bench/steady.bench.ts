/**
 * Cost at rest: one worker with N credentials, none due, after its startup due check. One tick of
 * each kind is run by hand (as its scheduler would) and the store's calls (the emulator's count by
 * operation) and the vendor's requests (the simulator's count) are counted, then scaled to a day
 * at the default cadences: due check hourly, health check every 15 minutes, orphan sweep every 6
 * hours. The health tick is run twice and the second counted (the first after start may learn
 * what the due check did not). `/readyz` is probed 30 times in a row and its store calls counted.
 * Counts, not timings: the same on a loaded machine.
 *
 * Vendor calls per key are the calls each key's own daily quota counts (CallCov's plans limit each
 * key: 1,000 requests a day on Free), those the simulator counts by key: the verifications. The
 * account's calls (the management check, once a verify cadence on one slice's tick, and the orphan
 * sweep's lists) go on the management login's budget, not a key's; they are in
 * `vendor_calls_per_tick` by route, and `vendor_account_calls_per_day` scales the sweep's and, when
 * the counted health tick was the management check's, that check's.
 */
import { Queue } from "bullmq";
import { connectRedis } from "../src/queue/redis.js";
import { MAINTENANCE_QUEUE } from "../src/worker/maintenance.js";
import { benchWorld, maintenanceQuiet, round } from "./bench-world.js";

const TICKS_PER_DAY = { "due-check": 24, "health-check": 96, "orphan-sweep": 4 } as const;
type Tick = keyof typeof TICKS_PER_DAY;
/** Health ticks a verify cadence (hourly / every 15 minutes): the management check is on one of them. */
const HEALTH_SLICES = 4;
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export interface SteadyFigures {
  credentials: number;
  sm_calls_per_credential_day: number;
  /** Calls made with each key, what its daily quota counts (verifications), per key per day. */
  vendor_calls_per_credential_day: number;
  /**
   * Calls made with the account's management login, per day: the orphan sweep's, and the
   * management check's once a verify cadence (24 a day); null when the counted health tick was
   * not the one that makes that check (it runs on one slice's tick of 4, by the clock).
   */
  vendor_account_calls_per_day: number | null;
  /** At $0.05 per 10,000 calls, 10,000 credentials, 30 days. */
  sm_usd_per_month_10k: number;
  /** Store calls of one tick, by operation. */
  sm_calls_per_tick: Record<Tick, Record<string, number>>;
  vendor_calls_per_tick: Record<Tick, Record<string, number>>;
  /** Store calls of 30 `/readyz` probes in a row (a kubelet probes every 10 s: 8,640 a day). */
  readyz_sm_calls_per_30_probes: number;
}

export async function steadyBench(credentials: number, progress: (s: string) => void): Promise<SteadyFigures> {
  const world = await benchWorld({ credentials, inventory: { dueCheckEvery: "1h" } });
  const redis = connectRedis(world.redis);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix: world.prefix });
  try {
    const { process: worker, httpUrl } = await world.startWorker({ LOG_LEVEL: "info" });
    await worker.waitForLine(/"due-check.done"/, 600_000);
    const emulator = world.sandbox.emulator;
    const sim = world.sandbox.callcov.state.counters;
    const keyCalls = () => Object.values(sim.requestsByKey).reduce((n, c) => n + c.accepted + c.refused, 0);
    const tick = async (name: Tick) => {
      const done = `"${name}.done"`;
      // Counted alone: the calls of a job still queued (the orphan sweep a new Redis adds at
      // start) would count as this tick's.
      await maintenanceQuiet(queue, 900_000);
      const before = worker.lines.filter((l) => l.includes(done)).length;
      emulator.resetStats();
      const vendor0 = { ...sim.requestsByRoute };
      const key0 = keyCalls();
      await queue.add(name, {}, { removeOnComplete: true, removeOnFail: true });
      const end = Date.now() + 900_000;
      while (worker.lines.filter((l) => l.includes(done)).length === before) {
        if (Date.now() > end) throw new Error(`the ${name} tick did not finish within 15 minutes`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const vendor: Record<string, number> = {};
      for (const [route, n] of Object.entries(sim.requestsByRoute)) {
        const d = n - (vendor0[route] ?? 0);
        if (d > 0) vendor[route] = d;
      }
      const withKeys = keyCalls() - key0;
      return { store: emulator.stats().calls, vendor, withKeys, account: sum(vendor) - withKeys };
    };
    progress(`steady: one tick of each kind over ${credentials} credentials`);
    const due = await tick("due-check");
    await tick("health-check");
    const health = await tick("health-check");
    const sweep = await tick("orphan-sweep");
    emulator.resetStats();
    for (let i = 0; i < 30; i++) await fetch(`${httpUrl}/readyz`).then((r) => r.arrayBuffer());
    const readyz = Object.values(emulator.stats().calls).reduce((a, b) => a + b, 0);
    const perDay = (pick: (t: typeof due) => number) =>
      (pick(due) * TICKS_PER_DAY["due-check"] +
        pick(health) * TICKS_PER_DAY["health-check"] +
        pick(sweep) * TICKS_PER_DAY["orphan-sweep"]) /
      credentials;
    const sm = perDay((t) => sum(t.store));
    return {
      credentials,
      sm_calls_per_credential_day: round(sm, 3),
      vendor_calls_per_credential_day: round(
        perDay((t) => t.withKeys),
        3,
      ),
      vendor_account_calls_per_day:
        health.account > 0
          ? due.account * TICKS_PER_DAY["due-check"] +
            health.account * (TICKS_PER_DAY["health-check"] / HEALTH_SLICES) +
            sweep.account * TICKS_PER_DAY["orphan-sweep"]
          : null,
      sm_usd_per_month_10k: round(((sm * 10_000 * 30) / 10_000) * 0.05, 2),
      sm_calls_per_tick: { "due-check": due.store, "health-check": health.store, "orphan-sweep": sweep.store },
      vendor_calls_per_tick: { "due-check": due.vendor, "health-check": health.vendor, "orphan-sweep": sweep.vendor },
      readyz_sm_calls_per_30_probes: readyz,
    };
  } finally {
    await queue.close();
    redis.disconnect();
    await world.close();
  }
}
