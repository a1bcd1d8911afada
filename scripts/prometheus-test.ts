/**
 * `npm run test:prometheus`: the chart's alert rules under promtool (Debian's prometheus package).
 * Renders the PrometheusRule with helm/key-rotator/ci/full-values.yaml in namespace "platform",
 * writes its groups as a rules file, runs `promtool check rules` and `promtool test rules` with
 * test/prometheus/*.test.yaml, and requires each alert to have a test where it fires and one where
 * it does not. PROMTOOL_BIN overrides the promtool on PATH.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parse, parseAllDocuments, stringify } from "yaml";
import { helmBinary } from "./chart-check.js";

const run = promisify(execFile);

interface RuleGroups {
  groups: Array<{ name: string; rules: Array<{ alert?: string }> }>;
}

/** The PrometheusRule's groups as rendered with these values. */
export async function renderedRules(chartDir: string, values: string): Promise<RuleGroups> {
  const { stdout } = await run(helmBinary(), ["template", "kr", chartDir, "-f", values, "--namespace", "platform"], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const rule = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind?: string; spec?: RuleGroups } | null)
    .find((d) => d?.kind === "PrometheusRule");
  if (!rule?.spec) throw new Error(`${values}: no PrometheusRule rendered`);
  return rule.spec;
}

/** Alerts that no test sees firing, or no test sees silent. */
export function coverageProblems(alerts: string[], tests: unknown[]): string[] {
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const t of tests as Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>)
    for (const a of t.alert_rule_test ?? []) ((a.exp_alerts ?? []).length > 0 ? fires : silent).add(a.alertname);
  return alerts.flatMap((name) => [
    ...(fires.has(name) ? [] : [`${name}: no test where it fires`]),
    ...(silent.has(name) ? [] : [`${name}: no test where it does not fire`]),
  ]);
}

export async function testRules(chartDir: string, testDir: string): Promise<{ problems: string[]; output: string }> {
  const promtool = process.env.PROMTOOL_BIN ?? "promtool";
  const work = mkdtempSync(join(tmpdir(), "kr-rules-"));
  try {
    const spec = await renderedRules(chartDir, join(chartDir, "ci/full-values.yaml"));
    writeFileSync(join(work, "rules.yaml"), stringify({ groups: spec.groups }));
    const files = readdirSync(testDir).filter((f) => f.endsWith(".test.yaml"));
    const problems: string[] = [];
    const tests: unknown[] = [];
    for (const f of files) {
      copyFileSync(join(testDir, f), join(work, f));
      tests.push(...((parse(readFileSync(join(testDir, f), "utf8")) as { tests?: unknown[] }).tests ?? []));
    }
    const alerts = spec.groups.flatMap((g) => g.rules.map((r) => r.alert ?? "")).filter(Boolean);
    problems.push(...coverageProblems(alerts, tests));
    let output = "";
    for (const args of [
      ["check", "rules", "rules.yaml"],
      ["test", "rules", ...files],
    ]) {
      try {
        const r = await run(promtool, args, { cwd: work });
        output += r.stdout + r.stderr;
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message?: string };
        output += `${e.stdout ?? ""}${e.stderr ?? ""}`;
        problems.push(`promtool ${args.slice(0, 2).join(" ")} failed`);
      }
    }
    return { problems, output };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  const { problems, output } = await testRules(resolve("helm/key-rotator"), resolve("test/prometheus"));
  process.stdout.write(output);
  for (const p of problems) console.error(p);
  console.log(problems.length === 0 ? "alert rules: OK" : `alert rules: ${problems.length} problems`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
