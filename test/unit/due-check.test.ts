import { describe, expect, it } from "vitest";
import { runDueCheck } from "../../src/jobs/due-check.job.js";
import { CurrentVersionCache } from "../../src/jobs/fleet-view.js";
import { CachedSecretStore } from "../../src/store/cached-secret-store.js";
import { createLogger } from "../../src/observability/logger.js";
import { SecretValue } from "../../src/core/secret.js";
import type { RotationRequest } from "../../src/queue/rotation-queue.js";
import { decideDue } from "../../src/schedule/cadence.js";
import { FakeStore } from "../support/fake-ports.js";

const DAY = 86_400_000;
const log = createLogger({ level: "silent" });

function setup(now: number, window?: { cron: string; timezone: string; durationMs: number }) {
  const calls: string[] = [];
  const store = new FakeStore(calls, undefined, () => now - 100 * DAY);
  for (const id of ["a", "b", "c"]) store.seed(`s/${id}`, `v-${id}`, "{}");
  const enqueued: RotationRequest[] = [];
  const ctx = {
    credentials: ["a", "b", "c"].map((id) => ({ id, vendor: "callcov", secretId: `s/${id}` })),
    store,
    schedule: (_id: string, created: Date, at: number) => decideDue({ everyMs: 90 * DAY }, window, created, at),
    enqueue: async (r: RotationRequest) => (
      enqueued.push(r),
      { jobId: `j-${r.credentialId}`, rotationId: r.rotationId ?? "x", joined: false }
    ),
    log,
    now: () => now,
  };
  return { store, enqueued, ctx };
}

describe("runDueCheck", () => {
  it("starts due keys with ids every replica computes alike, resumes what the store shows pending", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const { store, enqueued, ctx } = setup(now);
    await store.putPending("s/b", "pending-b", new SecretValue("{}"));
    const summary = await runDueCheck(ctx);
    expect(summary).toMatchObject({ checked: 3, started: 2, resumed: 1, held: 0, errors: 0 });
    expect(enqueued.find((r) => r.credentialId === "b")).toEqual({
      credentialId: "b",
      trigger: "resume",
      rotationId: "pending-b",
    });
    const again = setup(now);
    await runDueCheck(again.ctx);
    expect(again.enqueued.find((r) => r.credentialId === "a")?.rotationId).toBe(
      enqueued.find((r) => r.credentialId === "a")?.rotationId,
    );
  });

  it("a rotation the secret's finished-marker names is not resumed, though it left AWSPENDING on the current version", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const { store, enqueued, ctx } = setup(now);
    await store.putPending("s/b", "rot-b", new SecretValue("{}"));
    await store.promote("s/b", "rot-b");
    const made = store.secrets.get("s/b")?.find((v) => v.versionId === "rot-b");
    if (made) made.createdAt = new Date(now - DAY);
    expect(store.stagesOf("s/b")["rot-b"]).toEqual(expect.arrayContaining(["AWSCURRENT", "AWSPENDING"]));
    // Not marked: promoted, not finished (in grace, or Redis lost its job): resume it.
    const finishedSeen = new Map<string, string>();
    expect(await runDueCheck({ ...ctx, finishedSeen })).toMatchObject({ started: 2, resumed: 1 });
    expect(enqueued.find((r) => r.credentialId === "b")).toEqual({
      credentialId: "b",
      trigger: "resume",
      rotationId: "rot-b",
    });
    // A marker naming an older rotation does not cover this one.
    store.finished.set("s/b", "v-b");
    enqueued.length = 0;
    expect(await runDueCheck({ ...ctx, finishedSeen })).toMatchObject({ resumed: 1 });
    // Marked finished: b's key is new (not due), so only a and c start.
    store.finished.set("s/b", "rot-b");
    enqueued.length = 0;
    expect(await runDueCheck({ ...ctx, finishedSeen })).toMatchObject({ checked: 3, started: 2, resumed: 0 });
    expect(enqueued.map((r) => r.credentialId).sort()).toEqual(["a", "c"]);
    // Once seen, the marker is remembered in this process: the next tick does not ask again.
    store.calls.length = 0;
    await runDueCheck({ ...ctx, finishedSeen });
    expect(store.calls.filter((c) => c === "store.finishedRotation")).toEqual([]);
  });

  it("holds due keys outside the maintenance window and starts them inside it", async () => {
    const window = { cron: "0 2 * * SAT", timezone: "Europe/Berlin", durationMs: 4 * 3_600_000 };
    const outside = setup(Date.UTC(2026, 10, 23, 12), window); // a Monday
    expect(await runDueCheck(outside.ctx)).toMatchObject({ started: 0, held: 3 });
    expect(outside.enqueued).toEqual([]);
    const inside = setup(Date.UTC(2026, 10, 28, 2), window); // Saturday 03:00 in Berlin
    expect(await runDueCheck(inside.ctx)).toMatchObject({ started: 3, held: 0 });
  });

  it("a secret that cannot be read is counted as an error and does not stop the others", async () => {
    const { store, ctx, enqueued } = setup(Date.UTC(2026, 10, 23, 12));
    store.secrets.delete("s/a");
    expect(await runDueCheck(ctx)).toMatchObject({ checked: 3, errors: 1, started: 2 });
    expect(enqueued.map((r) => r.credentialId).sort()).toEqual(["b", "c"]);
  });
});

