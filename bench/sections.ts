/**
 * `npx tsx bench/sections.ts [--quick] [--sizes 1000,10000] [--scale-only]`: the cost-at-rest and scale sections
 * alone, as one JSON document (what compare-before.ts runs in both checkouts).
 */
import { execFileSync } from "node:child_process";
import { scaleBench } from "./scale.bench.js";
import { steadyBench } from "./steady.bench.js";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const i = argv.indexOf("--sizes");
const sizes = (i >= 0 ? (argv[i + 1] ?? "") : quick ? "1000" : "1000,10000,50000,100000").split(",").map(Number);
const progress = (s: string) => process.stderr.write(`${s}\n`);
execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });
const steady = argv.includes("--scale-only") ? undefined : await steadyBench(quick ? 300 : 1_000, progress);
const scale = await scaleBench(sizes, progress);
process.stdout.write(`${JSON.stringify({ steady, details: { scale } })}\n`);
process.exit(0);
