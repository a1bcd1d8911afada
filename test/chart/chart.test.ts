/** The chart checks pass on the shipped chart and fail on each kind of breakage they exist for. */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { checkChart, checkMounts, helmBinary, unknownFields, unzipEntry } from "../../scripts/chart-check.js";
import { parseInventory } from "../../src/config/load-inventory.js";

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

type Doc = {
  kind?: string;
  data?: Record<string, string>;
  automountServiceAccountToken?: boolean;
  spec?: { template?: { spec?: Doc } };
};

/** `helm template` of the shipped chart with these arguments, as objects. */
async function render(...args: string[]): Promise<Doc[]> {
  const { stdout } = await promisify(execFile)(helmBinary(), ["template", "kr", CHART, ...args]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
}

describe("chart checks", { timeout: 60_000 }, () => {
  it("pass on the shipped chart and render every manifest the chart promises", async () => {
    const report = await checkChart(CHART);
    expect(report.problems).toEqual([]);
    expect(report.rendered["full-values.yaml"]).toEqual(
      expect.arrayContaining([
        "apps/v1/Deployment",
        "v1/ServiceAccount",
        "v1/ConfigMap",
        "v1/Service",
        "policy/v1/PodDisruptionBudget",
        "networking.k8s.io/v1/NetworkPolicy",
        "monitoring.coreos.com/v1/ServiceMonitor",
        "monitoring.coreos.com/v1/PrometheusRule",
      ]),
    );
    expect(report.rendered["single-replica-values.yaml"]).not.toContain("policy/v1/PodDisruptionBudget");
  });

  it("fail on a template that does not render", async () => {
    const dir = brokenChart("templates/service.yaml", (t) =>
      t.replace("type: ClusterIP", "type: {{ .Values.nope.deeper }}"),
    );
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
    const dir = brokenChart("templates/prometheusrule.yaml", (t) =>
      t.replace("key_rotator_usage_anomaly", "key_rotator_usage_anomalies"),
    );
    const report = await checkChart(dir);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /KeyRotatorUsageAnomaly uses key_rotator_usage_anomalies, which the worker does not export/,
        ),
      ]),
    );
  });

  it("fail on an inventory the worker would refuse", async () => {
    const dir = brokenChart("ci/default-values.yaml", (t) => t.replace("every: 90d", "every: quarterly"));
    const report = await checkChart(dir);
    expect(report.problems.join("\n")).toMatch(
      /inventory: credentials\[0\]\.rotation\.every: expected a duration like 90d/,
    );
  });

  it("fail on a volume mounted under another volume's mount", async () => {
    const dir = brokenChart("templates/deployment.yaml", (t) =>
      t.replace("mountPath: /var/run/secrets/key-rotator/admin", "mountPath: /etc/key-rotator/config/admin"),
    );
    const report = await checkChart(dir);
    expect(report.problems).toContain(
      "full-values.yaml: Deployment kr-key-rotator: container worker: volume admin-token is mounted at /etc/key-rotator/config/admin, under volume inventory at /etc/key-rotator/config; mount them at disjoint paths",
    );
    const pod = (...mountPath: string[]) => ({
      kind: "Pod",
      spec: { containers: [{ name: "c", volumeMounts: mountPath.map((p, i) => ({ name: `v${i}`, mountPath: p })) }] },
    });
    expect(checkMounts("x", pod("/etc/a", "/etc/ab", "/tmp/"))).toEqual([]);
    expect(checkMounts("x", pod("/etc/a/b", "/etc/a/"))).toHaveLength(1);
    expect(checkMounts("x", pod("/data", "/data"))).toHaveLength(1);
  });

  it.each([
    ["spec.replicaz", "replicas:", "replicaz:", "IDeploymentSpec"],
    [
      "a container's securityContex",
      "securityContext:\n            {{-",
      "securityContex:\n            {{-",
      "IContainer",
    ],
  ])("fail on a field Kubernetes does not know (%s)", async (_, from, to, type) => {
    const dir = brokenChart("templates/deployment.yaml", (t) => t.replace(from, to));
    const report = await checkChart(dir);
    const field = to.split(":")[0];
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`Deployment kr-key-rotator: unknown field: .*'"${field}"' does not exist in type '${type}'`),
        ),
      ]),
    );
  });

  it("find unknown fields at any depth of any kind the chart renders", () => {
    const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" }, dataa: {} };
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "a" },
      spec: { ports: [{ port: 80, protocl: "TCP" }] },
    };
    expect(
      unknownFields([
        { where: "cm", id: "v1/ConfigMap", obj: configMap },
        { where: "svc", id: "v1/Service", obj: service },
      ]),
    ).toEqual([
      expect.stringMatching(/^cm: unknown field: .*'"dataa"' does not exist in type 'IConfigMap'/),
      expect.stringMatching(/^svc: unknown field: .*'"protocl"' does not exist in type 'IServicePort'/),
    ]);
    expect(
      unknownFields([
        { where: "svc", id: "v1/Service", obj: { ...service, spec: { ports: [{ port: 80, protocol: "TCP" }] } } },
      ]),
    ).toEqual([]);
  });

  it("render the documented install, with the inventory file as text (--set-file)", async () => {
    const args = [
      "--set",
      "image.repository=registry.example.com/platform/key-rotator",
      "--set",
      "redis.existingSecret=key-rotator-redis",
      "--set",
      "serviceAccount.roleArn=arn:aws:iam::123456789012:role/key-rotator",
      "--set-file",
      "inventory=examples/inventory.yaml",
    ];
    await promisify(execFile)(helmBinary(), ["lint", "--strict", CHART, ...args]);
    const configMap = (await render(...args)).find((d) => d.kind === "ConfigMap");
    const text = configMap?.data?.["inventory.yaml"] ?? "";
    expect(text).toBe(readFileSync("examples/inventory.yaml", "utf8"));
    expect(parseInventory(text, "inventory").credentials.length).toBeGreaterThan(0);
  });

  it("refuse to render without an inventory that lists a credential, saying so", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kr-inventory-")), "inventory.yaml");
    copies.push(dirname(file));
    writeFileSync(file, "settings: { concurrency: 2 }\ncredentials: []\n");
    for (const args of [[], ["--set", "inventory="], ["--set-file", `inventory=${file}`]]) {
      await expect(render(...args)).rejects.toThrow(
        /inventory: list at least one credential\. Give the inventory with --set-file inventory=inventory\.yaml/,
      );
    }
  });

  it("mount no Kubernetes API token by default, and alert on a failed rotation's first series", async () => {
    const docs = await render("-f", `${CHART}/ci/full-values.yaml`);
    expect(docs.find((d) => d.kind === "ServiceAccount")?.automountServiceAccountToken).toBe(false);
    expect(docs.find((d) => d.kind === "Deployment")?.spec?.template?.spec?.automountServiceAccountToken).toBe(false);
    const rule = JSON.stringify(docs.find((d) => d.kind === "PrometheusRule"));
    expect(rule).toContain(
      'or (key_rotator_rotations_total{result=~\\"failed|rolled-back\\"}\\n  unless key_rotator_rotations_total{result=~\\"failed|rolled-back\\"} offset 30m)',
    );
  });

  it("get helm from the npm package without an unzip tool", () => {
    expect(helmBinary()).toMatch(/helm$/);
    expect(() => unzipEntry(Buffer.from("not a zip"), "helm/helm")).toThrow("not a zip archive");
  });
});
