/**
 * vendors/datadog.yaml through the product's module (its `keyApi` factory) against the Datadog
 * simulator: management sends DD-API-KEY and DD-APPLICATION-KEY, bodies are JSON:API, lists page
 * by page[number] (100 a page), a key is checked with GET /api/v1/validate (403 refuses it), and
 * X-RateLimit-Reset counts seconds until the period ends.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OutcomeUnknownError, RateLimitedError, VendorError } from "../../../src/core/errors.js";
import type { KeyApiVendor } from "../../../src/core/ports.js";
import {
  type DatadogSimulator,
  type DatadogSimulatorOptions,
  SANDBOX_DATADOG,
  startDatadogSimulator,
} from "../../../src/sandbox/datadog-sim.js";
import { vendorModule } from "../../../src/vendors/registry.js";
import type { KeyApiModule } from "../../../src/vendors/vendor-module.js";
import { adapterOf } from "../key-api-harnesses.js";

const module = vendorModule("datadog") as KeyApiModule;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let sim: DatadogSimulator | undefined;
afterEach(async () => sim?.close());

async function start(
  options: DatadogSimulatorOptions = {},
  management: { apiKey: string; appKey: string } = SANDBOX_DATADOG,
): Promise<{ s: DatadogSimulator; v: KeyApiVendor }> {
  sim = await startDatadogSimulator(options);
  const v = adapterOf(
    module,
    sim.url,
    { managementSecretId: "datadog/management" },
    { "datadog/management": JSON.stringify(management) },
  );
  return { s: sim, v };
}

const secretOf = (created: { keyId: string; key: { reveal(): string } }) =>
  module.value.secretOf({ vendor: "datadog", apiKey: created.key.reveal(), keyId: created.keyId });

describe("Datadog as a definition", () => {
  it("creates a key that /api/v1/validate accepts, lists it, revokes it, and then it is refused (403)", async () => {
    const { s, v } = await start();
    const created = await v.createKey("key-rotator/dd/r1");
    expect(created.keyId).toMatch(UUID);
    expect(created.key.reveal()).toMatch(/^[a-f0-9]{32}$/);
    expect(created.name).toBe("key-rotator/dd/r1");
    const history = s.keyHistory().find((k) => k.id === created.keyId);
    expect(created.createdAt.getTime()).toBe(history?.createdAt);
    expect(await v.verify(secretOf(created))).toEqual({ valid: true });

    const listed = (await v.listKeys()).find((k) => k.keyId === created.keyId);
    expect(listed).toEqual({ keyId: created.keyId, name: "key-rotator/dd/r1", createdAt: created.createdAt });

    expect(await v.revokeKey(created.keyId)).toBe("revoked");
    expect(s.isKeyActive(created.keyId)).toBe(false);
    expect(await v.revokeKey(created.keyId)).toBe("already-gone");
    expect(await v.verify(secretOf(created))).toMatchObject({
      valid: false,
      status: 403,
      reason: expect.stringMatching(/^refused: /),
    });
  });

  it("a bad application key: a clear non-retryable error that carries neither key", async () => {
    const wrong = { apiKey: SANDBOX_DATADOG.apiKey, appKey: "0".repeat(40) };
    const { s, v } = await start({}, wrong);
    for (const call of [() => v.createKey("key-rotator/dd/r1"), () => v.listKeys(), () => v.revokeKey("abc")]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VendorError);
      expect(err).toMatchObject({ retryable: false, status: 403 });
      expect((err as Error).message).toMatch(/^Datadog \w+: the vendor refused the management credential \(403\)/);
      expect((err as Error).message).not.toContain(wrong.appKey);
      expect((err as Error).message).not.toContain(wrong.apiKey);
    }
    expect(s.keyHistory()).toHaveLength(1);
  });

  it("a 429 waits X-RateLimit-Reset seconds and goes on", async () => {
    const { s, v } = await start({ ratePeriodS: 1 });
    s.faults.add({ kind: "rate-limit", match: "POST", count: 1 });
    const t0 = Date.now();
    const created = await v.createKey("key-rotator/dd/r1");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(s.isKeyActive(created.keyId)).toBe(true);
    expect(s.requestsByRoute["POST /api/v2/api_keys"]).toBe(2);
  });

  it("a reset an hour away: RateLimitedError at the reset, without waiting", async () => {
    // The vendor's clock at the start of its hour-long period: the reset is 3600 s away.
    const { s, v } = await start({ clock: () => Math.floor(Date.now() / 3_600_000) * 3_600_000, ratePeriodS: 3600 });
    s.faults.add({ kind: "rate-limit", match: "GET", count: 1 });
    const t0 = Date.now();
    const err = await v.listKeys().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    const at = (err as RateLimitedError).retryAt;
    expect(at).toBeGreaterThanOrEqual(t0 + 3_600_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(s.requestsByRoute["GET /api/v2/api_keys"]).toBe(1);
  });

  it("lists across pages by page[number] (100 a page) until an empty page, and stops at `limit`", async () => {
    const { s, v } = await start();
    const ids = Array.from({ length: 250 }, (_, i) => s.issueKey(`key-rotator/dd/r${i}`).id);
    const all = await v.listKeys();
    expect(all).toHaveLength(251);
    expect(all.map((k) => k.keyId).slice(1)).toEqual(ids);
    expect(s.requestsByRoute["GET /api/v2/api_keys"]).toBe(4);
    expect(await v.listKeys({ limit: 1 })).toHaveLength(100);
    expect(s.requestsByRoute["GET /api/v2/api_keys"]).toBe(5);
  });

  it("a 500 on create is a retryable VendorError; a reset connection is OutcomeUnknownError", async () => {
    const { s, v } = await start();
    s.faults.add({ kind: "error", status: 500, match: "POST", count: 1 });
    const e500 = await v.createKey("key-rotator/dd/r1").catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(VendorError);
    expect(e500).not.toBeInstanceOf(RateLimitedError);
    expect(e500).toMatchObject({ retryable: true, status: 500 });

    s.faults.add({ kind: "reset", match: "POST", count: 1 });
    const reset = await v.createKey("key-rotator/dd/r2").catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(OutcomeUnknownError);
    expect(s.keyHistory()).toHaveLength(1);
  });
});
