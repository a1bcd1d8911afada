/**
 * `npm run bench [-- --quick] [-- --json] [-- --only steady,scale,breach] [-- --sizes 1000,10000] [-- --sittings 3]`:
 * emergency latency, fleet throughput (1 and 3 regions), the breach drill, idle footprint, store calls per rotation, the cost at rest
 * (store and vendor calls per credential per day) and one worker at growing sizes (start-up, peak
 * memory, /metrics), measured on the sandbox with real Redis and compiled worker processes.
 * Prints a table with each figure against its target, or one JSON object with --json. Not a test:
 * nothing here fails on a slow figure. The emergency, fleet and breach figures are each the median
 * of several sittings (samples.ts: 3, or --sittings; --quick sits once), every sitting's beside it.
 */
import { execFileSync } from "node:child_process";
import { table } from "../src/cli/output.js";
import { round } from "./bench-world.js";
import { type BreachFigures, breachBench } from "./breach.bench.js";
import { emergencyBench } from "./emergency.bench.js";
import { fleetBench, writeTpsFor } from "./fleet.bench.js";
import { idleBench } from "./idle.bench.js";
import { regionsBench } from "./regions.bench.js";
import { median, medianSitting, sittings } from "./samples.js";
import { scaleBench } from "./scale.bench.js";
import { steadyBench } from "./steady.bench.js";

const argv = process.argv.slice(2);
const args = new Set(argv);
const quick = args.has("--quick");
const json = args.has("--json");
const valueOf = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = valueOf("--only")?.split(",");
const runs = (section: string) => !only || only.includes(section);
const sizes = (valueOf("--sizes") ?? (quick ? "1000" : "1000,10000,50000,100000")).split(",").map(Number);
const progress = (s: string) => process.stderr.write(`${s}\n`);
const sittingCount = Number(valueOf("--sittings") ?? (quick ? 1 : 3));
if (!Number.isInteger(sittingCount) || sittingCount < 1)
  throw new Error(`--sittings: "${valueOf("--sittings")}" is not a whole number of at least 1`);
/** `measure` in `sittingCount` sittings: the sitting with the median `figure`, every sitting's figure as `samples`. */
const medianOfSittings = async <T>(name: string, measure: () => Promise<T>, figure: (t: T) => number) => {
  const taken = await sittings(sittingCount, name, measure, progress);
  const samples = taken.map(figure);
  if (taken.length > 1)
    progress(`${name}: ${samples.join(", ")} in ${taken.length} sittings; the median one is reported`);
  return { ...medianSitting(taken, figure), samples, taken };
};
const withoutSittings = <T extends { taken: unknown }>({ taken: _taken, ...figures }: T) => figures;

// Every worker and CLI process the bench starts runs on this process's Node (process.execPath):
// `npm run bench:node24` measures on the image's Node 24.
const runtime = `Node ${process.version}: the workers and the CLI run on it`;
progress(`measuring on ${runtime}`);
progress("building the worker (npm run build) so measurements do not include a TypeScript loader");
execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });

const steady = runs("steady") ? await steadyBench(quick ? 300 : 1_000, progress) : undefined;
const scalePoints = runs("scale") ? await scaleBench(sizes, progress) : undefined;
const largest = scalePoints?.[scalePoints.length - 1];
const scale = largest && {
  credentials: largest.credentials,
  replicas: largest.replicas,
  peak_rss_mib: largest.peak_rss_mib,
  idle_rss_mib: largest.idle_rss_mib,
  startup_s: largest.startup_s,
  due_tick_s: largest.due_tick_s,
  health_tick_s: largest.health_tick_s,
  sweep_s: largest.sweep_s,
  metrics_bytes: largest.metrics_bytes,
};
// Every credential of one vendor at once, beside scheduled work, at the fleet's write quota for
// 10,000 (quick: 300 credentials bound to 20 s, so the CLI's start, a second or two, is not most of it).
const breachDetails = runs("breach")
  ? withoutSittings(
      await medianOfSittings(
        "breach",
        () => breachBench(quick ? 300 : 10_000, quick ? writeTpsFor(300, 20) : writeTpsFor(10_000, 60), progress),
        (b) => b.ratio,
      ),
    )
  : undefined;
