/**
 * `key-rotator vendor check <definition> --base-url URL [--management-secret ID] [--field k=v]...
 * [--yes] [--json]`: the conformance run a person makes against a vendor's test account before
 * trusting a definition (the steps: vendor-conformance.ts). `<definition>` is a built-in vendor's
 * id, or else a definition file's path, read as the worker reads one named by an inventory.
 *
 * Refuses, with exit 2: a host other than this machine without `--yes` (the run makes and revokes
 * a real key there), a vendor with no key API, fields the definition does not declare or accept, a
 * management secret it cannot use. Exit 0 when every step passed, 1 when the vendor did not answer
 * as the definition says.
 *
 * Must not: print a key, the management secret or a base URL's user part.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { loadDefinitionFile } from "../config/load-definitions.js";
import { ConfigError, InvalidStateError } from "../core/errors.js";
import { AwsSecretStore, createSecretsManagerClient } from "../store/aws-secret-store.js";
import { BUILT_IN_REGISTRY } from "../vendors/registry.js";
import type { KeyApiModule, VendorModule } from "../vendors/vendor-module.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out, jsonError } from "./output.js";
import {
  CONFORMANCE_STEPS,
  type ConformanceReport,
  type StepResult,
  type VendorCall,
  runConformance,
} from "./vendor-conformance.js";

export interface VendorCheckOptions {
  baseUrl: string;
  managementSecret?: string;
  field?: string[];
  yes?: boolean;
  json?: boolean;
}

const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];
const WHO = "key-rotator vendor check";

export async function vendorCheckCommand(definition: string, o: VendorCheckOptions, out: Out): Promise<number> {
  const refuse = (problems: string[], where?: string) => {
    for (const p of problems) out.stderr(`${WHO}: ${where ? `${where}: ` : ""}${p}`);
    const message = `${where ? `${where}: ` : ""}${problems.join("; ")}`;
    if (o.json) out.stdout(jsonError("bad_input", message, { problems }));
    return EXIT_USAGE;
  };
  let module: KeyApiModule;
  let baseUrl: string;
  let fields: Record<string, string>;
  try {
    module = keyApiModuleOf(await definitionModule(definition));
    baseUrl = checkedBaseUrl(o.baseUrl, o.yes ?? false);
    fields = checkedFields(module, o);
  } catch (err) {
    if (err instanceof ConfigError) return refuse(err.problems, err.where);
    throw err;
  }

  const client = createSecretsManagerClient();
  try {
    const calls: VendorCall[] = [];
    const vendor = module.keyApi(
      { id: "conformance", secretId: o.managementSecret ?? "", baseUrl, fields },
      { store: new AwsSecretStore(client), onRequest: (operation, status) => calls.push({ operation, status }) },
    );
    const keyName = `key-rotator/conformance/${randomBytes(6).toString("hex")}`;
    if (!o.json) out.stdout(`Checking ${module.name} (${module.source}) at ${baseUrl} with a key named ${keyName}`);
    const report = await runConformance(
      {
        vendor,
        vendorId: module.id,
        value: module.value,
        takeCalls: () => calls.splice(0),
        ...(o.json ? {} : { onStep: (s: StepResult) => out.stdout(stepLine(s)) }),
      },
      keyName,
    );
    if (o.json) out.stdout(JSON.stringify(jsonReport(module, baseUrl, report)));
    else out.stdout(summary(module.name, report));
    return report.passed ? EXIT_OK : EXIT_FAILED;
  } catch (err) {
    // Raised before any request reached the vendor (runConformance): nothing was made.
    if (err instanceof ConfigError) return refuse(err.problems, err.where);
    if (err instanceof InvalidStateError) return refuse([`${err.message} (nothing was sent to the vendor)`]);
    throw err;
  } finally {
    client.destroy();
  }
}

/** A built-in vendor's id, or else a definition file's path (read within bounds, checked whole). */
async function definitionModule(definition: string): Promise<VendorModule> {
  return BUILT_IN_REGISTRY.has(definition) ? BUILT_IN_REGISTRY.get(definition) : loadDefinitionFile(definition);
}

function keyApiModuleOf(m: VendorModule): KeyApiModule {
  if (m.flow === "key-api") return m;
  throw new ConfigError([
    `${m.name} (${m.source}) has no key API to check: its keys are made by a person in the vendor's dashboard (flow: operator)`,
  ]);
}

