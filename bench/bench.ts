/**
 * `npm run bench [-- --quick] [-- --json]`: emergency latency, fleet throughput, idle footprint and
 * store calls per rotation, measured on the sandbox with real Redis and compiled worker processes.
 * Prints a table with each figure against its target, or one JSON object with --json. Not a test:
 * nothing here fails on a slow figure.
 */
import { execFileSync } from "node:child_process";
import { table } from "../src/cli/output.js";
import { round } from "./bench-world.js";
import { emergencyBench } from "./emergency.bench.js";
import { fleetBench, writeTpsFor } from "./fleet.bench.js";
import { idleBench } from "./idle.bench.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const json = args.has("--json");
const progress = (s: string) => process.stderr.write(`${s}\n`);

progress("building the worker (npm run build) so measurements do not include a TypeScript loader");
execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });

const emergency = await emergencyBench(quick ? 5 : 60, progress);
// The write quota is AWS's 50/s scaled up so that 10,000 rotations are bound to about a minute.
const fleet = await fleetBench(quick ? 300 : 10_000, quick ? 300 : writeTpsFor(10_000, 60), progress);
const idle = await idleBench(quick ? 1_000 : 10_000, quick ? 10 : 60, progress);
const result = {
  emergency,
  fleet: {
    credentials: fleet.credentials,
    seconds: fleet.seconds,
    bound_seconds: fleet.bound_seconds,
    ratio: fleet.ratio,
    throttled_pct: fleet.throttled_pct,
  },
  idle,
  store_calls_per_rotation: fleet.store_calls_per_rotation,
  details: { fleet },
};

if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  const row = (name: string, value: string, target: string, ok: boolean | undefined) => [
    name,
    value,
    target,
    ok === undefined ? "-" : ok ? "yes" : "NO",
  ];
  process.stdout.write(
    `${table(
      ["figure", "measured", "target", "met"],
      [
        row(
          "emergency p50 (admin HTTP)",
          `${emergency.p50_ms} ms (p95 ${emergency.p95_ms}, floor ${emergency.floor_p50_ms})`,
          "ratio <= 1.25",
          emergency.ratio <= 1.25,
        ),
        row("emergency ratio", String(emergency.ratio), "<= 1.25", emergency.ratio <= 1.25),
        row(
          "  floor from the sandbox's process",
          `${emergency.floor_same_process_p50_ms} ms (ratio ${round(emergency.p50_ms / emergency.floor_same_process_p50_ms)}; no call crosses processes)`,
          "-",
          undefined,
        ),
        row("emergency p50 (CLI process)", `${emergency.cli_p50_ms} ms (a new node process each)`, "-", undefined),
        row(
          `fleet: ${fleet.credentials} credentials`,
          `${fleet.seconds} s (bound ${fleet.bound_seconds} s at ${fleet.write_tps} writes/s; ${fleet.rotations_per_second} rotations/s)`,
          "ratio <= 1.10",
          fleet.ratio <= 1.1,
        ),
        row("fleet ratio", String(fleet.ratio), "<= 1.10", fleet.ratio <= 1.1),
        row(
          "fleet CPU per rotation",
          `${fleet.cpu_ms_per_rotation.workers} ms workers, ${fleet.cpu_ms_per_rotation.sandbox} ms sandbox, ${fleet.cpu_ms_per_rotation.redis} ms Redis`,
          "-",
          undefined,
        ),
        row("fleet 429 / Throttling", `${fleet.throttled_pct} %`, "<= 1 %", fleet.throttled_pct <= 1),
        row(
          "store calls per rotation",
          `${fleet.store_calls_per_rotation} (+1 due check)`,
          "<= 6",
          fleet.store_calls_per_rotation <= 6,
        ),
        row(
          `idle RSS (${idle.credentials} credentials)`,
          `${idle.rss_mib} MiB (${idle.rss_anon_mib} MiB its own, the rest the node binary's pages)`,
          "<= 80 MiB",
          idle.rss_mib <= 80,
        ),
        row("idle CPU", `${idle.cpu_pct} % of a core`, "<= 1 %", idle.cpu_pct <= 1),
        row("idle Redis commands", `${idle.redis_cmds_per_min} / min`, "<= 100 / min", idle.redis_cmds_per_min <= 100),
        row(
          "  with the health ticks",
          `${idle.redis_cmds_per_min_with_health_ticks} / min (a tick: ${idle.health_tick_redis_cmds} commands)`,
          "-",
          undefined,
        ),
      ],
    )}\n`,
  );
}
process.exit(0);
