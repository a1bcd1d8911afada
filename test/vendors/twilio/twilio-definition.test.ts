/**
 * vendors/twilio.yaml through the product's module (its `keyApi` factory) against the Twilio
 * simulator: a key is an SK… sid plus a secret, verified with HTTP Basic on Messages.json;
 * management is Basic AccountSid:AuthToken; lists page by next_page_uri; a 429 carries no
 * rate-limit header, so it waits the definition's fixed second.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OutcomeUnknownError, RateLimitedError, VendorError } from "../../../src/core/errors.js";
import type { KeyApiVendor } from "../../../src/core/ports.js";
import { SANDBOX_TWILIO, startTwilioSimulator, type TwilioSimulator } from "../../../src/sandbox/twilio-sim.js";
import { vendorModule } from "../../../src/vendors/registry.js";
import type { KeyApiModule } from "../../../src/vendors/vendor-module.js";
import { adapterOf } from "../key-api-harnesses.js";

const module = vendorModule("twilio") as KeyApiModule;
const KEYS_ROUTE = "/2010-04-01/Accounts/{AccountSid}/Keys.json";
let sim: TwilioSimulator | undefined;
afterEach(async () => sim?.close());

async function start(authToken: string = SANDBOX_TWILIO.authToken): Promise<{ s: TwilioSimulator; v: KeyApiVendor }> {
  sim = await startTwilioSimulator({ requestsPerSecond: 10_000 });
  const v = adapterOf(
    module,
    sim.url,
    { accountSid: sim.accountSid, managementSecretId: "twilio/auth-token" },
    { "twilio/auth-token": JSON.stringify({ authToken }) },
  );
  return { s: sim, v };
}

const secretOf = (created: { keyId: string; key: { reveal(): string } }) =>
  module.value.secretOf({ vendor: "twilio", apiKey: created.key.reveal(), keyId: created.keyId });

describe("Twilio as a definition", () => {
  it("creates an SK key whose secret verifies by Basic auth, lists it, revokes it, and then it is refused", async () => {
    const { s, v } = await start();
    const created = await v.createKey("key-rotator/tw/r1");
    expect(created.keyId).toMatch(/^SK[0-9a-f]{32}$/);
    expect(created.key.reveal()).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(created.name).toBe("key-rotator/tw/r1");
    expect(s.isKeyActive(created.keyId)).toBe(true);
    // RFC 2822 has whole seconds: the creation time is Twilio's, not ours.
    expect(created.createdAt.getMilliseconds()).toBe(0);
    expect(await v.verify(secretOf(created))).toEqual({ valid: true });
    expect(s.requestsByRoute["GET /2010-04-01/Accounts/{AccountSid}/Messages.json"]).toBe(1);

    const listed = (await v.listKeys()).find((k) => k.keyId === created.keyId);
    expect(listed).toEqual({ keyId: created.keyId, name: "key-rotator/tw/r1", createdAt: created.createdAt });

    expect(await v.revokeKey(created.keyId)).toBe("revoked");
    expect(s.isKeyActive(created.keyId)).toBe(false);
    expect(await v.revokeKey(created.keyId)).toBe("already-gone");
    const verdict = await v.verify(secretOf(created));
    expect(verdict).toMatchObject({ valid: false, status: 401 });
    expect(JSON.stringify(verdict)).not.toContain(created.key.reveal());
  });

  it("a key's secret under another key's sid is refused", async () => {
    const { v } = await start();
    const a = await v.createKey("key-rotator/tw/a");
    const b = await v.createKey("key-rotator/tw/b");
    const mixed = module.value.secretOf({ vendor: "twilio", apiKey: a.key.reveal(), keyId: b.keyId });
    expect(await v.verify(mixed)).toMatchObject({ valid: false, status: 401 });
  });

  it("a wrong Auth Token: a clear non-retryable error that does not carry the token", async () => {
    const wrong = "00000000000000000000000000000bad";
    const { s, v } = await start(wrong);
    for (const call of [() => v.createKey("key-rotator/tw/r1"), () => v.listKeys(), () => v.revokeKey("SK1")]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ retryable: false, status: 401 });
      expect((err as Error).message).toMatch(/^Twilio \w+: the vendor refused the management credential \(401\)/);
      expect((err as Error).message).not.toContain(wrong);
      expect((err as Error).message).not.toContain(SANDBOX_TWILIO.authToken);
    }
    expect(s.keyHistory()).toEqual([]);
  });

  it("a 429 without headers waits the definition's second and goes on", async () => {
    const { s, v } = await start();
    s.faults.add({ kind: "rate-limit", match: "POST", count: 1 });
    const t0 = Date.now();
    const created = await v.createKey("key-rotator/tw/r1");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(s.isKeyActive(created.keyId)).toBe(true);
    expect(s.requestsByRoute[`POST ${KEYS_ROUTE}`]).toBe(2);
  });

  it("429 after three waits: RateLimitedError with the fallback's retry time", async () => {
    const { s, v } = await start();
    s.faults.add({ kind: "rate-limit", match: "GET", count: 10 });
    const err = await v.listKeys().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    const retryIn = (err as RateLimitedError).retryAt - Date.now();
    expect(retryIn).toBeGreaterThan(0);
    expect(retryIn).toBeLessThanOrEqual(1_000);
    expect(s.requestsByRoute[`GET ${KEYS_ROUTE}`]).toBe(4);
  }, 10_000);

  it("lists across pages by next_page_uri (50 a page), and stops after the page that reaches `limit`", async () => {
    const { s, v } = await start();
    const ids = Array.from({ length: 120 }, (_, i) => s.issueKey(`key-rotator/tw/r${i}`).id);
    const all = await v.listKeys();
    expect(all.map((k) => k.keyId)).toEqual(ids);
    expect(s.requestsByRoute[`GET ${KEYS_ROUTE}`]).toBe(3);
    expect(await v.listKeys({ limit: 1 })).toHaveLength(50);
    expect(s.requestsByRoute[`GET ${KEYS_ROUTE}`]).toBe(4);
  });

  it("a 500 on create is a retryable VendorError; a reset connection is OutcomeUnknownError; a body that is not JSON too", async () => {
    const { s, v } = await start();
    s.faults.add({ kind: "error", status: 500, match: "POST", count: 1 });
    const e500 = await v.createKey("key-rotator/tw/r1").catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(VendorError);
    expect(e500).not.toBeInstanceOf(RateLimitedError);
    expect(e500).toMatchObject({ retryable: true, status: 500 });

    s.faults.add({ kind: "reset", match: "POST", count: 1 });
    const reset = await v.createKey("key-rotator/tw/r2").catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(OutcomeUnknownError);
    expect((reset as Error).message).toMatch(/outcome is unknown/);

    s.faults.add({ kind: "malformed", match: "POST", count: 1 });
    expect(await v.createKey("key-rotator/tw/r3").catch((e: unknown) => e)).toBeInstanceOf(OutcomeUnknownError);
    expect(s.keyHistory()).toEqual([]);
  });
});
