/**
 * The general pieces of the definition format that Twilio, SendGrid and Datadog needed: a call's
 * own HTTP Basic credentials (a key that is an id plus a secret), management Basic auth that names
 * a credential field, a clear non-retryable error when the management credential is refused
 * twice, and a list without creation times counting its keys as just made. Against a loopback
 * server that records what it receives; no vendor in sight.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, VendorError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { DefinitionHttp } from "../../src/vendors/definition/definition-http.js";
import type { KeyApiDefinition } from "../../src/vendors/definition/definition-schema.js";
import { DefinitionKeyApi, keyPartsSecret } from "../../src/vendors/definition/definition-vendor.js";
import { parseDefinition } from "../../src/vendors/definition/load-definition.js";

const TOKEN = "management-token-0123456789";
const KEY = { id: "KEY0001", secret: "key-secret-abcdefghijklmnop" };

function definition(overrides: { verify?: string; list?: string } = {}): KeyApiDefinition {
  const text = `
id: example
name: Example
flow: key-api
fields:
  account: { pattern: "^AC[0-9]+$" }
  managementSecretId: {}
management:
  secretField: managementSecretId
  secretKeys: [token]
  auth: { kind: basic, username: "{{fields.account}}", password: "{{secret.token}}" }
key: { pattern: "^[a-z-]+$", hint: "a key" }
calls:
  create:
    method: POST
    path: "/accounts/{{fields.account}}/keys"
    form: { Name: "{{name}}" }
    status: { ok: [201] }
    answer: { key: /secret, id: /id }
  list:
    path: "/accounts/{{fields.account}}/keys"
    answer: { items: /keys, id: /id, name: /name }
  revoke: { method: DELETE, path: "/accounts/{{fields.account}}/keys/{{keyId}}" }
  verify:
    path: /check
${overrides.verify ?? '    basic: { username: "{{key.id}}", password: "{{key.secret}}" }'}
`;
  return parseDefinition(text, "example.yaml") as KeyApiDefinition;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => close?.());

/** A server that answers by path and records every request. */
async function serve(answer: (s: Seen) => { status: number; body?: unknown }) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers };
    seen.push(s);
    const a = answer(s);
    res.writeHead(a.status, { "content-type": "application/json" });
    res.end(a.body === undefined ? "" : JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  close = () => new Promise<void>((r) => server.close(() => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function vendorAt(url: string, d = definition(), token = TOKEN) {
  const fields = { account: "AC42", managementSecretId: "mgmt" };
  const http = new DefinitionHttp({
    definition: d,
    baseUrl: url,
    fields,
    loadManagementSecret: async () => ({ token: new SecretValue(token) }),
  });
  return new DefinitionKeyApi(http, d, fields);
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("a call's own Basic credentials", () => {
  it("verify sends the key's id and secret as HTTP Basic, and nothing in the URL", async () => {
    const s = await serve(() => ({ status: 200, body: {} }));
    expect(await vendorAt(s.url).verify(keyPartsSecret(KEY))).toEqual({ valid: true });
    expect(s.seen[0]?.headers.authorization).toBe(basic(KEY.id, KEY.secret));
    expect(s.seen[0]?.url).toBe("/check");
  });

  it("a secret in a basic slot loads; the same secret in a query is refused with its path", () => {
    expect(() => definition()).not.toThrow();
    const bad = () => definition({ verify: '    query: { user: "{{key.secret}}" }' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/calls\.verify\.query\.user: \{\{key\.secret\}\} is a secret/);
  });

  it("a basic slot may name only what its call has", () => {
    expect(() => definition({ verify: '    basic: { username: "{{keyId}}", password: "{{key.secret}}" }' })).toThrow(
      /calls\.verify\.basic\.username: \{\{keyId\}\} is not known here/,
    );
  });
});

describe("management Basic auth", () => {
  it("names a credential field (the account) beside the management secret", async () => {
    const s = await serve(() => ({ status: 201, body: { id: "k1", secret: "made-key" } }));
    const created = await vendorAt(s.url).createKey("key-rotator/c/r1");
    expect(created.keyId).toBe("k1");
    expect(s.seen[0]?.headers.authorization).toBe(basic("AC42", TOKEN));
    expect(s.seen[0]?.url).toBe("/accounts/AC42/keys");
  });

  it("refused twice (once more with the secret read again): a non-retryable error that names no secret", async () => {
    const s = await serve(() => ({ status: 401, body: { message: "bad" } }));
    const err = await vendorAt(s.url, definition(), "wrong-token-9876543210")
      .createKey("key-rotator/c/r1")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect((err as Error).message).toMatch(/refused the management credential \(401\)/);
    expect((err as Error).message).not.toContain("wrong-token");
    expect(s.seen).toHaveLength(2);
  });
});

describe("a list without creation times", () => {
  it("counts each key as just made (so the orphan sweep treats it as young), not as made in 1970", async () => {
    const s = await serve(() => ({ status: 200, body: { keys: [{ id: "k1", name: "key-rotator/c/r1" }] } }));
    const before = Date.now();
    const [listed] = await vendorAt(s.url).listKeys();
    expect(listed?.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(listed?.createdAt.getTime()).toBeLessThanOrEqual(Date.now());
  });
});
