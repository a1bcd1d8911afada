/**
 * vendors/sendgrid.yaml through the product's module (its `keyApi` factory) against the SendGrid
 * simulator: the management credential is itself a scoped API key (Bearer), a key is checked with
 * GET /v3/scopes, the list is one answer (`limit` only), answers carry no creation time, and a 429
 * waits for X-RateLimit-Reset (epoch seconds) or becomes RateLimitedError when that is too far.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OutcomeUnknownError, RateLimitedError, VendorError } from "../../../src/core/errors.js";
import type { KeyApiVendor } from "../../../src/core/ports.js";
import {
  SANDBOX_SENDGRID,
  type SendGridSimulator,
  type SendGridSimulatorOptions,
  startSendGridSimulator,
} from "../../../src/sandbox/sendgrid-sim.js";
import { vendorModule } from "../../../src/vendors/registry.js";
import type { KeyApiModule } from "../../../src/vendors/vendor-module.js";
import { adapterOf } from "../key-api-harnesses.js";

const module = vendorModule("sendgrid") as KeyApiModule;
let sim: SendGridSimulator | undefined;
afterEach(async () => sim?.close());

async function start(
  options: SendGridSimulatorOptions = {},
  managementKey: (s: SendGridSimulator) => string = () => SANDBOX_SENDGRID.managementKey,
): Promise<{ s: SendGridSimulator; v: KeyApiVendor }> {
  sim = await startSendGridSimulator(options);
  const v = adapterOf(
    module,
    sim.url,
    { managementSecretId: "sendgrid/management" },
    { "sendgrid/management": JSON.stringify({ apiKey: managementKey(sim) }) },
  );
  return { s: sim, v };
}

const secretOf = (created: { keyId: string; key: { reveal(): string } }) =>
  module.value.secretOf({ vendor: "sendgrid", apiKey: created.key.reveal(), keyId: created.keyId });

describe("SendGrid as a definition", () => {
  it("creates an SG. key that /v3/scopes accepts, lists it, revokes it, and then it is refused", async () => {
    const { s, v } = await start();
    const before = Date.now();
    const created = await v.createKey("key-rotator/sg/r1");
    const key = created.key.reveal();
    expect(key).toHaveLength(69);
    expect(key.split(".")).toEqual(["SG", created.keyId, expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)]);
    expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(s.isKeyActive(created.keyId)).toBe(true);
    // The rate-limit headers count /v3/scopes' budget, not the key's mail: no usage sample.
    expect(await v.verify(secretOf(created))).toEqual({ valid: true });

    const listed = (await v.listKeys()).find((k) => k.keyId === created.keyId);
    expect(listed).toMatchObject({ keyId: created.keyId, name: "key-rotator/sg/r1" });
    // No creation time in SendGrid's answers: a listed key counts as just made.
    expect(listed?.createdAt.getTime()).toBeGreaterThanOrEqual(created.createdAt.getTime());

    expect(await v.revokeKey(created.keyId)).toBe("revoked");
    expect(s.isKeyActive(created.keyId)).toBe(false);
    expect(await v.revokeKey(created.keyId)).toBe("already-gone");
    expect(await v.verify(secretOf(created))).toMatchObject({
      valid: false,
      status: 401,
      reason: expect.stringMatching(/invalid, expired, or revoked/),
    });
  });

  it("an unknown management key: a clear non-retryable error that does not carry the key", async () => {
    const wrong = `SG.${"x".repeat(22)}.${"y".repeat(43)}`;
    const { s, v } = await start({}, () => wrong);
    for (const call of [() => v.createKey("key-rotator/sg/r1"), () => v.listKeys(), () => v.revokeKey("abc")]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ retryable: false, status: 401 });
      expect((err as Error).message).toMatch(/^SendGrid \w+: the vendor refused the management credential \(401\)/);
      expect((err as Error).message).not.toContain(wrong);
    }
    expect(s.keyHistory().map((k) => k.name)).toEqual(["key-rotator management (sandbox)"]);
  });

  it("a management key without the api_keys scopes: create is refused (403), not retried", async () => {
    let mailOnly = "";
    const { s, v } = await start({}, (sg) => (mailOnly = sg.issueKey("mail only", ["mail.send"]).key));
    const err = await v.createKey("key-rotator/sg/r1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VendorError);
    expect(err).toMatchObject({ retryable: false, status: 403 });
    expect((err as Error).message).toMatch(/lacks permission/);
    expect((err as Error).message).not.toContain(mailOnly);
    expect(s.requestsByRoute["POST /v3/api_keys"]).toBe(1);
  });

  it("a 429 waits until X-RateLimit-Reset (epoch seconds) and goes on", async () => {
    const { s, v } = await start({ ratePeriodS: 1 });
    s.faults.add({ kind: "rate-limit", match: "POST", count: 1 });
    const created = await v.createKey("key-rotator/sg/r1");
    expect(s.isKeyActive(created.keyId)).toBe(true);
    expect(s.requestsByRoute["POST /v3/api_keys"]).toBe(2);
  });

  it("a reset further than the definition's 70 s: RateLimitedError at the reset, without waiting", async () => {
    // The vendor's clock ten minutes ahead puts its reset ten to eleven minutes away.
    const { s, v } = await start({ clock: () => Date.now() + 600_000, ratePeriodS: 60 });
    s.faults.add({ kind: "rate-limit", match: "POST", count: 1 });
    const t0 = Date.now();
    const err = await v.createKey("key-rotator/sg/r1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    const at = (err as RateLimitedError).retryAt;
    expect(at).toBeGreaterThanOrEqual(t0 + 600_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 661_000);
    expect(at % 1000).toBe(50);
    expect(s.requestsByRoute["POST /v3/api_keys"]).toBe(1);
  });

  it("lists every key of a full account (100) in one answer: SendGrid's list does not page", async () => {
    const { s, v } = await start();
    const ids = Array.from({ length: 99 }, (_, i) => s.issueKey(`key-rotator/sg/r${i}`).id);
    const all = await v.listKeys();
    expect(all).toHaveLength(100);
    expect(all.map((k) => k.keyId).slice(1)).toEqual(ids);
    expect(s.requestsByRoute["GET /v3/api_keys"]).toBe(1);
    // The account is full: the next create is refused, as documented.
    expect(await v.createKey("key-rotator/sg/r100").catch((e: unknown) => e)).toMatchObject({
      retryable: false,
      status: 403,
    });
  });

  it("a 500 on create is a retryable VendorError; a reset connection is OutcomeUnknownError", async () => {
    const { s, v } = await start();
    s.faults.add({ kind: "error", status: 500, match: "POST", count: 1 });
    const e500 = await v.createKey("key-rotator/sg/r1").catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(VendorError);
    expect(e500).not.toBeInstanceOf(RateLimitedError);
    expect(e500).toMatchObject({ retryable: true, status: 500 });

    s.faults.add({ kind: "reset", match: "POST", count: 1 });
    const reset = await v.createKey("key-rotator/sg/r2").catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(OutcomeUnknownError);
    expect(s.keyHistory()).toHaveLength(1);
  });
});
