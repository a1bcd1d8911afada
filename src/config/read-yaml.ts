/**
 * Turns an inventory's YAML text into a plain JS value, or throws a ConfigError with every problem
 * at once (syntax errors with line and column, duplicate keys, an alias bomb past maxAliasCount).
 *
 * Two readers. The `yaml` package's Document tree costs about 11 KiB per credential (1.1 GiB for
 * 100,000), so the common shape of an inventory (block mappings and sequences of one-line plain or
 * quoted scalars, comments) is read line by line by plainBlockYaml, which builds the value and
 * nothing else. Anything else, and anything wrong, goes to the full parser, which gives the errors
 * and reads the rest of YAML; the fast reader must never return a value the full one would not.
 *
 * Every string of the value is its own, not a slice of the text: the text (20 MB at 100,000
 * credentials) is garbage once read, and the value's strings stay with the worker as long as it runs.
 *
 * Must not: validate the inventory (inventory-schema.ts does), or keep slices of the text.
 */
import { LineCounter, parse, parseDocument } from "yaml";
import { ConfigError } from "../core/errors.js";

export function readYaml(text: string, sourceName: string): unknown {
  const fast = plainBlockYaml(text);
  if (fast !== undefined) return fast.value;
  return ownStrings(fullYaml(text, sourceName), new RecentValues(), new Set());
}

function fullYaml(text: string, sourceName: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ""}${e.message.split("\n")[0] ?? e.message}`;
      }),
      sourceName,
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Aliases are resolved here, not while parsing: a missing anchor or an alias bomb lands here.
    throw new ConfigError(
      [
        `(top level): the YAML cannot be read: ${err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err)}`,
      ],
      sourceName,
    );
  }
}

/**
 * What the readers have made lately, by the text it was made from: a string as its own copy (a
 * slice of the text would keep the whole text alive), and a scalar the `yaml` package read. So a
 * value repeated on every credential (vendor, base URL, management secret) is held once, not
 * 100,000 times. Bounded: it forgets all it holds past RECENT_VALUES (a repeated value is then
 * made once more), so ids seen once do not pile up in it (200,000 of them cost 13 MB).
 */
class RecentValues {
  readonly #values = new Map<string, unknown>();

  /** The value made for `source`, made by `make` if it is not among the recent ones. */
  get(source: string, make: (source: string) => unknown): unknown {
    if (this.#values.has(source)) return this.#values.get(source);
    const value = make(source);
    if (this.#values.size >= RECENT_VALUES) this.#values.clear();
    this.#values.set(source, value);
    return value;
  }

  own(text: string): string {
    return this.get(text, ownCopy) as string;
  }
}

const RECENT_VALUES = 4_096;

/** A string not sharing the memory of the one it came from (structuredClone makes it flat and new). */
function ownCopy(text: string): string {
  return structuredClone(text);
}

/** The full reader's value with each string its own (in place: its objects are new; aliases may share or loop). */
function ownStrings(value: unknown, recent: RecentValues, visited: Set<object>): unknown {
  if (typeof value === "string") return recent.own(value);
  if (value === null || typeof value !== "object" || visited.has(value)) return value;
  visited.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = ownStrings(value[i], recent, visited);
  } else {
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) fields[key] = ownStrings(fields[key], recent, visited);
  }
  return value;
}

/** Thrown inside plainBlockYaml when the text leaves the shape it reads: the full parser takes over. */
class NotPlain extends Error {}

const KEY = /^([A-Za-z_][A-Za-z0-9_./-]*):(?: +(.*))?$/;
const DOUBLE_QUOTED = /^"(?:[^"\\]|\\.)*"$/;
const SINGLE_QUOTED = /^'(?:[^']|'')*'$/;
// The plain scalars the core schema reads as themselves: a letter first, none of its other words.
const PLAIN_STRING = /^[A-Za-z][^:#]*$/;
const NOT_STRINGS = new Set(["null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"]);
// Indicators that start something this reader leaves to the full parser (flow, anchor, tag, block scalar...).
const INDICATORS = new Set([..."[]{}!&*|>%@`,?:#"]);

/**
 * The value of `text` if it is a single document of block mappings and sequences whose scalars each
 * fit on their line, else undefined. Scalars other than plain strings are read by the `yaml`
 * package itself, one at a time (each distinct text once among the recent ones), so they mean
 * what they mean there.
 */
export function plainBlockYaml(text: string): { value: unknown } | undefined {
  if (text.includes("\t") || text.charCodeAt(0) === 0xfeff) return undefined;
  try {
    const lines = new Lines(text);
    const first = lines.peek();
    if (first === undefined || first.indent !== 0) return undefined;
    const value = readNode(lines, 0, new RecentValues());
    if (lines.peek() !== undefined) return undefined;
    return { value };
  } catch (err) {
    if (err instanceof NotPlain) return undefined;
    throw err;
  }
}

