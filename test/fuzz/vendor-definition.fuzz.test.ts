/**
 * Fuzzing the vendor-definition parser (issue 18 item 5): whatever a definition file holds,
 * `parseDefinition` returns a definition or throws a ConfigError naming the file, whose problems
 * are each `path: message` (or a YAML position); never another exception, never a stack trace.
 * And what it accepts keeps its promises: no secret placeholder in a path or a query, every path
 * relative to the base URL. A malformed definition named by an inventory stops `check-config`
 * with exit 2 (the integration test definition-only-vendor.test.ts runs the CLI).
 */
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../../src/core/errors.js";
import type { VendorDefinition } from "../../src/vendors/definition/definition-schema.js";
import { parseDefinition } from "../../src/vendors/definition/load-definition.js";
import { isSecretName, placeholders } from "../../src/vendors/definition/template.js";
import { RUNS, STACK_FRAME, anyString, applyMutation, treeMutation, yamlOf } from "./fuzz-support.js";

const FILE = "/defs/fuzz-vendor.yaml";
const DIR = new URL("../../vendors/", import.meta.url);
const BUILT_IN = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => readFileSync(new URL(f, DIR), "utf8"));
const PROBLEM = /^(?:line \d+, column \d+: \S|\(top level\)|[A-Za-z][^]*: \S)/;

/** The property: a definition that keeps its promises, or a well-formed ConfigError naming the file. */
function expectDefinitionOrConfigError(text: string): void {
  let d: VendorDefinition;
  try {
    d = parseDefinition(text, FILE);
  } catch (err) {
    if (!(err instanceof ConfigError))
      throw new Error(`parseDefinition threw ${String(err)} for ${JSON.stringify(text).slice(0, 400)}`);
    expect(err.message.startsWith(`${FILE}: `)).toBe(true);
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) {
      expect(p).toMatch(PROBLEM);
      expect(p).not.toMatch(STACK_FRAME);
    }
    return;
  }
  for (const call of Object.values(d.calls)) {
    expect(call.path.startsWith("/") && !call.path.startsWith("//")).toBe(true);
    const inUrl = [call.path, ...Object.values(call.query)].flatMap(placeholders);
    expect(inUrl.filter(isSecretName)).toEqual([]);
  }
}

describe("parseDefinition under fuzzing", () => {
  it("every built-in definition is valid (the mutations start from good documents)", () => {
    expect(BUILT_IN.length).toBeGreaterThanOrEqual(2);
    for (const text of BUILT_IN) expect(() => parseDefinition(text, FILE)).not.toThrow();
  });

  it("arbitrary strings: a definition or a ConfigError of `path: message` problems", () => {
    fc.assert(
      fc.property(anyString, (text) => expectDefinitionOrConfigError(text)),
      { numRuns: RUNS },
    );
  });

  it("mutations of the built-in definitions (drop a key, retype a value, rename a key)", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: BUILT_IN.length - 1 }),
        fc.array(treeMutation, { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          const doc = parseYaml(BUILT_IN[which] ?? "") as object;
          for (const m of mutations) applyMutation(doc, m);
          expectDefinitionOrConfigError(yamlOf(doc));
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it.each([
    [
      "a secret in a path",
      ["calls", "revoke", "path"],
      "/keys/{{secret.password}}",
      /calls\.revoke\.path: \{\{secret\.password\}\} is a secret/,
    ],
    [
      "a key in a query",
      ["calls", "verify", "query"],
      { k: "{{key.secret}}" },
      /calls\.verify\.query\.k: \{\{key\.secret\}\} is a secret/,
    ],
    [
      "an absolute URL as a path",
      ["calls", "create", "path"],
      "https://evil.test/keys",
      /calls\.create\.path: a path starts with one \//,
    ],
    [
      "a scheme-relative path",
      ["calls", "list", "path"],
      "//evil.test/keys",
      /calls\.list\.path: a path starts with one \//,
    ],
    [
      "a placeholder the call lacks",
      ["calls", "create", "body"],
      { id: "{{keyId}}" },
      /calls\.create\.body: \{\{keyId\}\} is not known here/,
    ],
    ["an undeclared field", ["account"], "{{fields.region}}", /account: \{\{fields\.region\}\}: no such field/],
    [
      "a broken placeholder",
      ["calls", "verify", "path"],
      "/health{{",
      /calls\.verify\.path: a '\{\{' that is not a placeholder/,
    ],
    [
      "a session token in a create header",
      ["calls", "create", "headers"],
      { x: "{{session.token}}" },
      /calls\.create\.headers\.x: \{\{session\.token\}\} is not known here/,
    ],
    ["an unknown flow", ["flow"], "magic", /flow: expected flow "key-api" or "operator"/],
    ["an id with capitals", ["id"], "CallCov", /id: expected lowercase letters and digits/],
    ["a bad regular expression", ["key", "pattern"], "^sk_(", /key\.pattern: not a valid regular expression/],
  ])("%s: refused with its path", (_what, path, value, message) => {
    const doc = parseYaml(BUILT_IN.find((t) => t.includes("id: callcov")) ?? "") as Record<string, unknown>;
    let node = doc;
    for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>;
    node[path[path.length - 1] ?? ""] = value;
    const err = (() => {
      try {
        parseDefinition(yamlOf(doc), FILE);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(message);
    expect((err as ConfigError).message.startsWith(`${FILE}: `)).toBe(true);
  });

  it("YAML syntax errors carry their line and column", () => {
    expect(() => parseDefinition("id: x\nname: [unclosed\n", FILE)).toThrow(/line \d+, column \d+/);
    expect(() => parseDefinition("id: x\nid: y\n", FILE)).toThrow(ConfigError);
  });
});
