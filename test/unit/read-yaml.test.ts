/**
 * The line reader of plain block YAML (read-yaml.ts) against the `yaml` package: whatever text it
 * reads, it reads as the full parser does, and it leaves every text the full parser refuses (or
 * reads with anchors, flow collections, block scalars...) to the full parser.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDocument, stringify } from "yaml";
import { plainBlockYaml, readYaml } from "../../src/config/read-yaml.js";
import { ConfigError } from "../../src/core/errors.js";

function full(text: string): { ok: true; value: unknown } | { ok: false } {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) };
  } catch {
    return { ok: false };
  }
}

function expectAgrees(text: string): void {
  const fast = plainBlockYaml(text);
  if (fast === undefined) return;
  expect(full(text)).toEqual({ ok: true, value: fast.value });
}

const scalar = fc.oneof(
  fc.string(),
  fc.constantFrom("90d", "0s", "true", "False", "null", "~", "0x1F", "1e3", ".inf", "-1", "a: b", "a #b", "---", "'q'"),
  fc.constantFrom("http://127.0.0.1:4000/x#y", "bench/cc-000001", "cc-1", "Yes", "on", "2026-01-01"),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.oneof(
  fc.constantFrom("id", "vendor", "rotation", "every", "a.b", "_x", "true", "1", "k-2"),
  fc.string(),
);
const tree = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("map")),
  list: fc.array(tie("node"), { maxLength: 4 }),
  map: fc.dictionary(key, tie("node"), { maxKeys: 5 }),
})).map;

describe("readYaml's line reader", () => {
  it("reads an inventory as the yaml package does", () => {
    const text = [
      "# an inventory",
      "settings:",
      "  queuePrefix: kr   # a comment",
      "  httpPort: 8080",
      "  flag: true",
      "credentials:",
      "- id: cc",
      "  vendor: callcov",
      "  baseUrl: 'http://x:1/#a'",
      '  note: "tab\\there"',
      "  rotation:",
      "    every: 90d",
      "  list:",
      "    - - 1",
      "      - -2.5",
      "    -",
      "    - ~",
      "",
    ].join("\r\n");
    expect(plainBlockYaml(text)).toBeDefined();
    expectAgrees(text);
  });

  it("agrees with the yaml package on any value it writes", () => {
    fc.assert(
      fc.property(tree, fc.constantFrom(2, 4), fc.boolean(), (value, indent, indentSeq) => {
        expectAgrees(stringify(value, { indent, indentSeq }));
      }),
      { numRuns: 400 },
    );
  });

  it("agrees with the yaml package on broken text, or leaves it to it", () => {
    const base = stringify({ settings: { a: 1 }, credentials: [{ id: "x", rotation: { every: "9d" } }, { id: "y" }] });
    fc.assert(
      fc.property(
        fc.nat(base.length),
        fc.nat(4),
        fc.constantFrom(" ", "\n", "-", ":", "#", "'", '"', "  ", "a", "&", "*", "\t", "x: 1\n"),
        (at, cut, insert) => expectAgrees(base.slice(0, at) + insert + base.slice(at + cut)),
      ),
      { numRuns: 1000 },
    );
  });

  it("leaves duplicate keys, aliases and several documents to the full parser, which reports them", () => {
    for (const text of ["a: 1\na: 2\n", "a: &x 1\nb: *x\n", "a: 1\n---\nb: 2\n", "a: [1, 2]\n", "a: |\n  x\n"])
      expect(plainBlockYaml(text)).toBeUndefined();
    expect(() => readYaml("a: 1\na: 2\n", "inv.yaml")).toThrow(ConfigError);
    expect(() => readYaml("a: 1\na: 2\n", "inv.yaml")).toThrow(/line 2, column 1/);
  });

  // The full reader's strings are made its own in place: an alias that loops must not loop that walk.
  it("reads an alias of a mapping inside itself as the full parser does, the loop kept", () => {
    const value = readYaml("a: &x\n  name: a long name of a map\n  self: *x\nb: *x\n", "inv.yaml") as {
      a: { name: string; self: unknown };
      b: unknown;
    };
    expect(value.a.name).toBe("a long name of a map");
    expect(value.a.self).toBe(value.a);
    expect(value.b).toBe(value.a);
  });
});