function readNode(lines: Lines, indent: number, recent: RecentValues): unknown {
  const line = lines.peek();
  if (line === undefined || line.indent !== indent) throw new NotPlain();
  if (isItem(line.content)) return readSequence(lines, indent, recent);
  return readMapping(lines, indent, recent);
}

function readMapping(lines: Lines, indent: number, recent: RecentValues): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (let line = lines.peek(); line !== undefined && line.indent === indent; line = lines.peek()) {
    if (isItem(line.content)) break;
    const match = KEY.exec(line.content);
    if (!match) throw new NotPlain();
    const key = match[1] ?? "";
    if (seen.has(key) || key === "__proto__" || NOT_STRINGS.has(key)) throw new NotPlain();
    seen.add(key);
    lines.next();
    const rest = match[2];
    let value: unknown = null;
    if (rest !== undefined && rest !== "") value = scalar(rest, recent);
    else {
      const next = lines.peek();
      if (next !== undefined && next.indent > indent) value = readNode(lines, next.indent, recent);
      // A sequence may sit at its key's own indent.
      else if (next !== undefined && next.indent === indent && isItem(next.content))
        value = readSequence(lines, indent, recent);
    }
    map[key] = value;
  }
  const after = lines.peek();
  if (after !== undefined && after.indent > indent) throw new NotPlain();
  return map;
}

function readSequence(lines: Lines, indent: number, recent: RecentValues): unknown[] {
  const list: unknown[] = [];
  for (let line = lines.peek(); line !== undefined && line.indent === indent; line = lines.peek()) {
    if (!isItem(line.content)) break;
    const rest = line.content.slice(1).replace(/^ +/, "");
    if (rest === "") {
      lines.next();
      const next = lines.peek();
      list.push(next !== undefined && next.indent > indent ? readNode(lines, next.indent, recent) : null);
      continue;
    }
    const restIndent = indent + line.content.length - rest.length;
    if (isItem(rest) || KEY.test(rest)) {
      // `- id: x` opens a mapping (or a sequence) at the column of `id`: read this line again as that.
      lines.replace({ indent: restIndent, content: rest });
      list.push(readNode(lines, restIndent, recent));
    } else {
      lines.next();
      list.push(scalar(rest, recent));
      const next = lines.peek();
      if (next !== undefined && next.indent > indent) throw new NotPlain();
    }
  }
  const after = lines.peek();
  if (after !== undefined && after.indent > indent) throw new NotPlain();
  return list;
}

function isItem(content: string): boolean {
  return content === "-" || content.startsWith("- ");
}

function scalar(source: string, recent: RecentValues): unknown {
  if (PLAIN_STRING.test(source) && !NOT_STRINGS.has(source) && !source.includes(": ")) return recent.own(source);
  return recent.get(source, readScalar);
}

/** A scalar other than a plain string, as the `yaml` package reads it. */
function readScalar(source: string): unknown {
  const first = source[0] ?? "";
  const quoted = first === '"' ? DOUBLE_QUOTED.test(source) : first === "'" ? SINGLE_QUOTED.test(source) : undefined;
  if (quoted === false) throw new NotPlain();
  if (quoted === undefined && (INDICATORS.has(first) || /: |:$|^---|^\.\.\./.test(source))) throw new NotPlain();
  let value: unknown;
  try {
    value = parse(source, { prettyErrors: false, uniqueKeys: true, maxAliasCount: 100 });
  } catch {
    throw new NotPlain();
  }
  if (value !== null && typeof value === "object") throw new NotPlain();
  return typeof value === "string" ? ownCopy(value) : value;
}

interface Line {
  indent: number;
  content: string;
}

/** The text's lines that carry something (not blank, not only a comment), one at a time. */
class Lines {
  readonly #text: string;
  #at = 0;
  #current: Line | undefined;

  constructor(text: string) {
    this.#text = text;
    this.#current = this.#read();
  }

  peek(): Line | undefined {
    return this.#current;
  }

  next(): void {
    this.#current = this.#read();
  }

  replace(line: Line): void {
    this.#current = line;
  }

  #read(): Line | undefined {
    const text = this.#text;
    while (this.#at < text.length) {
      let end = text.indexOf("\n", this.#at);
      if (end < 0) end = text.length;
      let raw = text.slice(this.#at, end);
      this.#at = end + 1;
      if (raw.endsWith("\r")) raw = raw.slice(0, -1);
      const content = stripComment(raw.trimStart()).trimEnd();
      if (content === "") continue;
      if (raw.startsWith("---") || raw.startsWith("...") || raw.startsWith("%")) throw new NotPlain();
      return { indent: raw.length - raw.trimStart().length, content };
    }
    return undefined;
  }
}

/** The line without its comment; a `#` this reader cannot place for sure (within quotes) is left to the full parser. */
function stripComment(content: string): string {
  if (content.startsWith("#")) return "";
  const hash = content.indexOf(" #");
  if (hash < 0) return content;
  if (content.includes('"') || content.includes("'")) throw new NotPlain();
  return content.slice(0, hash);
}
