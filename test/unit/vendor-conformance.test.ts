/**
 * The conformance run of `key-rotator vendor check` (src/cli/vendor-conformance.ts) over a fake
 * key API that appends each call to `calls`: the exact order of vendor calls for each way a vendor
 * can fail to conform, which steps are skipped, and that cleanup always tries to leave no key.
 */
import { describe, expect, it } from "vitest";
import { InvalidStateError, OutcomeUnknownError, VendorError } from "../../src/core/errors.js";
import type { CreatedKey, KeyApiVendor, ListedKey, Verdict } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { type KeyApiValue, keyApiValueShape } from "../../src/core/stored-value.js";
import { keyPartsSecret } from "../../src/vendors/definition/definition-vendor.js";
import { type ConformanceReport, type VendorCall, runConformance } from "../../src/cli/vendor-conformance.js";

const NAME = "key-rotator/conformance/0123456789ab";
const KEY = "tk_0123456789abcdef";

/** A key API whose answers a test changes: by default one that conforms. */
class FakeKeyApi implements KeyApiVendor {
  calls: string[] = [];
  http: VendorCall[] = [];
  alive = new Map<string, string>();
  made = KEY;
  createFails: Error | undefined;
  createFailsAfterMaking = false;
  verifyAcceptsNew = true;
  acceptsAfterRevoke = false;
  revokeFails = 0;
  revokeSaysGone = false;
  listName = (name: string) => name;

  async createKey(name: string): Promise<CreatedKey> {
    this.calls.push("create");
    if (this.createFails && !this.createFailsAfterMaking) throw this.createFails;
    this.http.push({ operation: "login", status: 200 }, { operation: "create", status: 201 });
    this.alive.set("k1", name);
    if (this.createFails) throw this.createFails;
    return { keyId: "k1", name, key: new SecretValue(this.made), createdAt: new Date() };
  }

  async verify(key: SecretValue): Promise<Verdict> {
    const parts = JSON.parse(key.reveal()) as { id: string; secret: string };
    this.calls.push(`verify ${parts.id}`);
    expect(parts.secret).toBe(this.made);
    const valid = this.alive.has(parts.id) ? this.verifyAcceptsNew : this.acceptsAfterRevoke;
    this.http.push({ operation: "verify", status: valid ? 200 : 401 });
    return valid ? { valid: true } : { valid: false, status: 401, reason: "refused: no such key" };
  }

  async listKeys(): Promise<ListedKey[]> {
    this.calls.push("list");
    this.http.push({ operation: "list", status: 200 });
    return [...this.alive].map(([keyId, name]) => ({ keyId, name: this.listName(name), createdAt: new Date() }));
  }

  async revokeKey(keyId: string): Promise<"revoked" | "already-gone"> {
    this.calls.push(`revoke ${keyId}`);
    if (this.revokeFails > 0) {
      this.revokeFails--;
      this.http.push({ operation: "revoke", status: 500 });
      throw new VendorError("Fake revoke answered 500", { retryable: true, status: 500 });
    }
    this.http.push({ operation: "revoke", status: this.revokeSaysGone ? 404 : 204 });
    const had = this.alive.delete(keyId);
    return had && !this.revokeSaysGone ? "revoked" : "already-gone";
  }
}

async function conform(vendor: FakeKeyApi): Promise<ConformanceReport> {
  const sleeps: number[] = [];
  const report = await runConformance(
    {
      vendor,
      vendorId: "fake",
      value: VALUE,
      takeCalls: () => vendor.http.splice(0),
      sleep: async (ms) => void sleeps.push(ms),
      attempts: 3,
    },
    NAME,
  );
  expect(sleeps.every((ms) => ms === 1_000)).toBe(true);
  return report;
}

/** The value shape a definition's module gives: the engine's layout, verify taking the key's parts. */
const shape = keyApiValueShape("fake", { pattern: /^tk_[0-9a-f]{16}$/, hint: "expected tk_ and 16 hex digits" });
const VALUE = { ...shape, secretOf: (v: KeyApiValue) => keyPartsSecret({ id: v.keyId, secret: v.apiKey }) };

const summary = (r: ConformanceReport) => r.steps.map((s) => `${s.step} ${s.ok ? "ok" : "FAIL"} ${s.status ?? "-"}`);

