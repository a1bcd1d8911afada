/**
 * Small helpers shared by the property-based input fuzzing tests (issue 7 item 4).
 * Nothing here talks to the network or the file system.
 */
import fc from "fast-check";

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
