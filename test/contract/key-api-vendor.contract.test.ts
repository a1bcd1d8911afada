/**
 * The KeyApiVendor contract (src/core/ports.ts), run over every key-API adapter in the registry
 * (against its simulator, built by the module's own factory) and over the fake the unit tests
 * use, so the fake cannot drift from the adapters. The orphan sweep (rules 2 and 11) runs over
 * each of them too: an orphan goes once past the minimum age, a key a staged version holds stays,
 * and a key without our name prefix is never touched.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KeyApiVendor } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { type KeyApiValue, type ValueShape, serializeStoredValue } from "../../src/core/stored-value.js";
import { runOrphanSweep } from "../../src/jobs/orphan-sweep.job.js";
import { createLogger } from "../../src/observability/logger.js";
import { keyNameFor } from "../../src/rotation/revocation.js";
import { builtInVendors } from "../../src/vendors/registry.js";
import { FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";
import { KEY_API_HARNESSES, type RunningKeyApi } from "../vendors/key-api-harnesses.js";

interface Subject {
  name: string;
  value: ValueShape<KeyApiValue>;
  vendorId: string;
  start(): Promise<RunningKeyApi>;
}

const keyApiModules = builtInVendors().flatMap((m) => (m.flow === "key-api" ? [m] : []));

const subjects: Subject[] = [
  ...keyApiModules.map((m) => ({
    name: `${m.id} adapter against its simulator`,
    value: m.value,
    vendorId: m.id,
    start: () => {
      const harness = KEY_API_HARNESSES[m.id];
      if (!harness)
        throw new Error(`no simulator harness for key-API vendor ${m.id} in test/vendors/key-api-harnesses.ts`);
      return harness.start();
    },
  })),
  {
    name: "the fake the unit tests use",
    value: KEY_VALUE,
    vendorId: "callcov",
    start: async () => {
      const fake = new FakeVendor([]);
      return {
        vendor: fake,
        makeOutsideKey: async (name) => {
          const keyId = `outside-${fake.active.size + 1}`;
          fake.seed(keyId, `sk_live_outside${String(fake.active.size).padStart(8, "0")}`, name);
          return { keyId };
        },
        isActive: (keyId) => fake.active.has(keyId),
        stop: async () => undefined,
      };
    },
  },
];

/** What the engine hands `verify` for a made key: its stored value's secret (the key's parts). */
function secretOf(subject: Subject, created: { key: SecretValue; keyId: string }): SecretValue {
  return subject.value.secretOf({ vendor: subject.vendorId, apiKey: created.key.reveal(), keyId: created.keyId });
}

it("every key-API vendor in the registry has a simulator harness", () => {
  expect(keyApiModules.length).toBeGreaterThan(0);
  expect(keyApiModules.filter((m) => !KEY_API_HARNESSES[m.id]).map((m) => m.id)).toEqual([]);
});