const breach = breachDetails && {
  credentials: breachDetails.credentials,
  seconds: breachDetails.seconds,
  bound_seconds: breachDetails.bound_seconds,
  ratio: breachDetails.ratio,
  samples: breachDetails.samples,
};
if (only && !runs("emergency")) {
  // A part of the bench (--only): its figures alone.
  const part = {
    node: process.version,
    steady,
    scale,
    breach,
    details: { steady, scale: scalePoints, breach: breachDetails },
  };
  if (json) process.stdout.write(`${JSON.stringify(part)}\n`);
  else {
    process.stdout.write(`${runtime}\n`);
    if (steady) process.stdout.write(`${steadyTable(steady)}\n`);
    if (scalePoints) process.stdout.write(`${scaleTable(scalePoints)}\n`);
    if (breachDetails) process.stdout.write(`${breachTable(breachDetails)}\n`);
  }
  process.exit(0);
}
// The CLI's figure is the median of the sittings' own (each sitting's p50 over its runs).
const emergencySittings = await medianOfSittings(
  "emergency",
  () => emergencyBench(quick ? 5 : 60, progress),
  (e) => e.ratio,
);
const emergency = {
  ...withoutSittings(emergencySittings),
  cli_p50_ms: median(emergencySittings.taken.map((e) => e.cli_p50_ms)),
  cli_queued_p50_ms: median(emergencySittings.taken.map((e) => e.cli_queued_p50_ms)),
  cli_samples: emergencySittings.taken.map((e) => e.cli_p50_ms),
};
// The write quota is AWS's 50/s scaled up so that 10,000 rotations are bound to about a minute.
const fleet = withoutSittings(
  await medianOfSittings(
    "fleet",
    () => fleetBench(quick ? 300 : 10_000, quick ? 300 : writeTpsFor(10_000, 60), progress),
    (f) => f.ratio,
  ),
);
// The same fleet in one region and over 3, each region at a third of the rate the fleet bench
// reached (so the 3 regions together ask for no more than this machine just kept up with).
const regions = await regionsBench(
  {
    credentials: fleet.credentials,
    fleetWriteTps: fleet.write_tps,
    fleetWritesPerSecond: 2 * fleet.rotations_per_second,
  },
  progress,
);
const idle = await idleBench(quick ? 1_000 : 10_000, quick ? 10 : 60, progress);
const result = {
  node: process.version,
  emergency,
  fleet: {
    credentials: fleet.credentials,
    seconds: fleet.seconds,
    bound_seconds: fleet.bound_seconds,
    ratio: fleet.ratio,
    throttled_pct: fleet.throttled_pct,
    samples: fleet.samples,
  },
  idle,
  store_calls_per_rotation: fleet.store_calls_per_rotation,
  regions,
  steady,
  scale,
  breach,
  details: { fleet, steady, scale: scalePoints, breach: breachDetails },
};

/** A figure, and when it is the median of several sittings, each sitting's. */
function withSamples(figure: number, samples: number[]): string {
  return samples.length > 1
    ? `${figure} (median of ${samples.length} sittings: ${samples.join(", ")})`
    : String(figure);
}

function breachTable(b: BreachFigures & { samples: number[] }): string {
  return table(
    ["breach drill", "measured", "target", "met"],
    [
      [
        `${b.credentials} credentials of one vendor`,
        `${b.seconds} s (bound ${b.bound_seconds} s at ${b.write_tps} writes/s)`,
        "ratio <= 1.10",
        b.ratio <= 1.1 ? "yes" : "NO",
      ],
      ["breach ratio", withSamples(b.ratio, b.samples), "<= 1.10", b.ratio <= 1.1 ? "yes" : "NO"],
      [
        "  the CLI: start, asking for every rotation",
        `${b.cli_start_seconds} s, ${b.declare_seconds} s (${b.seconds_from_command} s from the command to the last rotation)`,
        "-",
        "-",
      ],
      [
        "  scheduled rotations finished during the drill",
        `${b.scheduled_finished_during_drill} of ${b.scheduled_pending_at_declaration} pending`,
        "-",
        "-",
      ],
    ],
  );
}

function steadyTable(s: NonNullable<typeof steady>): string {
  return table(
    ["cost at rest", "measured", "target", "met"],
    [
      [
        `Secrets Manager calls per credential per day (${s.credentials})`,
        String(s.sm_calls_per_credential_day),
        "<= 6",
        s.sm_calls_per_credential_day <= 6 ? "yes" : "NO",
      ],
      [
        "vendor calls per key per day (on the key's own quota)",
        String(s.vendor_calls_per_credential_day),
        "<= 24",
        s.vendor_calls_per_credential_day <= 24 ? "yes" : "NO",
      ],
      [
        "vendor calls per day on the account's management login",
        s.vendor_account_calls_per_day === null ? "not in this health tick" : String(s.vendor_account_calls_per_day),
        "-",
        "-",
      ],
      ["Secrets Manager $ a month at 10,000 credentials", String(s.sm_usd_per_month_10k), "-", "-"],
      ["store calls of 30 /readyz probes", String(s.readyz_sm_calls_per_30_probes), "-", "-"],
    ],
  );
}

