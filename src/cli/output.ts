/**
 * Output for people and for programs. People get aligned tables and one-line messages; programs
 * get one JSON document with `--json` (the contract: docs/json.md). Exit codes: 0 done, 1 failed,
 * 2 bad usage or bad input. Text for people has its control characters escaped (escapeControl).
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface Out {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * The process's output. Every line passes escapeTerminal: whatever a command prints (an argument
 * echoed in an error, an outcome from a vendor, a reason someone typed) cannot drive the terminal.
 */
export const processOut: Out = {
  stdout: (t) => process.stdout.write(line(escapeTerminal(t))),
  stderr: (t) => process.stderr.write(line(escapeTerminal(t))),
};

const line = (t: string) => (t.endsWith("\n") ? t : `${t}\n`);

/** escapeControl but for line ends and tabs, which lay out text: for whole blocks of output. */
export function escapeTerminal(text: string): string {
  return text
    .split("\n")
    .map((l) => l.split("\t").map(escapeControl).join("\t"))
    .join("\n");
}

/** Renders rows as an aligned text table with a header line; control characters in cells are escaped. */
export function table(headers: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? "-" : escapeControl(String(c)))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(cells[0] ?? []), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

/** "3d 4h", "12m", "40s": a duration for people. */
export function humanDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  let s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${sign}${d}d ${h}h`;
  if (h > 0) return `${sign}${h}h ${m}m`;
  if (m > 0) return `${sign}${m}m ${s}s`;
  return `${sign}${s}s`;
}

/**
 * Control characters (C0, DEL, C1) as visible escapes (`\u001b`), so text from outside (a reason,
 * an actor, an outcome) cannot move the cursor, retitle or clear a person's terminal. JSON output
 * needs none of this: JSON.stringify escapes C0 itself, and a program reads it, not a terminal.
 */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** Epoch ms (or a Date) as ISO 8601 for JSON output; undefined stays undefined. */
export function isoTime(t: number | Date | undefined): string | undefined {
  if (t === undefined) return undefined;
  const d = typeof t === "number" ? new Date(t) : t;
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * The `--json` error document (docs/json.md): `{"error": {"code", "message", ...details}}`, on
 * stdout, with the same exit code a person would get.
 */
export function jsonError(code: string, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({ error: { code, message, ...details } });
}

/**
 * An emergency refused past its bounds (cooldown, fleet cap), as `rotate` says it whichever way it
 * asked (the queue or the worker's socket): the reason on stderr, and with --json the document.
 */
export function emergencyRefused(
  out: Out,
  json: boolean | undefined,
  refusal: { message: string; refusedFor: unknown; retryAfterSeconds: unknown },
): number {
  if (json)
    out.stdout(
      jsonError("emergency_refused", refusal.message, {
        refusedFor: refusal.refusedFor,
        retryAfterSeconds: refusal.retryAfterSeconds,
      }),
    );
  out.stderr(`key-rotator rotate: ${refusal.message}`);
  return EXIT_FAILED;
}

/** What a command ended with, when it says only "failed" or "bad usage": the codes of docs/json.md. */
export function errorCodeFor(exitCode: number): string {
  return exitCode === EXIT_USAGE ? "bad_input" : "failed";
}

/**
 * An Out for `--json`: passes everything through and remembers whether a document reached stdout
 * and the last error line. A command that failed without printing its own document then gets one
 * from `finish` (main.ts), so stdout always holds exactly one JSON document.
 */
export class JsonOut implements Out {
  wrote = false;
  lastError: string | undefined;
  constructor(private readonly inner: Out) {}
  stdout(text: string): void {
    this.wrote = true;
    this.inner.stdout(text);
  }
  stderr(text: string): void {
    // "key-rotator rotate: no credential …" -> "no credential …": the code says who speaks.
    this.lastError = text.trim().replace(/^key-rotator(?: [a-z-]+)?: /, "");
    this.inner.stderr(text);
  }
  /** Prints the error document when the command printed none; returns the exit code unchanged. */
  finish(exitCode: number, code?: string, message?: string): number {
    if (this.wrote || exitCode === EXIT_OK) return exitCode;
    this.stdout(jsonError(code ?? errorCodeFor(exitCode), message ?? this.lastError ?? "failed"));
    return exitCode;
  }
}
