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

  it("counts a version read again as the newest, so the full cache gives up the oldest other", async () => {
    const calls: string[] = [];
    let now = 0;
    const inner = new FakeStore(calls);
    inner.seed("a", "va", "{}");
    inner.seed("b", "vb", "{}");
    inner.seed("c", "vc", "{}");
    inner.seed("d", "vd", "{}");
    const store = new CachedSecretStore(inner, { maxEntries: 3, ttlMs: 1_000, now: () => now });
    await store.readCurrent(["a"]);
    now = 10;
    await store.readCurrent(["b"]);
    now = 20;
    await store.readCurrent(["a"]); // a again: now b is the oldest
    await store.readCurrent(["c"]);
    await store.readCurrent(["d"]); // full: b goes
    now = 1_005; // b would have expired; a (remembered at 20) has not
    await store.read("a", { versionId: "va" });
    expect(calls.filter((c) => c === "store.read")).toHaveLength(0);
    await store.read("b", { versionId: "vb" });
    expect(calls.filter((c) => c === "store.read")).toHaveLength(1);
  });
});
