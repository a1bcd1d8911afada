/**
 * Parses what a person hands `key-rotator submit` for an operator-assisted vendor: the key's parts
 * (its definition's `key.parts`) as one line each in order, as one line joined by `key.joinedBy`,
 * or as a JSON object by the parts' names or the vendor's own (`aliases`). One trailing newline,
 * CRLF line ends and a byte-order mark are tolerated; everything else that is off is a ConfigError
 * naming what is wrong, all problems at once.
 * Must not: trim a part (a vendor refuses a key with stray spaces, so trimming would hide the
 * mistake until it does), or quote any part of the input in an error.
 */
import { ConfigError } from "../../core/errors.js";
import type { OperatorDefinition } from "./definition-schema.js";

const UTF8_BOM = "\ufeff";

export function parseSubmission(d: OperatorDefinition, input: Buffer | string): Record<string, string> {
  const where = `${d.name} ${d.guide.noun} on standard input`;
  const parts = Object.entries(d.key.parts);
  const label = (name: string) => d.key.parts[name]?.aliases[0] ?? name;
  const names = parts.map(([name]) => label(name));
  const text = decode(input, d.key.maxInputBytes, names, where);
  const values = text.trimStart().startsWith("{") ? fromJson(d, text, where) : fromLines(d, text, names, where);
  const problems: string[] = [];
  for (const [name, part] of parts) {
    const value = values[name] ?? "";
    const shown = label(name);
    if (value === "") problems.push(`${shown} is empty`);
    else if (value.trim() !== value) problems.push(`leading/trailing whitespace in ${shown}`);
    else if (/\s/.test(value)) problems.push(`whitespace inside ${shown}`);
    else if (/[^\x20-\x7e]/.test(value)) problems.push(`non-printable characters in ${shown}`);
    else {
      const before = problems.length;
      if (part.maxLength !== undefined && value.length > part.maxLength)
        problems.push(`${shown} is too long (${value.length} characters; at most ${part.maxLength})`);
      if (part.minLength !== undefined && value.length < part.minLength)
        problems.push(`${shown} is too short (${value.length} characters; at least ${part.minLength})`);
      if (problems.length === before && !new RegExp(part.pattern).test(value)) problems.push(`${shown}: ${part.hint}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, where);
  return values;
}

/** Text of the input, minus a leading BOM (Windows tools add one) and one trailing newline. */
function decode(input: Buffer | string, max: number, names: string[], where: string): string {
  const bytes = typeof input === "string" ? Buffer.byteLength(input, "utf8") : input.length;
  if (bytes > max) throw new ConfigError([`input is too long (${bytes} bytes; at most ${max})`], where);
  let text = typeof input === "string" ? input : input.toString("utf8");
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  // A binary paste (a file, a clipboard image) is reported before anything else, which would
  // otherwise give odd errors. Tab, CR and LF pass here and are reported below.
  if (/[^\x20-\x7e\t\r\n]/.test(text))
    throw new ConfigError(["input contains binary or non-printable bytes; expected the key as plain text"], where);
  if (text.endsWith("\r\n")) text = text.slice(0, -2);
  else if (text.endsWith("\n")) text = text.slice(0, -1);
  if (text.trim() === "") throw new ConfigError([`input is empty: expected ${names.join(" and ")}`], where);
  return text;
}

function fromLines(d: OperatorDefinition, text: string, names: string[], where: string): Record<string, string> {
  const partNames = Object.keys(d.key.parts);
  const lines = text.split(/\r?\n/);
  const joined = d.key.joinedBy;
  const forms =
    partNames.length === 1
      ? `one line (${names[0] ?? ""})`
      : `${names.length} lines (${names.join(", then ")})${joined ? ` or one line ${names.join(joined)}` : ""}`;
  if (lines.some((l) => l.includes("\r")))
    throw new ConfigError(["a carriage return (CR) without a line feed; end lines with LF or CRLF"], where);
  // A key of one part is its one line, whatever characters it holds (joinedBy splits only pairs).
  if (partNames.length === 1 && lines.length === 1) return { [partNames[0] ?? ""]: lines[0] ?? "" };
  if (lines.length === partNames.length && partNames.length > 1) {
    if (joined && lines[0]?.includes(joined))
      throw new ConfigError(
        [`the first line is a joined ${d.guide.noun} and more lines follow; give one form only`],
        where,
      );
    return Object.fromEntries(partNames.map((name, i) => [name, lines[i] ?? ""]));
  }
  if (lines.length !== 1 || !joined) {
    const blank = lines.at(-1) === "" ? " (the input ends with a blank line)" : "";
    throw new ConfigError([`expected ${forms}, found ${lines.length} lines${blank}`], where);
  }
  const pieces = (lines[0] ?? "").split(joined);
  if (pieces.length === 1 && partNames.length > 1) throw new ConfigError([`only one field: expected ${forms}`], where);
  if (pieces.length !== partNames.length)
    throw new ConfigError(
      [
        `expected ${partNames.length === 2 ? "one" : partNames.length - 1} '${joined}' between ${names.join(" and ")}, found ${pieces.length - 1}`,
      ],
      where,
    );
  return Object.fromEntries(partNames.map((name, i) => [name, pieces[i] ?? ""]));
}

function fromJson(d: OperatorDefinition, text: string, where: string): Record<string, string> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the input, so it is not passed on.
    throw new ConfigError(["input starts with '{' but is not valid JSON"], where);
  }
  const parts = Object.entries(d.key.parts);
  const ours = parts.map(([name]) => name);
  const theirs = parts.map(([name, p]) => p.aliases[0] ?? name);
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ConfigError(
      [`JSON input: expected an object with ${ours.join(" and ")} (or ${theirs.join(" and ")})`],
      where,
    );
  const record = body as Record<string, unknown>;
  // One set of names: ours (as stored) or the vendor's own.
  const keys = theirs.some((k) => Object.hasOwn(record, k) && !ours.includes(k)) ? theirs : ours;
  const problems: string[] = [];
  const extra = Object.keys(record).filter((k) => !keys.includes(k));
  // Unknown field names are not quoted (a pasted secret could sit in one).
  if (extra.length > 0)
    problems.push(`JSON input: ${extra.length} unexpected field(s); expected only ${keys.join(" and ")}`);
  for (const name of keys) {
    if (!Object.hasOwn(record, name)) problems.push(`JSON input: ${name} is missing`);
    else if (typeof record[name] !== "string") problems.push(`JSON input: ${name} must be a string`);
  }
  if (problems.length > 0) throw new ConfigError(problems, where);
  return Object.fromEntries(ours.map((name, i) => [name, record[keys[i] ?? name] as string]));
}
