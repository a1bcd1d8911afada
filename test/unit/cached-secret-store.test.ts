import { describe, expect, it } from "vitest";
import { CachedSecretStore } from "../../src/store/cached-secret-store.js";
import { FakeStore } from "../support/fake-ports.js";

describe("CachedSecretStore", () => {
  it("reads a version by id once, reads by stage every time, and forgets after the TTL", async () => {
    const calls: string[] = [];
    let now = 0;
    const inner = new FakeStore(calls);
    inner.seed("s", "v1", "{}");
    const store = new CachedSecretStore(inner, { ttlMs: 1_000, now: () => now });
    await store.read("s", { versionId: "v1" });
    await store.read("s", { versionId: "v1" });
    await store.read("s", { stage: "AWSCURRENT" });
    await store.read("s", { stage: "AWSCURRENT" });
    expect(calls).toEqual(["store.read", "store.read", "store.read"]);
    now = 1_001;
    await store.read("s", { versionId: "v1" });
    expect(calls).toHaveLength(4);
  });

  it("remembers a read by stage by the version id it returned only when told to keep it", async () => {
    const calls: string[] = [];
    const inner = new FakeStore(calls);
    inner.seed("s", "v1", "{}");
    inner.seed("t", "w1", "{}");
    const store = new CachedSecretStore(inner);
    await store.read("s", { stage: "AWSCURRENT" }, true);
    await store.read("s", { versionId: "v1" });
    expect(calls).toEqual(["store.read"]);
    await store.read("t", { stage: "AWSCURRENT" });
    await store.read("t", { versionId: "w1" });
    expect(calls).toEqual(["store.read", "store.read", "store.read"]);
  });

  it("keeps at most maxEntries values", async () => {
    const calls: string[] = [];
    const inner = new FakeStore(calls);
    inner.seed("s", "v1", "{}");
    await inner.putPending("s", "v2", new (await import("../../src/core/secret.js")).SecretValue("{}"));
    const store = new CachedSecretStore(inner, { maxEntries: 1 });
    await store.read("s", { versionId: "v1" });
    await store.read("s", { versionId: "v2" });
    await store.read("s", { versionId: "v1" });
    expect(calls.filter((c) => c === "store.read")).toHaveLength(3);
  });

  it("answers a cached read with the version's id, creation time and value, and no stages", async () => {
    const calls: string[] = [];
    const inner = new FakeStore(calls, undefined, () => 1_700_000_000_000);
    inner.seed("s", "v1", '{"k":"a"}');
    const store = new CachedSecretStore(inner);
    await store.read("s", { versionId: "v1" });
    const hit = await store.read("s", { versionId: "v1" });
    expect(calls).toEqual(["store.read"]);
    expect(hit.versionId).toBe("v1");
    expect(hit.stages).toEqual([]);
    expect(hit.createdAt.getTime()).toBe(1_700_000_000_000);
    expect(hit.value.reveal()).toBe('{"k":"a"}');
  });

  it("gives up the version remembered first when full, and a fresh version outlives an expired one", async () => {
    const calls: string[] = [];
    let now = 0;
    const inner = new FakeStore(calls);
    for (const id of ["a", "b", "c", "d"]) inner.seed(id, `v${id}`, "{}");
    const store = new CachedSecretStore(inner, { maxEntries: 3, ttlMs: 1_000, now: () => now });
    await store.read("a", { versionId: "va" });
    now = 10;
    await store.read("b", { versionId: "vb" });
    await store.read("c", { versionId: "vc" });
    await store.read("d", { versionId: "vd" }); // full: a goes
    const reads = () => calls.filter((c) => c === "store.read").length;
    expect(reads()).toBe(4);
    await store.read("b", { versionId: "vb" });
    await store.read("d", { versionId: "vd" });
    expect(reads()).toBe(4);
    now = 500;
    await store.read("a", { versionId: "va" }); // given up: read again (and now b, the oldest, goes)
    expect(reads()).toBe(5);
    now = 1_011; // c and d (remembered at 10) have expired; a (at 500) has not
    await store.read("a", { versionId: "va" });
    expect(reads()).toBe(5);
    await store.read("c", { versionId: "vc" });
    expect(reads()).toBe(6);
  });

  it("remembers of what readCurrent reads only what `keep` says: a due check reads the whole fleet, nearly none of it due", async () => {
    const calls: string[] = [];
    const inner = new FakeStore(calls);
    for (const id of ["a", "b", "c"]) inner.seed(id, `v${id}`, `{"k":"${id}"}`);
    const store = new CachedSecretStore(inner);
    const reads = () => calls.filter((c) => c === "store.read").length;
    const out = await store.readCurrent(["a", "b"]);
    expect([...out.read.keys()]).toEqual(["a", "b"]);
    expect(out.read.get("a")?.value.reveal()).toBe('{"k":"a"}');
    await store.read("a", { versionId: "va" });
    await store.read("b", { versionId: "vb" });
    expect(reads()).toBe(2); // without keep: none remembered
    const asked: string[] = [];
    await store.readCurrent(["b", "c"], (secretId, createdAt) => {
      expect(createdAt).toBeInstanceOf(Date);
      asked.push(secretId);
      return secretId === "c";
    });
    expect(asked).toEqual(["b", "c"]);
    expect((await store.read("c", { versionId: "vc" })).value.reveal()).toBe('{"k":"c"}');
    expect(reads()).toBe(2); // c kept
    await store.read("b", { versionId: "vb" });
    expect(reads()).toBe(2); // b was remembered by its read by id above, not by readCurrent
  });
});