describe.each(subjects)("KeyApiVendor contract: $name", (subject) => {
  let running: RunningKeyApi;
  let vendor: KeyApiVendor;
  beforeEach(async () => {
    running = await subject.start();
    vendor = running.vendor;
  });
  afterEach(async () => running.stop());

  it("creates a key under the given name that the vendor accepts, in the vendor's key format", async () => {
    const created = await vendor.createKey("key-rotator/cc/r1");
    expect(created.name).toBe("key-rotator/cc/r1");
    expect(created.keyId.length).toBeGreaterThan(0);
    expect(Number.isNaN(created.createdAt.getTime())).toBe(false);
    const value = { vendor: subject.vendorId, apiKey: created.key.reveal(), keyId: created.keyId };
    expect(() => subject.value.parse(serializeStoredValue(value), "contract")).not.toThrow();
    expect(await vendor.verify(subject.value.secretOf(value))).toMatchObject({ valid: true });
  });

  it("is not idempotent: two creates under one name make two keys", async () => {
    const a = await vendor.createKey("key-rotator/cc/r2");
    const b = await vendor.createKey("key-rotator/cc/r2");
    expect(a.keyId).not.toBe(b.keyId);
    const listed = (await vendor.listKeys()).filter((k) => k.name === "key-rotator/cc/r2").map((k) => k.keyId);
    expect(listed.sort()).toEqual([a.keyId, b.keyId].sort());
  });

  it("lists keys by id, name and creation time, never the key itself", async () => {
    const created = await vendor.createKey("key-rotator/cc/r3");
    const listed = (await vendor.listKeys()).find((k) => k.keyId === created.keyId);
    expect(listed).toMatchObject({ keyId: created.keyId, name: "key-rotator/cc/r3" });
    expect(Math.abs((listed?.createdAt.getTime() ?? 0) - created.createdAt.getTime())).toBeLessThan(1_000);
    expect(JSON.stringify(await vendor.listKeys())).not.toContain(created.key.reveal());
  });

  it("revokes a key, which is then refused (401, or the vendor's refusal); a second revoke and an unknown id are already gone", async () => {
    const created = await vendor.createKey("key-rotator/cc/r4");
    expect(await vendor.revokeKey(created.keyId)).toBe("revoked");
    expect(await vendor.revokeKey(created.keyId)).toBe("already-gone");
    expect(await vendor.revokeKey("no-such-key-id")).toBe("already-gone");
    expect(await vendor.verify(secretOf(subject, created))).toMatchObject({
      valid: false,
      status: running.refusedStatus ?? 401,
    });
    expect((await vendor.listKeys()).some((k) => k.keyId === created.keyId)).toBe(false);
  });

  it("refuses a key it never made (401, or the vendor's refusal), as a verdict, not an exception", async () => {
    const created = await vendor.createKey("key-rotator/cc/r5");
    const forged = { ...created, key: new SecretValue(created.key.reveal().slice(0, -4) + "zzzz") };
    expect(await vendor.verify(secretOf(subject, forged))).toMatchObject({
      valid: false,
      status: running.refusedStatus ?? 401,
    });
  });

  describe("the orphan sweep over it", () => {
    const MIN_AGE_MS = 3_600_000;
    const log = createLogger({ level: "silent" });

    async function world() {
      const store = new FakeStore([]);
      const stored = async (secretId: string, versionId: string, name: string) => {
        const k = await vendor.createKey(name);
        const value = JSON.stringify({ vendor: subject.vendorId, apiKey: k.key.reveal(), keyId: k.keyId });
        if (versionId === "current") store.seed(secretId, versionId, value);
        else await store.putPending(secretId, versionId, new SecretValue(value));
        return k.keyId;
      };
      const current = await stored("s/cc", "current", keyNameFor("cc", "r-current"));
      const pending = await stored("s/cc", "r-pending", keyNameFor("cc", "r-pending"));
      const orphan = (await vendor.createKey(keyNameFor("cc", "r-crashed"))).keyId;
      // A second key under a staged version's name is an orphan too: keys go by id, not by name.
      const sameName = (await vendor.createKey(keyNameFor("cc", "r-pending"))).keyId;
      const outside = (await running.makeOutsideKey("billing integration")).keyId;
      const unknownCredential = (await vendor.createKey(keyNameFor("not-in-inventory", "r1"))).keyId;
      const sweep = (nowMs: number, inFlight: boolean) =>
        runOrphanSweep({
          accounts: [{ vendor, value: subject.value, credentials: [{ id: "cc", secretId: "s/cc" }] }],
          store,
          log,
          now: () => nowMs,
          minAgeMs: MIN_AGE_MS,
          rotationInFlight: async () => inFlight,
        });
      return { current, pending, orphan, sameName, outside, unknownCredential, sweep };
    }

    it("keeps a young orphan while a rotation is in flight, and revokes it once past the minimum age", async () => {
      const w = await world();
      const young = await w.sweep(Date.now(), true);
      expect(young.revoked).toEqual([]);
      expect(running.isActive(w.orphan)).toBe(true);

      const old = await w.sweep(Date.now() + 2 * MIN_AGE_MS, true);
      expect(old.revoked.sort()).toEqual([w.orphan, w.sameName].sort());
      expect(running.isActive(w.orphan)).toBe(false);
      expect(running.isActive(w.sameName)).toBe(false);
    });

    it("never touches a key a staged version holds, a key without our prefix, or another credential's", async () => {
      const w = await world();
      await w.sweep(Date.now() + 2 * MIN_AGE_MS, false);
      for (const kept of [w.current, w.pending, w.outside, w.unknownCredential])
        expect(running.isActive(kept)).toBe(true);
    });
  });
});
