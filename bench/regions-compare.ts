/**
 * `npx tsx bench/regions-compare.ts --before <dir> [--credentials N] [--fleet-tps T] [--quick]`:
 * the fleet over 3 regions of an earlier commit and of this checkout, in one run, one after the
 * other, each as that commit's bench measured it (its own fleet and regions sections, its own
 * worker), printed side by side. `<dir>` is a worktree of the earlier commit (`git worktree add
 * <dir> <commit>` with node_modules linked); a small runner is written into it that calls its
 * `fleetBench` and then its `regionsBench`.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { table } from "../src/cli/output.js";

const argv = process.argv.slice(2);
const valueOf = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (argv.includes("--help") || !valueOf("--before")) {
  process.stdout.write(
    "usage: npx tsx bench/regions-compare.ts --before <worktree of the earlier commit> [--credentials N] [--fleet-tps T] [--quick]\n",
  );
  process.exit(argv.includes("--help") ? 0 : 2);
}
const before = valueOf("--before") ?? "";
const quick = argv.includes("--quick");
const credentials = valueOf("--credentials") ?? (quick ? "300" : "10000");
const fleetTps = valueOf("--fleet-tps") ?? (quick ? "300" : "333");

// The earlier commit's sections, called as its bench.ts called them.
writeFileSync(
  join(before, "bench", "regions-before-run.ts"),
  `import { execFileSync } from "node:child_process";
import { fleetBench } from "./fleet.bench.js";
import { regionsBench } from "./regions.bench.js";
const progress = (s: string) => process.stderr.write(\`\${s}\\n\`);
execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });
const fleet = await fleetBench(${Number(credentials)}, ${Number(fleetTps)}, progress);
const regions = await regionsBench(fleet, progress);
process.stdout.write(\`\${JSON.stringify({ fleet, regions })}\\n\`);
process.exit(0);
`,
);

type Figures = Record<string, unknown>;
const measure = (cwd: string, script: string, args: string[]): Promise<{ fleet: Figures; regions: Figures }> => {
  process.stderr.write(`measuring in ${cwd}\n`);
  return new Promise((resolve, reject) => {
    const child = execFile("npx", ["tsx", script, ...args], { cwd, maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as never),
    );
    child.stderr?.on("data", (d: Buffer) => process.stderr.write(`[${cwd}] ${d.toString()}`));
  });
};
const b = await measure(before, "bench/regions-before-run.ts", []);
const a = await measure(process.cwd(), "bench/regions-run.ts", ["--credentials", credentials, "--fleet-tps", fleetTps]);

const get = (o: Figures, path: string): string => {
  let v: unknown = o;
  for (const k of path.split(".")) v = (v as Record<string, unknown> | undefined)?.[k];
  return v === undefined ? "-" : typeof v === "object" ? JSON.stringify(v) : String(v);
};
const rows = [
  ...["seconds", "bound_seconds", "ratio", "rotations_per_second"].map((k) => [
    `fleet (one region, ${fleetTps} writes/s): ${k}`,
    get(b.fleet, k),
    get(a.fleet, k),
  ]),
  ...[
    "write_tps_per_region",
    "one_region.seconds",
    "one_region.bound_seconds",
    "one_region.ratio",
    "seconds",
    "bound_seconds",
    "ratio",
    "met",
    "speedup",
    "rotations_per_second",
    "throttled_pct",
    "cpu_cores_used",
    "cpu_cores_at_bound",
    "cpu_ms_per_rotation",
  ].map((k) => [`regions: ${k}`, get(b.regions, k), get(a.regions, k)]),
];
process.stdout.write(`${table(["figure", "before", "after"], rows)}\n`);
process.stdout.write(`${JSON.stringify({ before: b, after: a })}\n`);
process.exit(0);
