/**
 * Fuzzing what an operator pipes into `key-rotator submit` (DESIGN.md rules 5 and 6):
 * `parseJustCallPairInput` returns a pair of the stored shape or throws a ConfigError, and the
 * error never quotes the secret: no 6-character run of the secret part shows in it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { parseStoredValue } from "../support/stored-values.js";
import { parseJustCallPairInput } from "../support/seed-vendors.js";
import { RUNS, STACK_FRAME, alnum, anyString, windows } from "./fuzz-support.js";

/** The part of a raw input that holds the secret, as a person would read it. */
function secretPartOf(text: string): string {
  const json = /"apiSecret"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
  if (json) return json[1] ?? "";
  const newline = text.indexOf("\n");
  if (newline >= 0) return text.slice(newline + 1);
  const colon = text.indexOf(":");
  return colon >= 0 ? text.slice(colon + 1) : "";
}

/** Returns a pair of the stored shape, or a ConfigError that quotes no 6-char run of `secret`. */
function expectPairOrConfigError(input: Buffer | string, secret: string): void {
  let pair: ReturnType<typeof parseJustCallPairInput>;
  try {
    pair = parseJustCallPairInput(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      throw new Error(
        `threw ${err instanceof Error ? err.constructor.name : typeof err} for ${JSON.stringify(String(input))}`,
      );
    }
    expect(err.problems.length).toBeGreaterThan(0);
    const said = [err.message, ...err.problems].join("\n");
    expect(said).not.toMatch(STACK_FRAME);
    // Runs of one repeated character ("------") are words of the messages' own, not a quote.
    for (const w of windows(secret, 6))
      if (w.length >= 6 && !/^(.)\1*$/.test(w)) expect(said, `quotes ${JSON.stringify(w)}`).not.toContain(w);
    return;
  }
  expect(pair.apiKey).toMatch(/^[A-Za-z0-9_-]{6,128}$/);
  expect(pair.apiSecret).toBeInstanceOf(SecretValue);
  expect(pair.apiSecret.reveal()).toMatch(/^[A-Za-z0-9_-]{6,256}$/);
  expect(String(pair.apiSecret)).toBe("[redacted]");
  parseStoredValue(
    new SecretValue(JSON.stringify({ vendor: "justcall", apiKey: pair.apiKey, apiSecret: pair.apiSecret.reveal() })),
    "fuzz",
  );
}

const field = (min: number, max: number) =>
  fc.string({
    unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split("")),
    minLength: min,
    maxLength: max,
  });

/** A key and a secret that may be slightly off: too short/long, a space, a stray character. */
const spoilt = (base: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 3, arbitrary: base },
    {
      weight: 1,
      arbitrary: fc
        .tuple(base, fc.constantFrom(" ", "\t", ":", '"', "\\", "é", "\u0000", "\r", "{", "\ud800", "🔑"))
        .map(([s, c]) => `${s.slice(0, 4)}${c}${s.slice(4)}`),
    },
    { weight: 1, arbitrary: base.map((s) => ` ${s} `) },
    { weight: 1, arbitrary: fc.constantFrom("", "abc", "x".repeat(300)) },
  );

/** A pair in one of the three accepted forms, dressed with a BOM, a trailing newline, CRLF. */
const pairInput = fc
  .record({
    key: spoilt(field(6, 128)),
    secret: spoilt(field(6, 256)),
    form: fc.constantFrom("lines", "colon", "json", "json-snake", "json-extra"),
    bom: fc.boolean(),
    ending: fc.constantFrom("", "\n", "\r\n", "\n\n", "\r"),
    crlf: fc.boolean(),
    asBuffer: fc.boolean(),
  })
  .map(({ key, secret, form, bom, ending, crlf, asBuffer }) => {
    const body =
      form === "lines"
        ? `${key}${crlf ? "\r\n" : "\n"}${secret}`
        : form === "colon"
          ? `${key}:${secret}`
          : form === "json"
            ? JSON.stringify({ apiKey: key, apiSecret: secret })
            : form === "json-snake"
              ? JSON.stringify({ api_key: key, api_secret: secret })
              : JSON.stringify({ apiKey: key, apiSecret: secret, [secret]: secret });
    const text = `${bom ? "\ufeff" : ""}${body}${ending}`;
    return { input: asBuffer ? Buffer.from(text, "utf8") : text, key, secret };
  });

describe("parseJustCallPairInput under fuzzing", () => {
  it("arbitrary strings: a pair or a ConfigError that quotes nothing of the secret part", async () => {
    await fc.assert(
      fc.asyncProperty(anyString, async (text) => expectPairOrConfigError(text, secretPartOf(text))),
      { numRuns: RUNS },
    );
  });

  it("arbitrary bytes: a pair or a ConfigError that quotes nothing after the first separator", async () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 2000, maxLength: 2100 }));
    await fc.assert(
      fc.asyncProperty(bytes, async (u8) => {
        const buf = Buffer.from(u8);
        expectPairOrConfigError(buf, secretPartOf(buf.toString("utf8")));
      }),
      { numRuns: RUNS },
    );
  });

  it("pairs in every form, well-formed or slightly off: the same pair back, or a ConfigError that never quotes the secret", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(pairInput, async ({ input, key, secret }) => {
        expectPairOrConfigError(input, secret);
        try {
          const pair = parseJustCallPairInput(input);
          accepted++;
          expect(pair.apiKey).toBe(key);
          expect(pair.apiSecret.reveal()).toBe(secret);
        } catch {
          // covered above
        }
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it("every well-formed pair is accepted in every form", async () => {
    const good = fc.record({
      key: field(6, 128),
      secret: field(6, 256),
      form: fc.constantFrom("lines", "colon", "json"),
      bom: fc.boolean(),
      ending: fc.constantFrom("", "\n", "\r\n"),
      crlf: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(good, async ({ key, secret, form, bom, ending, crlf }) => {
        const body =
          form === "lines"
            ? `${key}${crlf ? "\r\n" : "\n"}${secret}`
            : form === "colon"
              ? `${key}:${secret}`
              : JSON.stringify({ apiKey: key, apiSecret: secret });
        const pair = parseJustCallPairInput(`${bom ? "\ufeff" : ""}${body}${ending}`);
        expect(pair.apiKey).toBe(key);
        expect(pair.apiSecret.reveal()).toBe(secret);
      }),
      { numRuns: RUNS },
    );
  });

  it("a secret planted anywhere in an over-long or binary input is never quoted", async () => {
    await fc.assert(
      fc.asyncProperty(
        alnum(16, 40),
        fc.constantFrom("\u0000", "\u00ff", "é", " ", "x".repeat(2100)),
        fc.nat(3),
        async (secret, junk, where) => {
          const parts = ["abcdefgh", ":", secret, junk];
          const text = [...parts.slice(0, where), junk, ...parts.slice(where)].join("");
          expectPairOrConfigError(text, secret);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
