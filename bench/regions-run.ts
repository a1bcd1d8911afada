/**
 * `npx tsx bench/regions-run.ts [--quick] [--credentials N] [--fleet-tps T] [--q Q] [--no-build]`:
 * the one-region fleet (fleet.bench.ts) and then the fleet over 3 regions against one region
 * (regions.bench.ts), as `npm run bench` runs them, alone, as one JSON document on stdout
 * (`{ fleet, regions }`). Defaults are `npm run bench`'s: 10,000 credentials at 333 writes/s
 * (300 at 300 with --quick).
 */
import { execFileSync } from "node:child_process";
import { fleetBench, writeTpsFor } from "./fleet.bench.js";
import { regionsBench } from "./regions.bench.js";

const argv = process.argv.slice(2);
const valueOf = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? Number(argv[i + 1]) : undefined;
};
const quick = argv.includes("--quick");
const credentials = valueOf("--credentials") ?? (quick ? 300 : 10_000);
const fleetWriteTps = valueOf("--fleet-tps") ?? (quick ? 300 : writeTpsFor(10_000, 60));
const q = valueOf("--q");
const progress = (s: string) => process.stderr.write(`${s}\n`);
if (!argv.includes("--no-build"))
  execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });
const fleet = await fleetBench(credentials, fleetWriteTps, progress);
const regions = await regionsBench(
  {
    credentials,
    fleetWriteTps,
    fleetWritesPerSecond: 2 * fleet.rotations_per_second,
    ...(q !== undefined ? { writeTpsPerRegion: q } : {}),
  },
  progress,
);
process.stdout.write(`${JSON.stringify({ fleet, regions })}\n`);
process.exit(0);