describe("runDueCheck over the fleet's listing", () => {
  it("a steady fleet costs one listing a tick; creation times are read once, 20 secrets a call", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const { store, ctx } = setup(now);
    for (const id of ["a", "b", "c"]) {
      const v = store.secrets.get(`s/${id}`)?.[0];
      if (v) v.createdAt = new Date(now - DAY); // young keys: nothing due
    }
    const currentVersions = new CurrentVersionCache();
    expect(await runDueCheck({ ...ctx, currentVersions })).toMatchObject({ checked: 3, started: 0, errors: 0 });
    expect(store.calls).toEqual(["store.listSecrets", "store.readCurrent"]);
    store.calls.length = 0;
    await runDueCheck({ ...ctx, currentVersions });
    expect(store.calls).toEqual(["store.listSecrets"]);
  });

  it("a caching store keeps the values of the due keys it read, for their rotations, and of no other", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const { store, ctx } = setup(now);
    const young = store.secrets.get("s/a")?.[0];
    if (young) young.createdAt = new Date(now - DAY);
    const cached = new CachedSecretStore(store);
    expect(await runDueCheck({ ...ctx, store: cached })).toMatchObject({ checked: 3, started: 2 });
    const reads = () => store.calls.filter((c) => c === "store.read").length;
    const before = reads();
    for (const id of ["b", "c"]) {
      const versionId = store.secrets.get(`s/${id}`)?.[0]?.versionId ?? "";
      await cached.read(`s/${id}`, { versionId });
    }
    expect(reads()).toBe(before); // the due keys' old values: remembered
    await cached.read("s/a", { versionId: young?.versionId ?? "" });
    expect(reads()).toBe(before + 1); // the young key's: not
  });

  it("only a due key gets a closer look, and its rotation id is the one the per-secret check computes", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const listed = setup(now);
    const young = listed.store.secrets.get("s/a")?.[0];
    if (young) young.createdAt = new Date(now - DAY);
    await runDueCheck(listed.ctx);
    expect(listed.store.calls.filter((c) => c === "store.listVersions")).toHaveLength(2);
    const alone = setup(now);
    const youngToo = alone.store.secrets.get("s/a")?.[0];
    if (youngToo) youngToo.createdAt = new Date(now - DAY);
    await runDueCheck({ ...alone.ctx, listing: false });
    expect(listed.enqueued).toEqual(alone.enqueued);
  });

  it("a secret the listing does not show is read alone (and its error named); a failed listing falls back for all", async () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const { store, ctx } = setup(now);
    store.secrets.delete("s/a");
    expect(await runDueCheck(ctx)).toMatchObject({ checked: 3, errors: 1, started: 2 });
    const failing = setup(now);
    failing.store.failures.failOn("listSecrets", 1, () => new Error("ListSecrets: ThrottlingException"));
    expect(await runDueCheck(failing.ctx)).toMatchObject({ checked: 3, started: 3, errors: 0 });
    expect(failing.store.calls.filter((c) => c === "store.listVersions")).toHaveLength(3);
  });
});
