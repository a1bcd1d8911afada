/**
 * Parses the JustCall pair an operator hands in with `key-rotator submit <credential>` (standard
 * input): two lines (api_key, then api_secret), one line `api_key:api_secret`, or JSON
 * `{"apiKey": ..., "apiSecret": ...}` or, in JustCall's own names, `{"api_key": ..., "api_secret": ...}`. One trailing newline and CRLF line ends are tolerated;
 * everything else that is off is a ConfigError naming what is wrong, all problems at once.
 * Must not: trim a field (JustCall refuses a pair with stray spaces, so trimming here would hide
 * the mistake until the vendor refuses it), or quote any part of the input in an error.
 */
import { ConfigError } from "../../core/errors.js";
import { SecretValue } from "../../core/secret.js";
import { justcallValue } from "./justcall-value.js";

const WHERE = "JustCall pair on standard input";
/** Generous for JSON around a 128-character key and a 256-character secret. */
export const MAX_PAIR_INPUT_BYTES = 2048;
// The same limits as the stored-value shape (justcall-value.ts); parsing with it is the
// final check, so a drift between the two shows as a failing test rather than a bad store write.
const FIELDS = {
  api_key: { min: 6, max: 128 },
  api_secret: { min: 6, max: 256 },
} as const;
type FieldName = keyof typeof FIELDS;
const UTF8_BOM = "\ufeff";

export interface JustCallPairInput {
  apiKey: string;
  apiSecret: SecretValue;
}

export function parseJustCallPairInput(input: Buffer | string): JustCallPairInput {
  const text = decode(input);
  const fields = text.trimStart().startsWith("{") ? fromJson(text) : fromLines(text);
  const problems = [...checkField("api_key", fields.apiKey), ...checkField("api_secret", fields.apiSecret)];
  if (problems.length > 0) throw new ConfigError(problems, WHERE);
  try {
    justcallValue.parse(
      new SecretValue(JSON.stringify({ vendor: "justcall", apiKey: fields.apiKey, apiSecret: fields.apiSecret })),
      WHERE,
    );
  } catch (err) {
    throw new ConfigError([err instanceof Error ? err.message : "the pair does not have the stored shape"]);
  }
  return { apiKey: fields.apiKey, apiSecret: new SecretValue(fields.apiSecret) };
}

/** Text of the input, minus a leading BOM (Windows tools add one) and one trailing newline. */
function decode(input: Buffer | string): string {
  const bytes = typeof input === "string" ? Buffer.byteLength(input, "utf8") : input.length;
  if (bytes > MAX_PAIR_INPUT_BYTES)
    throw new ConfigError([`input is too long (${bytes} bytes; at most ${MAX_PAIR_INPUT_BYTES})`], WHERE);
  let text = typeof input === "string" ? input : input.toString("utf8");
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  // Bytes that are not printable ASCII are never part of a pair: report them before anything
  // else, because a binary paste (a file, a clipboard image) would otherwise give odd errors.
  // Tab, CR and LF pass here and are reported below as whitespace or line breaks.
  if (/[^\x20-\x7e\t\r\n]/.test(text))
    throw new ConfigError(["input contains binary or non-printable bytes; expected the pair as plain text"], WHERE);
  if (text.endsWith("\r\n")) text = text.slice(0, -2);
  else if (text.endsWith("\n")) text = text.slice(0, -1);
  if (text.trim() === "") throw new ConfigError(["input is empty: expected api_key and api_secret"], WHERE);
  return text;
}

function fromLines(text: string): { apiKey: string; apiSecret: string } {
  const lines = text.split(/\r?\n/);
  if (lines.some((l) => l.includes("\r")))
    throw new ConfigError(["a carriage return (CR) without a line feed; end lines with LF or CRLF"], WHERE);
  if (lines.length > 2) {
    const blank = lines.at(-1) === "" ? " (the input ends with a blank line)" : "";
    throw new ConfigError(
      [
        `expected two lines (api_key, then api_secret) or one line api_key:api_secret, found ${lines.length} lines${blank}`,
      ],
      WHERE,
    );
  }
  if (lines.length === 2) {
    const [apiKey = "", apiSecret = ""] = lines;
    if (apiKey.includes(":"))
      throw new ConfigError(
        ["the first line is an api_key:api_secret pair and a second line follows; give one form only"],
        WHERE,
      );
    return { apiKey, apiSecret };
  }
  const line = lines[0] ?? "";
  const parts = line.split(":");
  if (parts.length === 1)
    throw new ConfigError(
      ["only one field: expected api_key and api_secret on two lines, or api_key:api_secret on one"],
      WHERE,
    );
  if (parts.length > 2)
    throw new ConfigError([`expected one ':' between api_key and api_secret, found ${parts.length - 1}`], WHERE);
  return { apiKey: parts[0] ?? "", apiSecret: parts[1] ?? "" };
}

function fromJson(text: string): { apiKey: string; apiSecret: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the input, so it is not passed on.
    throw new ConfigError(["input starts with '{' but is not valid JSON"], WHERE);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ConfigError(
      ["JSON input: expected an object with apiKey and apiSecret (or api_key and api_secret)"],
      WHERE,
    );
  const record = body as Record<string, unknown>;
  // Ours (apiKey, apiSecret, as stored) or JustCall's own (api_key, api_secret), one pair of names.
  const [key, secret] =
    "api_key" in record || "api_secret" in record ? ["api_key", "api_secret"] : ["apiKey", "apiSecret"];
  const problems: string[] = [];
  const extra = Object.keys(record).filter((k) => k !== key && k !== secret);
  // Unknown field names are not quoted (a pasted secret could sit in one).
  if (extra.length > 0)
    problems.push(`JSON input: ${extra.length} unexpected field(s); expected only ${key} and ${secret}`);
  for (const name of [key, secret]) {
    if (!(name in record)) problems.push(`JSON input: ${name} is missing`);
    else if (typeof record[name] !== "string") problems.push(`JSON input: ${name} must be a string`);
  }
  if (problems.length > 0) throw new ConfigError(problems, WHERE);
  return { apiKey: record[key] as string, apiSecret: record[secret] as string };
}

/** What is wrong with one field, without quoting it. */
function checkField(name: FieldName, value: string): string[] {
  const { min, max } = FIELDS[name];
  if (value === "") return [`${name} is empty`];
  if (value.trim() !== value) return [`leading/trailing whitespace in ${name}`];
  if (/\s/.test(value)) return [`whitespace inside ${name}`];
  if (/[^\x20-\x7e]/.test(value)) return [`non-printable characters in ${name}`];
  const problems: string[] = [];
  if (value.length > max) problems.push(`${name} is too long (${value.length} characters; at most ${max})`);
  if (value.length < min) problems.push(`${name} is too short (${value.length} characters; at least ${min})`);
  if (/[^A-Za-z0-9_-]/.test(value))
    problems.push(`${name} contains characters other than letters, digits, '-' and '_'`);
  return problems;
}
