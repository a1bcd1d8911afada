/**
 * `npx tsx bench/compare-before.ts --before <dir> [--sizes 1000,10000] [--quick] [--scale-only] [--parallel]`: the cost-at-rest
 * and scale figures of an earlier commit and of this checkout, measured in one run, one after the
 * other, and printed side by side. `<dir>` is a worktree of the earlier commit
 * (`git worktree add <dir> <commit>` with node_modules linked); this bench's section files are
 * copied into it, so both are measured by the same code.
 */
import { execFile } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { table } from "../src/cli/output.js";

const argv = process.argv.slice(2);
const valueOf = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const before = valueOf("--before");
if (!before) throw new Error("give --before <dir>: a worktree of the earlier commit");
const sizes = valueOf("--sizes") ?? "1000,10000,50000,100000";
const quick = argv.includes("--quick");
// --scale-only: the scale section alone (the cost at rest is not measured).
const scaleOnly = argv.includes("--scale-only");
const SECTIONS = ["sections.ts", "steady.bench.ts", "scale.bench.ts"];
for (const f of SECTIONS) copyFileSync(join("bench", f), join(before, "bench", f));

interface Part {
  steady?: Record<string, number | object>;
  details: { scale?: Array<Record<string, number | undefined>> };
}
const measure = (cwd: string): Promise<Part> => {
  process.stderr.write(`measuring in ${cwd}\n`);
  const args = ["tsx", "bench/sections.ts", "--sizes", sizes];
  if (quick) args.push("--quick");
  if (scaleOnly) args.push("--scale-only");
  return new Promise((resolve, reject) => {
    const child = execFile("npx", args, { cwd, maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Part),
    );
    child.stderr?.on("data", (d: Buffer) => process.stderr.write(`[${cwd}] ${d.toString()}`));
  });
};
// --parallel: both at once (half the wall time; timings noisier, counts and bytes the same).
const parallel = argv.includes("--parallel");
const [b, a] = parallel
  ? await Promise.all([measure(before), measure(process.cwd())])
  : [await measure(before), await measure(process.cwd())];

const rows: string[][] = [];
if (!scaleOnly) {
  for (const key of ["sm_calls_per_credential_day", "vendor_calls_per_credential_day", "sm_usd_per_month_10k"])
    rows.push([`steady: ${key}`, String(b.steady?.[key]), String(a.steady?.[key])]);
  rows.push([
    "steady: store calls of 30 /readyz probes",
    String(b.steady?.readyz_sm_calls_per_30_probes),
    String(a.steady?.readyz_sm_calls_per_30_probes),
  ]);
}
for (const [i, p] of (a.details.scale ?? []).entries()) {
  const q = b.details.scale?.[i] ?? {};
  for (const key of [
    "startup_s",
    "due_tick_s",
    "health_tick_s",
    "peak_rss_mib",
    "rss_after_due_mib",
    "idle_rss_mib",
    "replicas",
    "metrics_bytes",
    "sweep_s",
    "failed",
  ])
    if (p[key] !== undefined || q[key] !== undefined)
      rows.push([`${p.credentials}: ${key}`, String(q[key]), String(p[key])]);
}
process.stdout.write(`${table(["figure", "before", "after"], rows)}\n`);
process.stdout.write(`${JSON.stringify({ before: b, after: a })}\n`);
