/**
 * The orphan sweep (DESIGN.md rules 2 and 11): keys with our name whose key id no staged version
 * holds are revoked, matched by key id, never by name.
 */
import { describe, expect, it } from "vitest";
import { runOrphanSweep } from "../../src/jobs/orphan-sweep.job.js";
import { createLogger } from "../../src/observability/logger.js";
import { FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const NOW = 10_000_000_000;
const log = createLogger({ level: "silent" });
const value = (keyId: string) =>
  JSON.stringify({ vendor: "callcov", apiKey: `sk_live_${keyId.padEnd(10, "0")}`, keyId });

function world() {
  const calls: string[] = [];
  const store = new FakeStore(calls, undefined, () => NOW);
  const vendor = new FakeVendor(calls);
  const ages = new Map<string, number>();
  const list = vendor.listKeys.bind(vendor);
  vendor.listKeys = async () =>
    (await list()).map((k) => ({ ...k, createdAt: new Date(NOW - (ages.get(k.keyId) ?? 86_400_000)) }));
  const key = (keyId: string, name: string, ageMs?: number) => {
    vendor.seed(keyId, `sk_live_${keyId.padEnd(10, "0")}`, name);
    if (ageMs !== undefined) ages.set(keyId, ageMs);
  };
  // cc-a: v1 (previous, k1) -> r2 (current and pending, k2).
  store.seed("s/a", "v1", value("k1"));
  const a = store.secrets.get("s/a") ?? [];
  a[0] = { ...a[0]!, stages: ["AWSPREVIOUS"] };
  a.push({ versionId: "r2", stages: ["AWSCURRENT", "AWSPENDING"], value: value("k2"), createdAt: new Date(NOW) });
  a.push({ versionId: "r0", stages: [], value: value("k0"), createdAt: new Date(NOW) });
  return {
    store,
    vendor,
    key,
    sweep: (inFlight = false) =>
      runOrphanSweep({
        accounts: [
          {
            vendor,
            value: KEY_VALUE,
            credentials: [
              { id: "cc-a", secretId: "s/a" },
              { id: "cc-bad", secretId: "s/bad" },
            ],
          },
        ],
        store,
        log,
        now: () => NOW,
        minAgeMs: 600_000,
        rotationInFlight: async () => inFlight,
      }),
  };
}

describe("runOrphanSweep", () => {
  it("revokes by key id: a second key under a staged version's name, and keys of unstaged or missing versions", async () => {
    const w = world();
    w.key("k1", "key-rotator/cc-a/v1");
    w.key("k2", "key-rotator/cc-a/r2");
    w.key("k2-twin", "key-rotator/cc-a/r2"); // a create repeated after Redis lost the first attempt
    w.key("k0", "key-rotator/cc-a/r0"); // rolled back, unstaged
    w.key("k-lost", "key-rotator/cc-a/never-stored");
    w.key("k-hand", "made by a person");
    w.key("k-other", "key-rotator/not-in-inventory/r9");
    const summary = await w.sweep();
    expect(summary.revoked.sort()).toEqual(["k-lost", "k0", "k2-twin"]);
    expect([...w.vendor.active.keys()].sort()).toEqual(["k-hand", "k-other", "k1", "k2"]);
  });

  it("a young key is left while a rotation of its credential is in flight, and swept when none is", async () => {
    const w = world();
    w.key("k-young", "key-rotator/cc-a/r3", 1_000);
    expect((await w.sweep(true)).revoked).toEqual([]);
    expect((await w.sweep(false)).revoked).toEqual(["k-young"]);
  });

  it("a credential whose staged value cannot be read keeps its keys; the others are still swept", async () => {
    const w = world();
    w.store.seed("s/bad", "vb", JSON.stringify({ vendor: "callcov", apiKey: "edited by hand" }));
    w.key("k-bad", "key-rotator/cc-bad/vb");
    w.key("k-lost", "key-rotator/cc-a/never-stored");
    const summary = await w.sweep();
    expect(summary.revoked).toEqual(["k-lost"]);
    expect(summary.errors).toBe(1);
    expect(w.vendor.active.has("k-bad")).toBe(true);
  });
});
