/** The pieces of the --json contract (docs/json.md) and of tidy text for people. */
import { describe, expect, it } from "vitest";
import { JsonOut, escapeControl, escapeTerminal, isoTime, jsonError, table } from "../../src/cli/output.js";

function capture() {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  return { lines, out: { stdout: (t: string) => lines.stdout.push(t), stderr: (t: string) => lines.stderr.push(t) } };
}

describe("escapeControl", () => {
  it("shows terminal escapes as text instead of sending them", () => {
    const hostile = "\u001b]0;pwned\u0007\u001b[2Jreason\r\nnext\u009b\u2028";
    expect(escapeControl(hostile)).toBe("\\u001b]0;pwned\\u0007\\u001b[2Jreason\\r\\nnext\\u009b\\u2028");
    expect(escapeControl("plain – ünïcode ✓")).toBe("plain – ünïcode ✓");
  });

  it("every table cell is escaped", () => {
    const t = table(["reason"], [["\u001b[2J"]]);
    expect(t).not.toContain("\u001b");
    expect(t).toContain("\\u001b[2J");
  });
});

describe("JsonOut", () => {
  it("a failure that printed only a line for people gets one error document on stdout", () => {
    const { lines, out } = capture();
    const json = new JsonOut(out);
    json.stderr('key-rotator rotate: no credential "x" in inv.yaml');
    expect(json.finish(2)).toBe(2);
    expect(lines.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { error: { code: "bad_input", message: 'no credential "x" in inv.yaml' } },
    ]);
    expect(lines.stderr).toHaveLength(1);
  });

  it("a command that printed its own document gets no second one", () => {
    const { lines, out } = capture();
    const json = new JsonOut(out);
    json.stdout(jsonError("emergency_refused", "refused", { retryAfterSeconds: 5 }));
    json.finish(1);
    expect(lines.stdout).toEqual(['{"error":{"code":"emergency_refused","message":"refused","retryAfterSeconds":5}}']);
  });

  it("success prints nothing more; the code of an escaped error is kept", () => {
    const { lines, out } = capture();
    const json = new JsonOut(out);
    expect(json.finish(0)).toBe(0);
    expect(lines.stdout).toEqual([]);
    json.finish(1, "redis_unavailable", "Redis does not answer");
    expect(JSON.parse(lines.stdout[0] ?? "")).toEqual({
      error: { code: "redis_unavailable", message: "Redis does not answer" },
    });
  });
});

describe("isoTime", () => {
  it("epoch ms and dates as ISO 8601; nothing and invalid as undefined", () => {
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(new Date("2026-11-30T05:00:00Z"))).toBe("2026-11-30T05:00:00.000Z");
    expect(isoTime(undefined)).toBeUndefined();
    expect(isoTime(Number.NaN)).toBeUndefined();
  });
});

describe("escapeTerminal", () => {
  it("keeps line ends and tabs, escapes every other control character", () => {
    expect(escapeTerminal('no credential "\u001b]0;pwned\u0007" in inv.yaml\n\tnext\r')).toBe(
      'no credential "\\u001b]0;pwned\\u0007" in inv.yaml\n\tnext\\r',
    );
  });
});
