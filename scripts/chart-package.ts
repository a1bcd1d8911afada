/**
 * `npm run chart:package [-- <out dir>]`: `helm package` of helm/key-rotator, refused unless the
 * chart's version and appVersion are the image's version (package.json): a platform team pins one
 * number and gets the chart and the image that were tested together.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { helmBinary } from "./chart-check.js";

const run = promisify(execFile);

/** Why the chart and the image would ship apart, or nothing. */
export function versionProblems(chart: { version?: unknown; appVersion?: unknown }, imageVersion: string): string[] {
  const problems: string[] = [];
  if (String(chart.version) !== imageVersion)
    problems.push(`Chart.yaml version ${String(chart.version)} is not the image's version ${imageVersion}`);
  if (String(chart.appVersion) !== imageVersion)
    problems.push(`Chart.yaml appVersion ${String(chart.appVersion)} is not the image's version ${imageVersion}`);
  return problems;
}

export async function packageChart(chartDir: string, outDir: string, packageJson = "package.json"): Promise<string> {
  const version = (JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version;
  const chart = parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as { name: string; version?: unknown };
  const problems = versionProblems(chart, version);
  if (problems.length > 0) throw new Error(problems.join("; "));
  await run(helmBinary(), ["package", chartDir, "--destination", outDir]);
  return join(outDir, `${chart.name}-${version}.tgz`);
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  try {
    console.log(await packageChart(resolve("helm/key-rotator"), resolve(process.argv[2] ?? "dist/chart")));
  } catch (err) {
    console.error(`chart:package: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
