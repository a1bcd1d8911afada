/** The JustCall verifier against the simulator over loopback, and the submit input parser's table. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, InvalidStateError, RateLimitedError, VendorError } from "../../../src/core/errors.js";
import { SecretValue } from "../../../src/core/secret.js";
import { vendorSecretOf } from "../../support/stored-values.js";
import { type JustCallSimulator, startJustCallSimulator } from "../../../src/sandbox/justcall-sim.js";
import { parseJustCallPairInput } from "../../support/seed-vendors.js";
import { JustCallVerifier } from "../../support/seed-vendors.js";

let sim: JustCallSimulator;
const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
beforeEach(async () => {
  sim = await startJustCallSimulator();
});
afterEach(async () => sim.close());

const verifier = (extra: { timeoutMs?: number; calls?: Array<[string, number | "error"]> } = {}) =>
  new JustCallVerifier({
    baseUrl: `${sim.url}/`,
    timeoutMs: extra.timeoutMs ?? 2_000,
    clock: { now: () => NOW },
    onRequest: (op, status) => extra.calls?.push([op, status]),
  });
const pairOf = (p: { apiKey: string; apiSecret: string }) => vendorSecretOf({ vendor: "justcall", ...p });

describe("JustCallVerifier against the simulator", () => {
  it("a generated pair is valid; the same pair after revocation in the dashboard is refused (401)", async () => {
    const calls: Array<[string, number | "error"]> = [];
    const pair = sim.generatePair();
    expect(await verifier({ calls }).verify(pairOf(pair))).toEqual({ valid: true });
    sim.revokePair(pair.apiKey);
    expect(await verifier({ calls }).verify(pairOf(pair))).toEqual({
      valid: false,
      status: 401,
      reason: "refused: invalid API key or secret",
    });
    expect(calls).toEqual([
      ["verify", 200],
      ["verify", 401],
    ]);
    expect(sim.stats().requests[pair.apiKey]).toEqual({ accepted: 1, refused: 1 });
  });

  it("tells a forbidden pair (403: plan without API, or non-admin pair) from a refused one", async () => {
    const forbidden = { valid: false, status: 403, reason: "forbidden: the plan or the user has no API access" };
    expect(await verifier().verify(pairOf(sim.generatePair({ admin: false })))).toEqual(forbidden);
    const admin = sim.generatePair();
    sim.setPlanHasApi(false);
    expect(await verifier().verify(pairOf(admin))).toEqual(forbidden);
  });

  it("a swapped or unknown pair is a 401 verdict, not an error", async () => {
    const pair = sim.generatePair();
    expect(await verifier().verify(new SecretValue(`${pair.apiSecret}:${pair.apiKey}`))).toMatchObject({
      valid: false,
      status: 401,
    });
  });

  it.each([
    ["a 500", { kind: "error", status: 500 }, 500],
    ["a 503", { kind: "error", status: 503 }, 503],
    ["a malformed 200 body", { kind: "malformed" }, 200],
    ["a connection reset", { kind: "reset" }, undefined],
    ["no answer (timeout)", { kind: "timeout" }, undefined],
  ] as const)("%s is a retryable VendorError that names no secret", async (_what, rule, status) => {
    const pair = sim.generatePair();
    sim.faults.add({ ...rule, match: "GET /v2/account", count: 1 });
    const calls: Array<[string, number | "error"]> = [];
    const err = await verifier({ timeoutMs: 200, calls })
      .verify(pairOf(pair))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect(err).not.toBeInstanceOf(RateLimitedError);
    expect((err as VendorError).retryable).toBe(true);
    expect((err as VendorError).status).toBe(status);
    expect(calls).toEqual([["verify", status ?? "error"]]);
    const text = `${(err as Error).message} ${String((err as Error).stack)}`;
    expect(text).not.toContain(pair.apiSecret);
    expect(text).not.toContain(pair.apiKey);
  });

  it("a 429 is a RateLimitedError; without a Retry-After it waits a minute", async () => {
    sim.faults.add({ kind: "rate-limit", count: 1 });
    const err = await verifier()
      .verify(pairOf(sim.generatePair()))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryable).toBe(true);
    expect((err as RateLimitedError).retryAt).toBe(NOW + 60_000);
  });

  it("refuses a pair that cannot be a header without sending it", async () => {
    await expect(verifier().verify(new SecretValue("{not the parts"))).rejects.toBeInstanceOf(InvalidStateError);
    await expect(verifier().verify(new SecretValue("key:sec\nret"))).rejects.toBeInstanceOf(InvalidStateError);
    expect(sim.stats()).toMatchObject({ refusedUnknown: 0, requests: {} });
  });

  it("refuses plain HTTP to anything but loopback", () => {
    expect(() => new JustCallVerifier({ baseUrl: "http://api.justcall.io" })).toThrow(ConfigError);
    expect(() => new JustCallVerifier({ baseUrl: "https://api.justcall.io" })).not.toThrow();
  });
});

describe("JustCallVerifier against odd answers", () => {
  let server: Server;
  let answer: { status: number; headers?: Record<string, string>; body: string };
  let seenAuth: string[];
  beforeEach(async () => {
    seenAuth = [];
    server = createServer((req, res) => {
      seenAuth.push(req.headers.authorization ?? "");
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const local = () =>
    new JustCallVerifier({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      clock: { now: () => NOW },
    });

  it("sends the pair as the raw Authorization header", async () => {
    answer = { status: 200, body: JSON.stringify({ status: "success", data: {} }) };
    expect(await local().verify(new SecretValue("abc123def456:sec789xyz000"))).toEqual({ valid: true });
    expect(seenAuth).toEqual(["abc123def456:sec789xyz000"]);
  });

  it("uses Retry-After when the vendor gives one", async () => {
    answer = { status: 429, headers: { "retry-after": "7" }, body: "{}" };
    const err = await local()
      .verify(new SecretValue("abc123:secret"))
      .catch((e: unknown) => e);
    expect((err as RateLimitedError).retryAt).toBe(NOW + 7_000);
  });

  it.each([
    ["200 with status error", 200, JSON.stringify({ status: "error", message: "x" }), true],
    ["200 with a JSON array", 200, "[]", true],
    ["404 (wrong base URL)", 404, "{}", false],
    ["302 (redirect not followed)", 302, "", false],
  ])("%s is a VendorError (retryable: %s)", async (_what, status, body, retryable) => {
    answer = { status, body, ...(status === 302 ? { headers: { location: "http://127.0.0.1:1/elsewhere" } } : {}) };
    const err = await local()
      .verify(new SecretValue("abc123:secret"))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect((err as VendorError).retryable).toBe(retryable);
    expect(seenAuth).toHaveLength(1);
  });
});

const KEY = "abc123def456";
const SECRET = "sec789xyz000SECRETVALUE";

describe("parseJustCallPairInput: accepted forms", () => {
  it.each([
    ["two lines", `${KEY}\n${SECRET}`],
    ["two lines and a newline", `${KEY}\n${SECRET}\n`],
    ["two CRLF lines", `${KEY}\r\n${SECRET}\r\n`],
    ["one line key:secret", `${KEY}:${SECRET}\n`],
    ["JSON", JSON.stringify({ apiKey: KEY, apiSecret: SECRET })],
    ["JSON in JustCall's own names", JSON.stringify({ api_key: KEY, api_secret: SECRET })],
    ["pretty JSON", `${JSON.stringify({ apiKey: KEY, apiSecret: SECRET }, null, 2)}\n`],
    ["a Buffer with a BOM", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${KEY}:${SECRET}`)])],
  ])("%s", (_what, input) => {
    const parsed = parseJustCallPairInput(input);
    expect(parsed.apiKey).toBe(KEY);
    expect(parsed.apiSecret).toBeInstanceOf(SecretValue);
    expect(parsed.apiSecret.reveal()).toBe(SECRET);
    expect(JSON.stringify(parsed)).not.toContain(SECRET);
  });
});

describe("parseJustCallPairInput: refused inputs", () => {
  it.each([
    ["empty", "", /input is empty/],
    ["only a newline", "\n", /input is empty/],
    ["only whitespace", "  \t ", /input is empty/],
    ["one field", `${SECRET}\n`, /only one field/],
    ["three lines", `${KEY}\n${SECRET}\nmore\n`, /found 3 lines/],
    ["two trailing newlines", `${KEY}\n${SECRET}\n\n`, /ends with a blank line/],
    ["a pair line plus a line", `${KEY}:${SECRET}\nmore`, /give one form only/],
    ["two colons", `${KEY}:${SECRET}:x`, /one ':'/],
    ["a trailing space on the secret", `${KEY}\n${SECRET} \n`, /leading\/trailing whitespace in api_secret/],
    ["a leading tab on the key", `\t${KEY}\n${SECRET}`, /leading\/trailing whitespace in api_key/],
    ["a space before the colon", `${KEY} :${SECRET}`, /leading\/trailing whitespace in api_key/],
    ["a space inside the secret", `${KEY}\nsec789 xyz000SECRETVALUE`, /whitespace inside api_secret/],
    ["an empty secret", `${KEY}:`, /api_secret is empty/],
    ["a lone CR", `${KEY}\r${SECRET}`, /carriage return/],
    ["binary bytes", Buffer.from([0x61, 0x62, 0x00, 0xff, 0x3a, 0x63]), /binary or non-printable/],
    ["non-ASCII text", `${KEY}:sëcret789xyz`, /binary or non-printable/],
    [
      "a NUL in JSON escape",
      JSON.stringify({ apiKey: KEY, apiSecret: `${SECRET}\u0000` }),
      /non-printable characters in api_secret/,
    ],
    ["a too-long input", `${KEY}:${"a".repeat(5000)}`, /input is too long/],
    [
      "a too-long secret",
      `${KEY}:${SECRET}${"a".repeat(300)}`,
      /api_secret is too long \(323 characters; at most 256\)/,
    ],
    ["a too-short key", `abc:${SECRET}`, /api_key is too short/],
    [
      "characters outside the set",
      `${KEY}:${SECRET}/+=`,
      /api_secret: expected a JustCall API secret \(6 to 256 letters, digits, - or _\)/,
    ],
    ["JSON missing apiSecret", JSON.stringify({ apiKey: KEY }), /apiSecret is missing/],
    ["JSON with a number", JSON.stringify({ apiKey: KEY, apiSecret: 12345678 }), /apiSecret must be a string/],
    ["JSON mixing both sets of names", JSON.stringify({ api_key: KEY, apiSecret: SECRET }), /api_secret is missing/],
    ["JSON with an extra field", JSON.stringify({ apiKey: KEY, apiSecret: SECRET, [SECRET]: 1 }), /1 unexpected field/],
    ["broken JSON", `{"apiKey": "${KEY}", "apiSecret": "${SECRET}"`, /not valid JSON/],
    ["an empty JSON object", "{}", /apiKey is missing/],
    [
      "a JSON string value with spaces",
      JSON.stringify({ apiKey: KEY, apiSecret: ` ${SECRET}` }),
      /leading\/trailing whitespace in api_secret/,
    ],
  ])("%s", (_what, input, message) => {
    let caught: unknown;
    try {
      parseJustCallPairInput(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.message).toMatch(message);
    const shown = `${err.message} ${err.problems.join(" ")} ${String(err.stack)}`;
    expect(shown).not.toContain(SECRET);
    expect(shown).not.toContain("sec789");
  });

  it("reports problems with both fields at once", () => {
    const err = (() => {
      try {
        parseJustCallPairInput(`ab/:${SECRET} `);
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(err?.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/api_key is too short/),
        expect.stringMatching(/whitespace in api_secret/),
      ]) as unknown,
    );
  });
});
