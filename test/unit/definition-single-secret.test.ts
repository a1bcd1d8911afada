/**
 * An operator-flow key that is one secret with no public part (an `sk-…` key made in a dashboard):
 * the definition leaves `key.identity` out, and the key is then named by a digest of its parts,
 * so the rotation can tell a re-submitted current key from a new one without a secret standing in
 * for a name. `submit` takes such a key as its one line. No vendor in sight.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { sameKey } from "../../src/rotation/operator-flow.js";
import { definitionModule } from "../../src/vendors/definition/definition-module.js";
import { parseDefinition } from "../../src/vendors/definition/load-definition.js";
import type { OperatorModule } from "../../src/vendors/vendor-module.js";

const A = "sk-example-0123456789abcdefABCDEF";
const B = "sk-example-0123456789abcdefABCDEG";

function text(key: string): string {
  return `
id: example
name: Example
flow: operator
key:
${key}
calls:
  verify:
    path: /check
    headers: { X-Key: "{{key.apiKey}}" }
guide: { noun: key, dashboard: "Example (Keys)", submitHint: "the key on standard input", prompt: "Paste the key:" }
`;
}
const ONE_PART = `  parts:
    apiKey: { pattern: "^sk-[A-Za-z0-9-]{20,}$", hint: "expected an sk- key", aliases: [api_key] }`;

function moduleOf(key: string): OperatorModule {
  return definitionModule(parseDefinition(text(key), "example.yaml"), "test") as OperatorModule;
}
const stored = (apiKey: string) => ({ vendor: "example", apiKey });
const problems = (key: string) => {
  try {
    parseDefinition(text(key), "example.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "";
};

describe("an operator key of one secret, without identity", () => {
  const m = moduleOf(ONE_PART);

  it("is named by a digest of its parts: equal keys match, different keys do not, and no part shows", () => {
    const id = m.value.identityOf(stored(A));
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(id).not.toContain(A.slice(3, 12));
    expect(sameKey(m.value, stored(A), stored(A))).toBe(true);
    expect(sameKey(m.value, stored(A), stored(B))).toBe(false);
  });

  it("hands verify the whole key and stores it as the one part", () => {
    expect(JSON.parse(m.value.secretOf(stored(A)).reveal())).toEqual({ apiKey: A });
    expect(m.value.parse(new SecretValue(JSON.stringify(stored(A))), "test")).toMatchObject({ apiKey: A });
  });

  it("is taken by submit as one line, or as JSON by its own name or the vendor's", () => {
    expect(m.parseSubmission(Buffer.from(`${A}\n`))).toEqual(stored(A));
    expect(m.parseSubmission(Buffer.from(JSON.stringify({ api_key: A })))).toEqual(stored(A));
    const err = (() => {
      try {
        m.parseSubmission(Buffer.from(`${A}\n${B}\n`));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toContain("expected one line (api_key), found 2 lines");
    expect(err?.message).not.toContain("0123456789");
  });

  it("an identity that is a part still names that part, as JustCall's does", () => {
    const named = moduleOf(`${ONE_PART}\n    keyId: { pattern: "^[a-z0-9]{4,}$", hint: "an id" }\n  identity: keyId`);
    expect(named.value.identityOf({ vendor: "example", apiKey: A, keyId: "key0001" })).toBe("key0001");
  });

  it("a definition whose identity names no part, with no parts, or showing a secret, is refused with its path", () => {
    expect(problems(`${ONE_PART}\n  identity: secretKey`)).toContain(
      "key.identity: expected one of the parts (apiKey), or no identity for a key that is one secret",
    );
    expect(problems("  parts: {}")).toContain("key.parts: expected at least one part");
    expect(problems(`${ONE_PART}\n  display: { label: API key, first: 4, last: 4 }`)).toContain(
      "key.display: display shows characters of the identity part: without an identity",
    );
  });
});
