/** The chart checks pass on the shipped chart and fail on each kind of breakage they exist for. */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  checkChart,
  checkDashboard,
  checkFileRefs,
  checkMounts,
  checkRefused,
  checkRuleDocs,
  exportedMetricNames,
  helmBinary,
  runbookSections,
  unknownFields,
  unzipEntry,
} from "../../scripts/chart-check.js";
import { packageChart, versionProblems } from "../../scripts/chart-package.js";
import { parseInventory } from "../../src/config/load-inventory.js";
import { builtInVendors } from "../../src/vendors/registry.js";

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

type Container = {
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  ports?: Array<{ name: string; containerPort: number }>;
  startupProbe?: unknown;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type Doc = {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  automountServiceAccountToken?: boolean;
  containers?: Container[];
  spec?: Record<string, unknown> & { template?: { spec?: Doc } };
};

/** `helm template` of the shipped chart with these arguments, as objects. */
async function render(...args: string[]): Promise<Doc[]> {
  const { stdout } = await promisify(execFile)(helmBinary(), [
    "template",
    "kr",
    CHART,
    "--namespace",
    "platform",
    "--set",
    "aws.region=eu-central-1",
    ...args,
  ]);
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
    const report = await checkChart(dir, { refused: false });
    expect(report.problems.join("\n")).toMatch(/helm (lint --strict|template) failed/);
  });

  it("fail on a value outside the schema", async () => {
    const dir = brokenChart("ci/default-values.yaml", (t) => `${t}\nreplicaCount: two\n`);
    const report = await checkChart(dir, { refused: false });
    expect(report.problems.join("\n")).toMatch(/default-values.yaml: helm lint --strict failed: .*replicaCount/);
  });

  it("fail on a manifest Kubernetes would refuse", async () => {
    const dir = brokenChart("templates/service.yaml", (t) => t.replace("protocol: TCP", "protocol: CARRIER-PIGEON"));
    const report = await checkChart(dir, { refused: false });
    expect(report.problems.join("\n")).toMatch(/Service kr-key-rotator: not a valid v1\/Service/);
  });

  it("fail on an alert rule that names a metric the worker does not export", async () => {
    const dir = brokenChart("templates/prometheusrule.yaml", (t) =>
      t.replace("key_rotator_usage_anomaly", "key_rotator_usage_anomalies"),
    );
    const report = await checkChart(dir, { refused: false });
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
    const report = await checkChart(dir, { refused: false });
    expect(report.problems.join("\n")).toMatch(
      /inventory: credentials\[0\]\.rotation\.every: expected a duration like 90d/,
    );
  });

  it("fail on a volume mounted under another volume's mount", async () => {
    const dir = brokenChart("templates/deployment.yaml", (t) =>
      t.replace("mountPath: {{ $secretsDir }}/admin,", "mountPath: /etc/key-rotator/config/admin,"),
    );
    const report = await checkChart(dir, { refused: false });
    expect(report.problems).toContain(
      "full-values.yaml: Deployment key-rotator: container worker: volume admin-token is mounted at /etc/key-rotator/config/admin, under volume inventory at /etc/key-rotator/config; mount them at disjoint paths",
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
    const report = await checkChart(dir, { refused: false });
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
    await promisify(execFile)(helmBinary(), ["lint", "--strict", CHART, "--set", "aws.region=eu-central-1", ...args]);
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
      'or (key_rotator_rotations_total{result=~\\"failed|rolled-back\\",namespace=\\"platform\\"} > 0\\n  unless key_rotator_rotations_total{result=~\\"failed|rolled-back\\",namespace=\\"platform\\"} offset 30m)',
    );
  });

  it("render every value a platform team sets, and run as a subchart with globals", async () => {
    const full = await render("-f", `${CHART}/ci/full-values.yaml`);
    const deployment = full.find((d) => d.kind === "Deployment");
    const pod = deployment?.spec?.template?.spec;
    const worker = pod?.containers?.[0];
    const env = Object.fromEntries((worker?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(deployment?.metadata?.name).toBe("key-rotator");
    expect(JSON.stringify(pod)).toContain(
      "registry.example.com/platform/key-rotator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    expect(env).toMatchObject({
      KEY_ROTATOR_HTTP_PORT: "9090",
      KEY_ROTATOR_HTTP_HOST: "0.0.0.0",
      KEY_ROTATOR_ADMIN_PORT: "9443",
      REDIS_USERNAME: "key-rotator",
      REDIS_PASSWORD_FILE: "/var/run/secrets/key-rotator/redis-auth/password",
      REDIS_TLS: "true",
      REDIS_TLS_CA_FILE: "/var/run/secrets/key-rotator/redis-ca/ca.crt",
      NODE_OPTIONS: "--max-old-space-size=192",
      AWS_REGION: "eu-central-1",
      // In the pod's writable /tmp (an emptyDir), for `kubectl exec … rotate --emergency`.
      KEY_ROTATOR_SOCKET: "/tmp/key-rotator.sock",
    });
    expect(worker?.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    // The Redis password and the alert secrets are files, not variables.
    expect(Object.keys(env)).not.toContain("REDIS_PASSWORD");
    expect(worker?.ports).toEqual([
      { name: "http", containerPort: 9090, protocol: "TCP" },
      { name: "admin", containerPort: 9443, protocol: "TCP" },
    ]);
    expect(worker?.startupProbe).toMatchObject({ periodSeconds: 3, failureThreshold: 40 });
    expect(worker?.volumeMounts?.map((m) => m.mountPath)).toEqual(
      expect.arrayContaining(["/var/run/secrets/key-rotator/alerts", "/var/run/secrets/key-rotator/hook-secret"]),
    );
    expect(pod).toMatchObject({
      priorityClassName: "platform-critical",
      terminationGracePeriodSeconds: 90,
      topologySpreadConstraints: [expect.objectContaining({ topologyKey: "topology.kubernetes.io/zone" })],
    });
    expect(deployment?.spec?.template).toMatchObject({ metadata: { labels: { team: "platform" } } });
    expect(full.find((d) => d.kind === "PodDisruptionBudget")?.spec).toMatchObject({ maxUnavailable: 1 });
    expect(full.find((d) => d.kind === "PodDisruptionBudget")?.spec).not.toHaveProperty("minAvailable");
    const dashboard = full.find((d) => d.kind === "ConfigMap" && d.data?.["key-rotator.json"]);
    expect(dashboard?.metadata).toMatchObject({ namespace: "monitoring", labels: { grafana_dashboard: "1" } });
    const policy = JSON.stringify(full.find((d) => d.kind === "NetworkPolicy")?.spec);
    for (const part of ['"port":"admin"', "incident-tools", "10.20.0.0/16", "169.254.169.254/32", '"port":4317'])
      expect(policy).toContain(part);

    const sub = await render("-f", `${CHART}/ci/subchart-values.yaml`);
    const subPod = JSON.stringify(sub.find((d) => d.kind === "Deployment"));
    expect(subPod).toContain('"image":"registry.example.com/platform/key-rotator:0.1.0"');
    expect(subPod).toContain('"imagePullSecrets":[{"name":"umbrella-regcred"}]');
    expect(subPod).toContain(
      '"name":"REDIS_CLUSTER_HOSTS","value":"redis-0.redis:6379,redis-1.redis:6379,redis-2.redis:6379"',
    );
  });

  it("keep the admin port closed and the probe port to the listed namespaces by default", async () => {
    const docs = await render("-f", `${CHART}/ci/default-values.yaml`, "--set", "networkPolicy.enabled=true");
    const spec = docs.find((d) => d.kind === "NetworkPolicy")?.spec as { ingress?: unknown[] };
    expect(spec.ingress ?? []).toEqual([]);
    const service = JSON.stringify(docs.find((d) => d.kind === "Service"));
    expect(service).not.toContain("admin");
  });

  it("render WorkerDown only with a ServiceMonitor, scoped to the release's namespace", async () => {
    const rule = (docs: Doc[]) => JSON.stringify(docs.find((d) => d.kind === "PrometheusRule"));
    const without = await render(
      "-f",
      `${CHART}/ci/default-values.yaml`,
      "--set",
      "metrics.prometheusRule.enabled=true",
    );
    expect(rule(without)).not.toContain("KeyRotatorWorkerDown");
    expect(rule(without)).toContain("KeyRotatorAlertDeliveryFailing");
    const withMonitor = await render(
      "-f",
      `${CHART}/ci/default-values.yaml`,
      "--set",
      "metrics.prometheusRule.enabled=true",
      "--set",
      "metrics.serviceMonitor.enabled=true",
    );
    expect(rule(withMonitor)).toContain('absent(up{job=\\"kr-key-rotator\\",namespace=\\"platform\\"} == 1)');
  });

  it("refuse a misspelt vendor with the worker's own message, in both inventory forms", async () => {
    const { problems } = (() => {
      try {
        parseInventory(
          "credentials:\n  - { id: a, vendor: callcove, secretId: s, baseUrl: 'https://x', rotation: { every: 90d } }\n",
          "inventory",
        );
        return { problems: [] as string[] };
      } catch (err) {
        return err as { problems: string[] };
      }
    })();
    const vendorProblem = problems.find((p) => p.startsWith("credentials[0].vendor:"));
    expect(vendorProblem).toBeDefined();
    for (const file of ["vendor-typo.yaml", "vendor-typo-text.yaml"])
      await expect(render("-f", `test/chart/refused/${file}`)).rejects.toThrow(vendorProblem);
  });

  it("report a refused case that renders, or refuses for another reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kr-refused-"));
    copies.push(dir);
    writeFileSync(
      join(dir, "renders.yaml"),
      `# expect: anything\n${readFileSync(`${CHART}/ci/default-values.yaml`, "utf8")}`,
    );
    writeFileSync(join(dir, "other.yaml"), "# expect: a reason it does not give\naws: { region: eu-central-1 }\n");
    writeFileSync(join(dir, "unsaid.yaml"), "aws: { region: eu-central-1 }\n");
    const problems = await checkRefused(helmBinary(), CHART, dir);
    expect(problems).toEqual([
      expect.stringMatching(/^refused\/other.yaml: refused, but without "a reason it does not give"/),
      "refused/renders.yaml: rendered, but the chart must refuse it (anything)",
      'refused/unsaid.yaml: no "# expect: <message>" line',
    ]);
  });

  it("find an inventory file that no volume mounts", async () => {
    const docs = await render("-f", `${CHART}/ci/full-values.yaml`, "--set", "extraVolumeMounts=null");
    expect(checkFileRefs("full", docs)).toEqual([
      "full: the inventory reads /var/run/secrets/key-rotator/hook-secret, which no volume of the pod mounts (secretFiles or extraVolumes)",
    ]);
    expect(checkFileRefs("full", await render("-f", `${CHART}/ci/full-values.yaml`))).toEqual([]);
  });

  it("find a rule without for, description or runbook section, and a dashboard query on a metric nobody exports", async () => {
    const sections = runbookSections();
    expect(sections).toEqual(new Set([...sections].filter(Boolean)));
    expect(sections.has("keyrotatorkeyoverdue")).toBe(true);
    const spec = {
      groups: [
        {
          rules: [
            { alert: "A", expr: "up", annotations: { runbook_url: "x#keyrotatorkeyoverdue" } },
            { alert: "B", expr: "up", for: "5m", annotations: { description: "d", runbook_url: "x#nowhere" } },
          ],
        },
      ],
    };
    expect(checkRuleDocs("r", spec, sections)).toEqual([
      "r: A has no for:",
      "r: A has no description",
      "r: B links to #nowhere, which docs/runbook.md has no section for",
    ]);
    const metrics = await exportedMetricNames();
    const dashboard = readFileSync(`${CHART}/dashboards/key-rotator.json`, "utf8");
    expect(checkDashboard("d", dashboard, metrics)).toEqual([]);
    expect(
      checkDashboard("d", dashboard.replace("key_rotator_usage_anomaly", "key_rotator_usage_anomalies"), metrics),
    ).toEqual(['d: panel "Usage anomalies" uses key_rotator_usage_anomalies, which the worker does not export']);
    expect(checkDashboard("d", "{", metrics)[0]).toMatch(/not JSON/);
  });

  it("package the chart only at the image's version", async () => {
    const out = mkdtempSync(join(tmpdir(), "kr-package-"));
    copies.push(out);
    const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
    expect(await packageChart(CHART, out)).toBe(join(out, `key-rotator-${version}.tgz`));
    expect(readFileSync(join(out, `key-rotator-${version}.tgz`)).length).toBeGreaterThan(1000);
    expect(versionProblems({ version: "0.2.0", appVersion: version }, version)).toEqual([
      `Chart.yaml version 0.2.0 is not the image's version ${version}`,
    ]);
    const moved = brokenChart("Chart.yaml", (t) => t.replace(/^version: .*$/m, "version: 9.9.9"));
    await expect(packageChart(moved, out)).rejects.toThrow("Chart.yaml version 9.9.9 is not the image's version");
  });

  it("get helm from the npm package without an unzip tool", () => {
    expect(helmBinary()).toMatch(/helm$/);
    expect(() => unzipEntry(Buffer.from("not a zip"), "helm/helm")).toThrow("not a zip archive");
  });
});

it("knows the registry's built-in vendors, in file order, so the chart never refuses a built-in vendor", () => {
  const helpers = readFileSync(`${CHART}/templates/_helpers.tpl`, "utf8");
  const listed = /define "key-rotator\.vendors" -\}\}([a-z0-9 ]*)\{\{-/.exec(helpers)?.[1]?.split(" ");
  expect(listed).toEqual(builtInVendors().map((m) => m.id));
});