function scaleTable(points: NonNullable<typeof scalePoints>): string {
  return table(
    ["credentials", "start-up", "first due check", "peak RSS", "RSS after", "idle RSS", "/metrics", "sweep"],
    points.map((p) => [
      `${p.credentials}${p.replicas > 1 ? ` (${p.replicas} replicas)` : ""}`,
      `${p.startup_s} s`,
      `${p.due_tick_s} s${p.start_due_checks > 1 ? ` (${p.start_due_checks} due checks at start)` : ""}`,
      `${p.peak_rss_mib} MiB`,
      `${p.rss_after_due_mib} MiB`,
      `${p.idle_rss_mib} MiB`,
      `${(p.metrics_bytes / 1e6).toFixed(2)} MB (${p.metrics_series} series)`,
      p.sweep_s === undefined ? "-" : `${p.sweep_s} s`,
    ]),
  );
}

if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(`${runtime}\n`);
  if (steady) process.stdout.write(`${steadyTable(steady)}\n`);
  if (scalePoints) process.stdout.write(`${scaleTable(scalePoints)}\n`);
  if (breachDetails) process.stdout.write(`${breachTable(breachDetails)}\n`);
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
        row("emergency ratio", withSamples(emergency.ratio, emergency.samples), "<= 1.25", emergency.ratio <= 1.25),
        row(
          "  floor from the sandbox's process",
          `${emergency.floor_same_process_p50_ms} ms (ratio ${round(emergency.p50_ms / emergency.floor_same_process_p50_ms)}; no call crosses processes)`,
          "-",
          undefined,
        ),
        row(
          "emergency p50 (CLI process)",
          `${emergency.cli_p50_ms} ms (a new node process each, through the worker's socket${emergency.cli_samples.length > 1 ? `; the median of ${emergency.cli_samples.length} sittings' p50: ${emergency.cli_samples.join(", ")}` : ""})`,
          "<= 300",
          emergency.cli_p50_ms <= 300,
        ),
        row(
          "  the same CLI through the queue",
          `${emergency.cli_queued_p50_ms} ms (no worker's socket beside it)`,
          "-",
          undefined,
        ),
        row(
          `fleet: ${fleet.credentials} credentials`,
          `${fleet.seconds} s (bound ${fleet.bound_seconds} s at ${fleet.write_tps} writes/s; ${fleet.rotations_per_second} rotations/s)`,
          "ratio <= 1.10",
          fleet.ratio <= 1.1,
        ),
        row("fleet ratio", withSamples(fleet.ratio, fleet.samples), "<= 1.10", fleet.ratio <= 1.1),
        row(
          "fleet CPU per rotation",
          `${fleet.cpu_ms_per_rotation.workers} ms workers, ${fleet.cpu_ms_per_rotation.sandbox} ms sandbox, ${fleet.cpu_ms_per_rotation.redis} ms Redis`,
          "-",
          undefined,
        ),
        row("fleet 429 / Throttling", `${fleet.throttled_pct} %`, "<= 1 %", fleet.throttled_pct <= 1),
        row(
          `fleet in one region at ${regions.write_tps_per_region} writes/s`,
          `${regions.one_region.seconds} s (bound ${regions.one_region.bound_seconds} s; ratio ${regions.one_region.ratio})`,
          "-",
          undefined,
        ),
        row(
          `fleet over ${regions.regions.length} regions: ${regions.credentials} credentials`,
          `${regions.seconds} s (bound ${regions.bound_seconds} s: one region's ${regions.one_region.bound_seconds} s / ${regions.regions.length}; ${regions.speedup}x one region)`,
          `ratio <= ${regions.target}`,
          regions.met,
        ),
        row("fleet over regions ratio", String(regions.ratio), `<= ${regions.target}`, regions.met),
        row("  per-region quota", `${regions.write_tps_per_region} writes/s: ${regions.quota_choice}`, "-", undefined),
        row(
          "  each region's writes",
          Object.entries(regions.per_region)
            .map(([r, f]) => `${r} ${f.writes_per_s}/s, last at ${f.last_write_s} s (${f.rotations})`)
            .join(", "),
          "-",
          undefined,
        ),
        row(
          "  CPU over regions",
          `${regions.cpu_cores_used} cores used; ${regions.cpu_cores_at_bound} needed to finish at the bound (${regions.cpu_cores} here)`,
          "-",
          undefined,
        ),
        row(
          "store calls per rotation",
          `${fleet.store_calls_per_rotation} (+1 due check)`,
          "<= 6",
          fleet.store_calls_per_rotation <= 6,
        ),
        row(
          `idle RSS (${idle.credentials} credentials)`,
          `${idle.rss_mib} MiB (the median of a reading a second, highest ${idle.rss_max_mib}; ${idle.rss_anon_mib} MiB its own, the rest the node binary's pages)`,
          "<= 80 MiB",
          idle.rss_mib <= 80,
        ),
        row("idle CPU", `${idle.cpu_pct} % of a core`, "<= 1 %", idle.cpu_pct <= 1),
        row(
          "idle Redis commands (the worker's own)",
          `${idle.redis_cmds_per_min} / min (the whole server: ${idle.redis_server_cmds_per_min} / min)`,
          "<= 100 / min",
          idle.redis_cmds_per_min <= 100,
        ),
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
