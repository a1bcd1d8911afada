/**
 * Small helpers shared by the property-based input fuzzing tests (issue 7 item 4).
 * Nothing here talks to the network or the file system.
 */
import fc from "fast-check";
import { stringify as stringifyYaml } from "yaml";

/** Runs per property: enough to find shape bugs, small enough to keep each file under ~10 s. */
export const RUNS = 200;

/** A JS stack frame as Node prints it; no message shown to a person may contain one. */
export const STACK_FRAME = /\n\s+at |^\s{4}at /m;

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Letters and digits only, of the given length range. */
export function alnum(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...ALNUM.split("")), minLength, maxLength });
}

/** A CallCov-looking live key: `sk_live_` + 16 letters and digits. */
export const keyLike: fc.Arbitrary<string> = alnum(16, 16).map((s) => `sk_live_${s}`);

/** Printable ASCII without space (safe in an HTTP request target). */
export function visibleAscii(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength,
    maxLength,
  });
}

/** Strings of every kind fast-check knows: ASCII, full Unicode (lone surrogates too), and bytes. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "grapheme", maxLength: 100 }),
  fc.string({ unit: "binary", maxLength: 100 }),
  fc.string({ unit: "binary-ascii", maxLength: 200 }),
);

/** Every window of `length` characters in `text` (the whole text when it is shorter). */
export function windows(text: string, length: number): string[] {
  if (text.length <= length) return [text];
  const out: string[] = [];
  for (let i = 0; i + length <= text.length; i++) out.push(text.slice(i, i + length));
  return out;
}

/** A YAML document rendered from any JS value ("" when it cannot be). */
export function yamlOf(value: unknown): string {
  try {
    return String(stringifyYaml(value) ?? "");
  } catch {
    return "";
  }
}

/** Every path (list of keys) into a JSON-like tree, the root included. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value !== null && typeof value === "object")
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

/** A change to one node of a document tree: dropped, replaced by another value, or its key renamed. */
export type TreeMutation =
  | { kind: "drop"; at: number }
  | { kind: "replace"; at: number; value: unknown }
  | { kind: "rename-key"; at: number; name: string };

/** Values a config file gets wrong: wrong types, edge numbers, near-miss strings. */
const replacement: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    Number.POSITIVE_INFINITY,
    "1e400",
    "",
    " ",
    "90d",
    "0s",
    "1ms",
    "99999999999999999999d",
    "https://x",
    "http://",
    "//evil.test/x",
    "{{secret.password}}",
    "{{key.secret}}",
    "{{nope}}",
    "{{",
    "{key-rotator}",
    "* * * * *",
    "Mars/Olympus",
    [],
    {},
  ),
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

export const treeMutation: fc.Arbitrary<TreeMutation> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), value: replacement }),
  fc.record({ kind: fc.constant("rename-key" as const), at: fc.nat(), name: fc.string({ maxLength: 12 }) }),
);

/** Applies one mutation to the node `at` picks (modulo the number of nodes), in place. */
export function applyMutation(doc: object, m: TreeMutation): void {
  const paths = pathsOf(doc).filter((p) => p.length > 0);
  const path = paths[m.at % Math.max(1, paths.length)];
  if (!path) return;
  let parent = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path[path.length - 1] as string | number;
  if (m.kind === "drop") {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else if (m.kind === "replace") {
    parent[key] = structuredClone(m.value);
  } else if (!Array.isArray(parent)) {
    const value = parent[key];
    delete parent[key];
    parent[m.name] = value;
  }
}