/** The base URL, refused when it is not this machine and `--yes` was not given. */
function checkedBaseUrl(text: string, yes: boolean): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(["--base-url: not a URL (expected https://api.vendor.example or http://127.0.0.1:PORT)"]);
  }
  if (url.username || url.password || url.search || url.hash)
    throw new ConfigError(["--base-url: no user, password, query or fragment in a base URL"]);
  const shown = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  if (!LOOPBACK.includes(url.hostname) && !yes)
    throw new ConfigError([
      `--base-url ${shown} is not this machine (127.0.0.1, localhost or [::1]): the check makes and revokes a real key there. If it is a test account you mean to use, run again with --yes`,
    ]);
  return shown;
}

/** The definition's fields from `--field name=value`, the management secret's id in its own field. */
function checkedFields(m: KeyApiModule, o: VendorCheckOptions): Record<string, string> {
  const declared = Object.keys(m.fields);
  const secretField = m.managementSecretField;
  const problems: string[] = [];
  const given: Record<string, string> = {};
  for (const entry of o.field ?? []) {
    const at = entry.indexOf("=");
    const name = at < 0 ? entry : entry.slice(0, at);
    if (at < 0) problems.push(`--field ${name}: expected name=value`);
    else if (name === secretField)
      problems.push(`--field ${name}: give the management secret's id as --management-secret`);
    else if (!declared.includes(name))
      problems.push(
        `--field ${name}: ${m.name} has no field ${name} (its fields: ${declared.filter((f) => f !== secretField).join(", ") || "none"})`,
      );
    else if (name in given) problems.push(`--field ${name}: given twice`);
    else given[name] = entry.slice(at + 1);
  }
  if (secretField && o.managementSecret === undefined)
    problems.push(`${m.name} reads its management credential from a secret: give --management-secret <secret id>`);
  if (!secretField && o.managementSecret !== undefined)
    problems.push(`--management-secret: ${m.name}'s definition reads no management secret; leave it out`);
  if (secretField && o.managementSecret !== undefined) given[secretField] = o.managementSecret;
  const parsed = z.object(m.fields).safeParse(given);
  if (!parsed.success)
    for (const i of parsed.error.issues) {
      const field = String(i.path[0] ?? "");
      if (field === secretField && o.managementSecret === undefined) continue;
      problems.push(`${field === secretField ? "--management-secret" : `--field ${field}`}: ${i.message}`);
    }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed.data as Record<string, string>;
}

function stepLine(s: StepResult): string {
  const n = CONFORMANCE_STEPS.indexOf(s.step as (typeof CONFORMANCE_STEPS)[number]);
  const place = n < 0 ? "   " : `${n + 1}/${CONFORMANCE_STEPS.length}`;
  const verdict = s.ok ? "ok  " : s.detail.startsWith("skipped:") ? "skip" : "FAIL";
  const status = s.status === null ? (s.calls.length > 0 ? "err" : "-") : String(s.status);
  // A step of more than one call (a login first, pages of a list) shows them all.
  const calls = s.calls.length > 1 ? ` (calls: ${s.calls.map((c) => `${c.operation} ${c.status}`).join(", ")})` : "";
  return `${place} ${s.step.padEnd(15)} ${status.padStart(3)}  ${verdict}  ${s.detail}${calls}`;
}

function summary(name: string, r: ConformanceReport): string {
  if (r.passed)
    return `PASSED: ${name} answered as its definition says (${CONFORMANCE_STEPS.length} of ${CONFORMANCE_STEPS.length} steps)`;
  const failed = r.steps.filter((s) => !s.ok && s.step !== "cleanup").map((s) => s.step);
  const left = r.keyLeftBehind
    ? `; key ${r.keyId ?? r.keyName} may still be alive at ${name}: revoke it by hand`
    : "; no key is left at the vendor";
  return `FAILED: ${name} did not answer as its definition says (${failed.join(", ")})${left}`;
}

function jsonReport(m: KeyApiModule, baseUrl: string, r: ConformanceReport) {
  return {
    vendor: m.id,
    name: m.name,
    source: m.source,
    baseUrl,
    keyName: r.keyName,
    keyId: r.keyId,
    passed: r.passed,
    keyLeftBehind: r.keyLeftBehind,
    steps: r.steps.map((s) => ({ step: s.step, ok: s.ok, status: s.status, detail: s.detail, calls: s.calls })),
  };
}
