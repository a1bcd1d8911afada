import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ConfigError,
  InvalidStateError,
  OutcomeUnknownError,
  RateLimitedError,
  VendorError,
} from "../../../src/core/errors.js";
import { SecretValue } from "../../../src/core/secret.js";
import { type CallCovSimulator, startCallCovSimulator } from "../../../src/sandbox/callcov-sim.js";
import { CallCovVendor } from "../../support/seed-vendors.js";

const PASSWORD = "SecurePassword123!";
let sim: CallCovSimulator;
let now: number;
let slept: number[];

beforeEach(async () => {
  now = Date.UTC(2026, 10, 23, 10, 0, 0);
  slept = [];
  sim = await startCallCovSimulator({ clock: () => now, accounts: [{ email: "ops@example.com", password: PASSWORD }] });
});
afterEach(async () => sim.close());

function vendor(extra: Partial<ConstructorParameters<typeof CallCovVendor>[0]> = {}) {
  return new CallCovVendor({
    baseUrl: sim.url,
    mode: "live",
    loadLogin: async () => ({ email: "ops@example.com", password: new SecretValue(PASSWORD) }),
    clock: { now: () => now },
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    timeoutMs: 2_000,
    ...extra,
  });
}

describe("CallCovVendor against the simulator", () => {
  it("creates, verifies, lists and revokes a key", async () => {
    const v = vendor();
    const created = await v.createKey("key-rotator/cc/r1");
    expect(created.key.reveal()).toMatch(/^sk_live_/);
    const verdict = await v.verify(created.key);
    expect(verdict).toMatchObject({ valid: true, usage: { limit: 60, remaining: 59 } });
    expect((await v.listKeys()).map((k) => k.name)).toEqual(["key-rotator/cc/r1"]);
    expect(await v.revokeKey(created.keyId)).toBe("revoked");
    expect(await v.revokeKey(created.keyId)).toBe("already-gone");
    expect(await v.verify(created.key)).toEqual({
      valid: false,
      status: 401,
      reason: "refused: invalid or missing API key",
    });
  });

  it("tells a forbidden key (403) from a refused one", async () => {
    const k = sim.issueKey("k");
    const stored = sim.state.keys.get(k.id);
    if (stored) stored.forbidden = true;
    expect(await vendor().verify(new SecretValue(k.key))).toMatchObject({ valid: false, status: 403 });
  });

  it("logs in once, refreshes 5 minutes before expiry, and logs in again after the refresh token expires", async () => {
    const v = vendor();
    await v.listKeys();
    now += 24 * 60_000;
    await v.listKeys();
    expect(sim.state.counters).toMatchObject({ logins: 1, refreshes: 0 });
    now += 2 * 60_000; // 26 minutes: inside the last five
    await v.listKeys();
    expect(sim.state.counters).toMatchObject({ logins: 1, refreshes: 1 });
    now += 8 * 86_400_000;
    await v.listKeys();
    expect(sim.state.counters).toMatchObject({ logins: 2, refreshes: 1 });
  });

  it("waits for X-RateLimit-Reset on 429 and then succeeds", async () => {
    sim.faults.add({ kind: "rate-limit", match: "GET /api/v1/health", count: 1 });
    const k = sim.issueKey("k");
    expect((await vendor().verify(new SecretValue(k.key))).valid).toBe(true);
    expect(slept).toHaveLength(1);
    expect(slept[0]).toBeGreaterThan(0);
    expect(slept[0]).toBeLessThanOrEqual(60_050);
  });

  it("gives a RateLimitedError when the reset is further than it may wait", async () => {
    sim.faults.add({ kind: "rate-limit", match: "GET /api/v1/health", count: 1 });
    const err = await vendor({ maxRateLimitWaitMs: 10 })
      .verify(new SecretValue(sim.issueKey("k").key))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAt).toBeGreaterThan(now);
  });

  it("a 5xx is a retryable VendorError with its status", async () => {
    sim.faults.add({ kind: "error", status: 503, match: "GET /api/v1/health", count: 1 });
    const err = await vendor()
      .verify(new SecretValue("sk_live_whatever123"))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect(err).toMatchObject({ retryable: true, status: 503 });
  });

  it("a malformed create body is an outcome-unknown error naming the problem, not the key", async () => {
    const v = vendor();
    await v.listKeys();
    sim.faults.add({ kind: "malformed", match: "POST /api/v1/api-keys/", count: 1 });
    const err = await v.createKey("key-rotator/cc/r2").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as Error).message).toContain("unusable body");
  });

  it("a connection reset on create is outcome-unknown; on verify it is a retryable vendor error", async () => {
    const v = vendor();
    await v.listKeys();
    sim.faults.add({ kind: "reset", match: "POST /api/v1/api-keys/", count: 1 });
    await expect(v.createKey("key-rotator/cc/r3")).rejects.toBeInstanceOf(OutcomeUnknownError);
    sim.faults.add({ kind: "reset", match: "GET /api/v1/health", count: 1 });
    await expect(v.verify(new SecretValue("sk_live_abcdefgh"))).rejects.toMatchObject({ retryable: true });
  });

  it("a timeout is a retryable vendor error", async () => {
    sim.faults.add({ kind: "timeout", match: "GET /api/v1/health", count: 1 });
    const err = await vendor({ timeoutMs: 200 })
      .verify(new SecretValue("sk_live_abcdefgh"))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect((err as Error).message).toContain("no answer within 200 ms");
  });

  it("refuses and revokes a test-mode key handed to a live credential", async () => {
    sim.state.nextKeyMode = "test";
    const err = await vendor()
      .createKey("key-rotator/cc/r4")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidStateError);
    expect((err as Error).message).toMatch(/without the expected prefix sk_live_.*revoked/);
    expect(sim.state.counters.revoked).toBe(1);
  });

  it("403 on create is not retryable", async () => {
    sim.faults.add({ kind: "error", status: 403, match: "POST /api/v1/api-keys/", count: 1 });
    await expect(vendor().createKey("x")).rejects.toMatchObject({ retryable: false, status: 403 });
  });

  it("a wrong management password is a clear, non-retryable error without the password", async () => {
    const v = new CallCovVendor({
      baseUrl: sim.url,
      mode: "live",
      loadLogin: async () => ({ email: "ops@example.com", password: new SecretValue("wrong-password-123") }),
    });
    const err = await v.listKeys().catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect((err as Error).message).not.toContain("wrong-password-123");
  });

  it("refuses a plain-HTTP base URL that is not loopback", () => {
    expect(
      () =>
        new CallCovVendor({
          baseUrl: "http://api.callcov.com",
          mode: "live",
          loadLogin: async () => ({ email: "", password: new SecretValue("") }),
        }),
    ).toThrow(ConfigError);
  });

  it("no error message carries a key, password or token", async () => {
    const messages: string[] = [];
    const v = vendor({ maxRateLimitWaitMs: 0 });
    const created = await v.createKey("key-rotator/cc/r5");
    for (const kind of ["error", "malformed", "reset", "rate-limit"] as const) {
      sim.faults.add({ kind, count: 2 });
      for (const call of [() => v.verify(created.key), () => v.createKey("n"), () => v.listKeys()]) {
        await call().catch((e: unknown) => messages.push(String((e as Error).message), JSON.stringify(e)));
      }
      sim.faults.reset();
    }
    expect(messages.length).toBeGreaterThan(4);
    for (const m of messages) {
      expect(m).not.toContain(created.key.reveal());
      expect(m).not.toContain(PASSWORD);
      expect(m).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    }
  });
});

describe("CallCovVendor and a redirect", () => {
  it("does not follow a 302: the key never reaches the other host, and the call fails naming the status", async () => {
    const seen: string[] = [];
    const elsewhere = createServer((req, res) => {
      seen.push(`${req.headers["x-api-key"] ?? ""}${req.headers.authorization ?? ""}`);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((r) => elsewhere.listen(0, "127.0.0.1", r));
    const redirector = createServer((_req, res) =>
      res
        .writeHead(302, { location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/api/v1/health` })
        .end(),
    );
    await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", r));
    try {
      const v = vendor({ baseUrl: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}` });
      const err = await v.verify(new SecretValue("sk_live_mustnottravel")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VendorError);
      expect((err as Error).message).toContain("302");
      expect(seen).toEqual([]);
    } finally {
      elsewhere.close();
      redirector.close();
    }
  });
});