describe("vendor check's conformance run", () => {
  it("a vendor that conforms: six steps in order, each with its own call's status; no cleanup", async () => {
    const v = new FakeKeyApi();
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "verify k1", "list", "revoke k1", "verify k1", "list"]);
    expect(summary(r)).toEqual([
      "create ok 201",
      "verify ok 200",
      "list ok 200",
      "revoke ok 204",
      "confirm-refused ok 401",
      "confirm-gone ok 200",
    ]);
    expect(r).toMatchObject({ passed: true, keyId: "k1", keyLeftBehind: false, keyName: NAME });
    expect(r.steps[0]?.calls).toEqual([
      { operation: "login", status: 200 },
      { operation: "create", status: 201 },
    ]);
    expect(JSON.stringify(r)).not.toContain(KEY);
  });

  it("a create that fails before any request: thrown (bad input), nothing called after it", async () => {
    const v = new FakeKeyApi();
    v.createFails = new InvalidStateError("management secret m: password: expected a non-empty string");
    await expect(conform(v)).rejects.toThrow(/management secret m/);
    expect(v.calls).toEqual(["create"]);
  });

  it("a create whose answer is lost: the rest skipped, and the key looked for by its name and revoked", async () => {
    const v = new FakeKeyApi();
    v.createFails = new OutcomeUnknownError("Fake create: the connection dropped after the request was sent");
    v.createFailsAfterMaking = true;
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "list", "revoke k1"]);
    expect(summary(r)).toEqual([
      "create FAIL 201",
      "verify FAIL -",
      "list FAIL -",
      "revoke FAIL -",
      "confirm-refused FAIL -",
      "confirm-gone FAIL -",
      "cleanup ok 204",
    ]);
    expect(r.steps[1]?.detail).toBe("skipped: no key was made");
    expect(r.steps[6]?.detail).toBe("revoked key k1 (the run leaves no key)");
    expect(r).toMatchObject({ passed: false, keyId: null, keyLeftBehind: false });
  });

  it("a key the engine would not store (wrong format): verify skipped, the key still revoked", async () => {
    const v = new FakeKeyApi();
    v.made = "tk_not-hex-at-all!";
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "list", "revoke k1", "list", "revoke k1"]);
    expect(r.steps[0]?.detail).toMatch(
      /^made key k1, which the engine would not store: .*expected tk_ and 16 hex digits/,
    );
    expect(r.steps[0]?.detail).not.toContain(v.made);
    expect(summary(r).map((s) => s.split(" ").slice(0, 2).join(" "))).toEqual([
      "create FAIL",
      "verify FAIL",
      "list ok",
      "revoke ok",
      "confirm-refused FAIL",
      "confirm-gone ok",
      "cleanup ok",
    ]);
    expect(r.keyLeftBehind).toBe(false);
  });

  it("a new key the vendor refuses, and a list without the key's name: both fail, the run goes on", async () => {
    const v = new FakeKeyApi();
    v.verifyAcceptsNew = false;
    v.listName = () => "";
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "verify k1", "list", "revoke k1", "verify k1", "list"]);
    expect(r.steps[1]).toMatchObject({
      ok: false,
      status: 401,
      detail: "the vendor does not accept the key it just made: refused: no such key (401)",
    });
    expect(r.steps[2]).toMatchObject({ ok: false, detail: expect.stringMatching(/listed as "", not by the name/) });
    expect(r).toMatchObject({ passed: false, keyLeftBehind: false });
  });

  it("a key still accepted after its revocation: looked at again, then revoked again, and named as left", async () => {
    const v = new FakeKeyApi();
    v.acceptsAfterRevoke = true;
    const r = await conform(v);
    expect(v.calls).toEqual([
      "create",
      "verify k1",
      "list",
      "revoke k1",
      "verify k1",
      "verify k1",
      "verify k1",
      "list",
      "revoke k1",
      "verify k1",
    ]);
    expect(r.steps[4]).toMatchObject({
      step: "confirm-refused",
      ok: false,
      detail: "the vendor still accepts the key after its revocation (after 3 looks, 1 s apart)",
    });
    expect(r.steps[6]).toMatchObject({ step: "cleanup", ok: false });
    expect(r.steps[6]?.detail).toMatch(/still accepted after a second revoke; revoke key k1 by hand/);
    expect(r).toMatchObject({ passed: false, keyLeftBehind: true });
  });

  it("a revoke that fails once: the confirmations skipped, the cleanup's revoke works", async () => {
    const v = new FakeKeyApi();
    v.revokeFails = 1;
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "verify k1", "list", "revoke k1", "revoke k1", "verify k1"]);
    expect(summary(r).slice(3)).toEqual([
      "revoke FAIL 500",
      "confirm-refused FAIL -",
      "confirm-gone FAIL -",
      "cleanup ok 204",
    ]);
    expect(r.keyLeftBehind).toBe(false);
  });

  it("a revoke that keeps failing: the key is named as left", async () => {
    const v = new FakeKeyApi();
    v.revokeFails = 2;
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "verify k1", "list", "revoke k1", "revoke k1"]);
    expect(r.steps[6]?.detail).toMatch(/^could not revoke key k1: Fake revoke answered 500; revoke key k1 by hand/);
    expect(r.keyLeftBehind).toBe(true);
  });

  it('a revoke answered "already gone" for a key just listed does not conform; the confirmations still run', async () => {
    const v = new FakeKeyApi();
    v.revokeSaysGone = true;
    const r = await conform(v);
    expect(v.calls).toEqual(["create", "verify k1", "list", "revoke k1", "verify k1", "list"]);
    expect(summary(r).slice(3)).toEqual(["revoke FAIL 404", "confirm-refused ok 401", "confirm-gone ok 200"]);
    expect(r).toMatchObject({ passed: false, keyLeftBehind: false });
  });
});
