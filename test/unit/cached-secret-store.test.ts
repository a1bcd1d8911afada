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
});
