/**
 * Fuzzing the stored-value parser (DESIGN.md rules 5 and 6): a value read from the store either
 * parses into the key-rotator shape or is refused with an InvalidStateError that names what is
 * wrong and never quotes the value (in particular never a key that sits in it).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidStateError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { serializeStoredValue } from "../../src/core/stored-value.js";
import { type AnyStoredValue as StoredValue, parseStoredValue } from "../support/stored-values.js";
import { RUNS, STACK_FRAME, alnum, anyString, keyLike } from "./fuzz-support.js";

const WHERE = "secret fuzz/secret version v-1";

function attempt(raw: string): { ok: true; value: StoredValue } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: parseStoredValue(new SecretValue(raw), WHERE) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Returns a valid value or throws InvalidStateError naming the secret; `secrets` never appear. */
function expectValidOrInvalidState(raw: string, secrets: string[] = []): void {
  const r = attempt(raw);
  if (r.ok) {
    // A value that parsed has one of the two shapes and survives a round trip unchanged.
    expect(["callcov", "justcall"]).toContain(r.value.vendor);
    if (r.value.vendor === "callcov") expect(r.value.apiKey).toMatch(/^sk_(live|test)_[A-Za-z0-9_-]{8,}$/);
    else expect(`${r.value.apiKey}:${r.value.apiSecret}`).toMatch(/^[A-Za-z0-9_-]{6,128}:[A-Za-z0-9_-]{6,256}$/);
    expect(parseStoredValue(serializeStoredValue(r.value), WHERE)).toEqual(r.value);
    return;
  }
  if (!(r.error instanceof InvalidStateError)) {
    throw new Error(
      `parseStoredValue threw ${r.error instanceof Error ? r.error.constructor.name : typeof r.error} for ${JSON.stringify(raw)}`,
    );
  }
  const message = r.error.message;
  expect(message.startsWith(`${WHERE}: `)).toBe(true);
  expect(message).not.toMatch(STACK_FRAME);
  expect(r.error.retryable).toBe(false);
  for (const s of secrets) {
    expect(message).not.toContain(s);
    expect(JSON.stringify({ message, cause: String(r.error.cause) })).not.toContain(s);
  }
  // The whole raw input is never quoted (unless it is so short it is a word of the message anyway).
  if (raw.length >= 12) expect(message).not.toContain(raw);
}

/** Something that may hold a key: the key itself, or the key inside some text. */
const hidingKey = (key: string) =>
  fc.constantFrom(key, ` ${key}`, `${key}\n`, `Bearer ${key}`, `x${key}y`, `${key}:${key}`);

/** A near-valid stored object with the key-like string planted in one or more fields. */
const planted = keyLike.chain((key) =>
  fc.record({
    key: fc.constant(key),
    value: fc.record(
      {
        vendor: fc.oneof(fc.constantFrom("callcov", "justcall", "CallCov", "", null, 1), hidingKey(key)),
        apiKey: fc.oneof(
          hidingKey(key),
          fc.constant(key.replace("live", "prod")),
          fc.integer(),
          fc.constant(null),
          fc.array(hidingKey(key), { maxLength: 2 }),
        ),
        apiSecret: fc.oneof(hidingKey(key), fc.constant(`${key}!`), fc.constant(""), fc.boolean()),
        keyId: fc.oneof(hidingKey(key), fc.constant(""), fc.integer()),
        keyName: fc.oneof(hidingKey(key), fc.integer()),
        rotationId: fc.oneof(hidingKey(key), fc.constant({ nested: key })),
        createdAt: fc.oneof(
          hidingKey(key),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.integer(),
        ),
        [key]: hidingKey(key),
        extra: fc.dictionary(fc.string({ maxLength: 6 }), hidingKey(key), { maxKeys: 2 }),
      },
      { requiredKeys: [] },
    ),
  }),
);

describe("parseStoredValue under fuzzing", () => {
  it("arbitrary strings: a valid value or InvalidStateError", async () => {
    await fc.assert(
      fc.asyncProperty(anyString, async (raw) => expectValidOrInvalidState(raw)),
      { numRuns: RUNS },
    );
  });

  it("arbitrary JSON values: a valid value or InvalidStateError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 4 }), async (raw) => expectValidOrInvalidState(raw)),
      { numRuns: RUNS },
    );
  });

  it("arbitrary JSON objects with a vendor: a valid value or InvalidStateError", async () => {
    const obj = fc
      .record({
        vendor: fc.constantFrom("callcov", "justcall"),
        rest: fc.dictionary(
          fc.constantFrom("apiKey", "apiSecret", "keyId", "keyName", "rotationId", "createdAt", "other"),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      })
      .map(({ vendor, rest }) => JSON.stringify({ ...rest, vendor }));
    await fc.assert(
      fc.asyncProperty(obj, async (raw) => expectValidOrInvalidState(raw)),
      { numRuns: RUNS },
    );
  });

  it("a key-like string planted in any field never shows in the error message", async () => {
    await fc.assert(
      fc.asyncProperty(planted, fc.boolean(), async ({ key, value }, breakJson) => {
        // Half the time the JSON is also broken, so the "not JSON" path is covered with a key inside.
        const raw = breakJson ? JSON.stringify(value).slice(0, -1) : JSON.stringify(value);
        expectValidOrInvalidState(raw, [key, key.slice("sk_live_".length)]);
      }),
      { numRuns: RUNS },
    );
  });

  it("well-formed values always parse, and unchanged", async () => {
    const callcov = fc.record({
      vendor: fc.constant("callcov" as const),
      apiKey: fc.tuple(fc.constantFrom("live", "test"), alnum(8, 40)).map(([m, s]) => `sk_${m}_${s}`),
      keyId: alnum(1, 20),
      keyName: fc.option(fc.string(), { nil: undefined }),
      rotationId: fc.option(fc.uuid(), { nil: undefined }),
      createdAt: fc.option(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        { nil: undefined },
      ),
    });
    const justcall = fc.record({
      vendor: fc.constant("justcall" as const),
      apiKey: alnum(6, 128),
      apiSecret: alnum(6, 256),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(callcov, justcall), async (value) => {
        const clean = JSON.parse(JSON.stringify(value)) as StoredValue;
        const r = attempt(JSON.stringify(value));
        expect(r).toEqual({ ok: true, value: clean });
      }),
      { numRuns: RUNS },
    );
  });
});
