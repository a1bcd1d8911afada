import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { SecretValue } from "../../src/core/secret.js";
import { parseStoredValue, vendorSecretOf } from "../support/stored-values.js";
import { InvalidStateError } from "../../src/core/errors.js";

const KEY = "sk_live_abcdefgh12345678";

describe("SecretValue", () => {
  it("never prints its value by string, JSON, inspect or template", () => {
    const s = new SecretValue(KEY);
    const printed = [
      String(s),
      JSON.stringify({ s }),
      inspect({ s }),
      `${s}`,
      inspect(s, { showHidden: true, depth: 9 }),
    ];
    for (const p of printed) expect(p).not.toContain("abcdefgh");
    expect(s.reveal()).toBe(KEY);
  });
});

describe("parseStoredValue", () => {
  it("accepts the CallCov shape", () => {
    const v = parseStoredValue(new SecretValue(JSON.stringify({ vendor: "callcov", apiKey: KEY, keyId: "k1" })), "s");
    expect(v.vendor).toBe("callcov");
    // What verify takes: the key's parts (its id and its secret), as JSON.
    expect(JSON.parse(vendorSecretOf(v).reveal())).toEqual({ id: "k1", secret: KEY });
  });

  it("hands verify a JustCall pair's parts", () => {
    const v = parseStoredValue(
      new SecretValue(JSON.stringify({ vendor: "justcall", apiKey: "abc123def456", apiSecret: "sec789xyz000" })),
      "s",
    );
    expect(JSON.parse(vendorSecretOf(v).reveal())).toEqual({ apiKey: "abc123def456", apiSecret: "sec789xyz000" });
  });

  it.each([
    ["not json", "sk_live_abcdefgh12345678 plain", /not JSON/],
    ["missing keyId", JSON.stringify({ vendor: "callcov", apiKey: KEY }), /keyId/],
    [
      "wrong key shape",
      JSON.stringify({ vendor: "callcov", apiKey: "pk_abcdefgh12345678", keyId: "k" }),
      /apiKey: expected a CallCov key/,
    ],
    ["unknown vendor", JSON.stringify({ vendor: "acme", apiKey: KEY }), /vendor/],
  ])("reports %s by path and never quotes the value", (_name, raw, pattern) => {
    let caught: unknown;
    try {
      parseStoredValue(new SecretValue(raw), "secret prod/cc version v1");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidStateError);
    const message = (caught as Error).message;
    expect(message).toMatch(pattern);
    expect(message).toContain("secret prod/cc version v1");
    expect(message).not.toContain("abcdefgh12345678");
  });
});
