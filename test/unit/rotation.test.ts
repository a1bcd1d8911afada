import { beforeEach, describe, expect, it } from "vitest";
import { RotatorError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { type RotationCredential, type RotationDeps, keyNameFor, rotate } from "../../src/rotation/key-api-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import type { ReplicaState } from "../../src/core/ports.js";
import { CachedSecretStore } from "../../src/store/cached-secret-store.js";
import {
  FailurePlan,
  FakeAlerter,
  FakeStore,
  FakeVendor,
  KEY_VALUE,
  storeFault,
  vendorFault,
} from "../support/fake-ports.js";

const SECRET = "prod/callcov";
const credential: RotationCredential = {
  id: "cc-prod",
  secretId: SECRET,
  graceMs: 60_000,
  maxGraceExtensionMs: 120_000,
};
const OLD_KEY = "sk_live_oldkeyoldkey0001";

interface World {
  calls: string[];
  store: FakeStore;
  vendor: FakeVendor;
  alerter: FakeAlerter;
  now: { t: number };
  storeFailures: FailurePlan;
  vendorFailures: FailurePlan;
}

function world(): World {
  const calls: string[] = [];
  const now = { t: 1_000_000 };
  const storeFailures = new FailurePlan();
  const vendorFailures = new FailurePlan();
  const store = new FakeStore(calls, storeFailures, () => now.t);
  const vendor = new FakeVendor(calls, vendorFailures);
  store.seed(SECRET, "v-old", JSON.stringify({ vendor: "callcov", apiKey: OLD_KEY, keyId: "k-old" }));
  vendor.seed("k-old", OLD_KEY);
  return { calls, store, vendor, alerter: new FakeAlerter(), now, storeFailures, vendorFailures };
}

function deps(w: World, extra: Partial<RotationDeps> = {}): RotationDeps {
  return {
    store: w.store,
    vendor: w.vendor,
    value: KEY_VALUE,
    alerter: w.alerter,
    clock: { now: () => w.now.t },
    ...extra,
  };
}

function initial(emergency = false): RotationState {
  return {
    credentialId: credential.id,
    rotationId: "11111111-2222-3333-4444-555555555555",
    step: Step.Create,
    emergency,
    trigger: emergency ? "emergency" : "schedule",
    startedAt: 0,
  };
}

/** Runs a rotation to its end like the job runtime would: retrying on errors, waiting when told. */
async function runToEnd(w: World, start: RotationState, options: { forgetStateOnError?: boolean } = {}) {
  let saved = start;
  const save = async (s: RotationState) => {
    saved = s;
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const result = await rotate(credential, deps(w), saved, save);
      if (result.kind === "finished") return result.state;
      w.now.t = result.until;
    } catch (err) {
      if (!(err instanceof RotatorError) || !err.retryable) throw err;
      if (options.forgetStateOnError) saved = { ...start };
    }
  }
  throw new Error("did not converge");
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!done()) throw new Error("timed out");
}

function expectConverged(w: World) {
  const current = JSON.parse(w.store.current(SECRET).value) as { apiKey: string; keyId: string };
  expect(current.apiKey).not.toBe(OLD_KEY);
  expect(w.vendor.active.has(current.keyId)).toBe(true);
  expect(w.vendor.revoked.filter((k) => k === "k-old")).toEqual(["k-old"]);
  // No orphan: every active key is the current one.
  expect([...w.vendor.active.keys()]).toEqual([current.keyId]);
  // AWSPENDING may stay on the version now current (a completed rotation leaves it, DESIGN.md),
  // never on another: that would be a rotation still in progress.
  const pendingLeft = Object.values(w.store.stagesOf(SECRET)).filter(
    (stages) => stages.includes("AWSPENDING") && !stages.includes("AWSCURRENT"),
  );
  expect(pendingLeft).toEqual([]);
}

describe("rotate", () => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  it("makes the calls of DESIGN.md in order, waiting out grace as a continuation", async () => {
    const save = async () => undefined;
    const first = await rotate(credential, deps(w), initial(), save);
    expect(first.kind).toBe("wait");
    expect(w.calls.filter((c) => c !== "store.read")).toEqual([
      "store.listVersions",
      "vendor.createKey",
      "store.putPending",
      "vendor.verify",
      "store.promote",
    ]);
    if (first.kind !== "wait") throw new Error("expected wait");
    expect(first.until).toBe(w.now.t + credential.graceMs);
    w.calls.length = 0;
    w.now.t = first.until;
    const second = await rotate(credential, deps(w), first.state, save);
    expect(second.kind).toBe("finished");
    // What to revoke is read from the store again (the versions, the new version's value), never
    // taken from the saved state; the rotation is then marked finished on the secret.
    expect(w.calls.filter((c) => c !== "store.read")).toEqual([
      "store.listVersions",
      "store.finishedRotation",
      "vendor.revokeKey",
      "vendor.verify",
      "store.markFinished",
    ]);
    expect(second.state.step).toBe(Step.Done);
    expect(w.store.finished.get(SECRET)).toBe(initial().rotationId);
    expectConverged(w);
  });

  it("the new version names the key it replaces and carries the fields the product does not own", async () => {
    w.store.seed(
      SECRET,
      "v-old",
      JSON.stringify({
        vendor: "callcov",
        apiKey: OLD_KEY,
        keyId: "k-old",
        baseUrl: "https://api.example",
        region: "eu",
        owner: { team: "payments" },
      }),
    );
    await runToEnd(w, initial());
    const current = JSON.parse(w.store.current(SECRET).value) as Record<string, unknown>;
    expect(current).toMatchObject({
      replacesKeyId: "k-old",
      baseUrl: "https://api.example",
      region: "eu",
      owner: { team: "payments" },
    });
    expect(current.keyId).not.toBe("k-old");
    expectConverged(w);
  });

  it("a completed rotation makes two store writes and leaves AWSPENDING on the version it made current", async () => {
    await runToEnd(w, initial());
    expect(w.calls.filter((c) => ["store.putPending", "store.promote", "store.removePending"].includes(c))).toEqual([
      "store.putPending",
      "store.promote",
    ]);
    expect(w.store.stagesOf(SECRET)).toEqual({
      "v-old": ["AWSPREVIOUS"],
      [initial().rotationId]: ["AWSPENDING", "AWSCURRENT"],
    });
  });

  it("a finished rotation resumed from the store alone (Redis lost) is known finished: no vendor call, no store write", async () => {
    await runToEnd(w, initial());
    w.calls.length = 0;
    w.now.t += 86_400_000;
    const again = await runToEnd(w, { ...initial(), step: Step.Create, trigger: "resume" });
    expect(again.step).toBe(Step.Done);
    expect(w.calls).toEqual(["store.listVersions", "store.finishedRotation"]);
    expectConverged(w);
  });

  it("one finished but not yet marked (a crash before the marker) costs one vendor call to learn it, and no revoke", async () => {
    await runToEnd(w, initial());
    w.store.finished.clear();
    w.calls.length = 0;
    const again = await runToEnd(w, { ...initial(), step: Step.Create, trigger: "resume" });
    expect(again.step).toBe(Step.Done);
    expect(w.calls.filter((c) => c.startsWith("vendor."))).toEqual(["vendor.verify"]);
    expect(w.calls.filter((c) => ["store.putPending", "store.promote", "store.removePending"].includes(c))).toEqual([]);
    expect(w.store.finished.get(SECRET)).toBe(initial().rotationId);
  });

  it("the next rotation moves AWSPENDING off the previous one and completes", async () => {
    await runToEnd(w, initial());
    const next = { ...initial(), rotationId: "99999999-2222-3333-4444-555555555555" };
    expect((await runToEnd(w, next)).step).toBe(Step.Done);
    expect(w.store.stagesOf(SECRET)).toEqual({
      "v-old": [],
      [initial().rotationId]: ["AWSPREVIOUS"],
      [next.rotationId]: ["AWSPENDING", "AWSCURRENT"],
    });
    expect(w.vendor.revoked).toEqual(["k-old", "k1"]);
  });

  it("names the new key after the credential and rotation", async () => {
    await runToEnd(w, initial());
    const current = JSON.parse(w.store.current(SECRET).value) as { keyName: string; rotationId: string };
    expect(current.keyName).toBe(keyNameFor(credential.id, initial().rotationId));
    expect(current.rotationId).toBe(initial().rotationId);
  });

  it("an emergency skips grace and finishes in one run, listing the versions once", async () => {
    const result = await rotate(credential, deps(w), initial(true), async () => undefined);
    expect(result.kind).toBe("finished");
    // The stages after its own promote are known without asking again; the guard reads the values.
    expect(w.calls.filter((c) => c === "store.listVersions")).toEqual(["store.listVersions"]);
    expect(w.store.finished.get(SECRET)).toBe(initial().rotationId);
    expectConverged(w);
  });

  it("an emergency reads its old key beside the listing, keeps it, and reads it no more", async () => {
    const inner = w.store;
    const listVersions = inner.listVersions.bind(inner);
    inner.listVersions = async (secretId) => {
      w.calls.push("listing asked");
      await new Promise((r) => setTimeout(r, 5));
      w.calls.push("listing answered");
      return listVersions(secretId);
    };
    const read = inner.read.bind(inner);
    inner.read = async (secretId, ref) => {
      w.calls.push(`read ${"stage" in ref ? ref.stage : ref.versionId}`);
      return read(secretId, ref);
    };
    const store = new CachedSecretStore(inner);
    const result = await rotate(credential, deps(w, { store }), initial(true), async () => undefined);
    expect(result.kind).toBe("finished");
    // Both asked before either answered: the read waits on no listing.
    const beforeListed = w.calls.slice(0, w.calls.indexOf("listing answered"));
    expect(beforeListed).toEqual(expect.arrayContaining(["listing asked", "read AWSCURRENT"]));
    // Promote reads the key it replaces by id again: the kept value answers it.
    expect(w.calls.filter((c) => c.startsWith("read "))).toEqual(["read AWSCURRENT"]);
    expectConverged(w);
  });

  it("an emergency whose secret's AWSCURRENT moved between that read and the listing replaces the listed version's key", async () => {
    const made = await w.vendor.createKey("by another rotation");
    const listVersions = w.store.listVersions.bind(w.store);
    w.store.listVersions = async (secretId) => {
      if (!w.store.stagesOf(SECRET)["v-2"]) {
        const value = { vendor: "callcov", apiKey: made.key.reveal(), keyId: made.keyId };
        await w.store.putPending(SECRET, "v-2", new SecretValue(JSON.stringify(value)));
        await w.store.promote(SECRET, "v-2", "v-old");
      }
      return listVersions(secretId);
    };
    const result = await rotate(credential, deps(w), initial(true), async () => undefined);
    expect(result.kind).toBe("finished");
    const current = JSON.parse(w.store.current(SECRET).value) as { replacesKeyId: string };
    expect(current.replacesKeyId).toBe(made.keyId);
    expect(w.vendor.active.has(made.keyId)).toBe(false);
  });

  it("a scheduled rotation reads no stage: the due check kept its old key's value", async () => {
    const read = w.store.read.bind(w.store);
    const refs: string[] = [];
    w.store.read = async (secretId, ref) => {
      refs.push("stage" in ref ? ref.stage : ref.versionId);
      return read(secretId, ref);
    };
    await rotate(credential, deps(w), initial(), async () => undefined);
    expect(refs.filter((r) => r.startsWith("AWS"))).toEqual([]);
  });

  it("an emergency looks at the replicas once the old key is revoked, not before; it ends only once answered", async () => {
    let answer: (states: ReplicaState[]) => void = () => undefined;
    const replicas = {
      replicas: () => {
        w.calls.push("replicas.describe");
        return new Promise<ReplicaState[]>((resolve) => (answer = resolve));
      },
    };
    let ended = false;
    const run = rotate(credential, deps(w, { replicas }), initial(true), async () => undefined).finally(
      () => (ended = true),
    );
    await until(() => w.vendor.revoked.includes("k-old"));
    await until(() => w.calls.includes("replicas.describe"));
    expect(w.calls.indexOf("replicas.describe")).toBeGreaterThan(w.calls.indexOf("vendor.revokeKey"));
    expect(ended).toBe(false);
    answer([{ region: "eu-west-1", status: "InProgress", currentVersionId: undefined }]);
    expect((await run).kind).toBe("finished");
    expect(w.alerter.raised.find((a) => a.kind === "replica-behind")).toMatchObject({ severity: "warning" });
    expectConverged(w);
  });

  it("an emergency parses each stored value once in an attempt, though promote and the revocation guard read them again", async () => {
    const parsed: string[] = [];
    const value = {
      ...KEY_VALUE,
      parse: (raw: SecretValue, where: string) => {
        parsed.push(raw.reveal());
        return KEY_VALUE.parse(raw, where);
      },
    };
    const cached = new CachedSecretStore(w.store);
    const result = await rotate(credential, deps(w, { store: cached, value }), initial(true), async () => undefined);
    expect(result.state.step).toBe(Step.Done);
    // The old value and the new one: each parsed once.
    expect(parsed).toHaveLength(2);
    expect(new Set(parsed).size).toBe(2);
    expectConverged(w);
  });

  it("a rotation not an emergency revokes only once the replicas answered, and waits while one is behind", async () => {
    let answer: (states: ReplicaState[]) => void = () => undefined;
    const replicas = {
      replicas: () => new Promise<ReplicaState[]>((resolve) => (answer = resolve)),
    };
    const first = await rotate(credential, deps(w), initial(), async () => undefined);
    if (first.kind !== "wait") throw new Error("expected the grace wait");
    w.now.t = first.until;
    const run = rotate(credential, deps(w, { replicas }), first.state, async () => undefined);
    await new Promise((r) => setTimeout(r, 20));
    expect(w.vendor.revoked).toEqual([]);
    answer([{ region: "eu-west-1", status: "InProgress", currentVersionId: undefined }]);
    expect((await run).kind).toBe("wait");
    expect(w.vendor.revoked).toEqual([]);
  });

  it("an emergency skips the usage gate: the old key goes although someone still uses it", async () => {
    let asked = 0;
    const usageGate = { sampleEveryMs: 60_000, oldKeyUse: async () => (asked++, { inUse: true, perMinute: 99 }) };
    const result = await rotate(credential, deps(w, { usageGate }), initial(true), async () => undefined);
    expect(result.kind).toBe("finished");
    expect(asked).toBe(0);
    expect(w.alerter.raised.filter((a) => a.kind === "old-key-in-use")).toEqual([]);
    expectConverged(w);
  });

  it("rolls back when the vendor refuses the new key: revoke it, unstage it, alert, current untouched", async () => {
    const origCreate = w.vendor.createKey.bind(w.vendor);
    w.vendor.createKey = async (name) => {
      const created = await origCreate(name);
      w.vendor.refuse.add(created.keyId);
      return created;
    };
    const result = await rotate(credential, deps(w), initial(), async () => undefined);
    expect(result.state.step).toBe(Step.RolledBack);
    expect(w.calls.filter((c) => c !== "store.read" && c !== "store.listVersions").slice(-3)).toEqual([
      "vendor.verify",
      "vendor.revokeKey",
      "store.removePending",
    ]);
    expect(w.store.current(SECRET).versionId).toBe("v-old");
    expect(w.vendor.revoked).toEqual(["k1"]);
    expect(w.vendor.active.has("k-old")).toBe(true);
    expect(w.alerter.raised.map((a) => [a.kind, a.severity, a.step])).toEqual([
      ["rotation-failed", "critical", "verify"],
    ]);
    expect(Object.values(w.store.stagesOf(SECRET)).flat()).toEqual(["AWSCURRENT"]);
  });

  const failurePoints: Array<[string, "store" | "vendor", string, number]> = [
    ["listing versions", "store", "listVersions", 1],
    ["reading the current key", "store", "read", 1],
    ["creating the key", "vendor", "createKey", 1],
    ["staging the key", "store", "putPending", 1],
    ["reading the pending key", "store", "read", 2],
    ["verifying", "vendor", "verify", 1],
    ["promoting", "store", "promote", 1],
    ["revoking", "vendor", "revokeKey", 1],
    ["confirming", "vendor", "verify", 2],
  ];

  it.each(failurePoints)("a fault while %s is retried and converges", async (_what, port, call, nth) => {
    (port === "store" ? w.storeFailures : w.vendorFailures).failOn(
      call,
      nth,
      port === "store" ? storeFault : vendorFault,
    );
    const end = await runToEnd(w, initial());
    expect(end.step).toBe(Step.Done);
    expectConverged(w);
  });

  it.each(failurePoints)(
    "a fault while %s with the saved state lost (Redis flushed) converges",
    async (_what, port, call, nth) => {
      (port === "store" ? w.storeFailures : w.vendorFailures).failOn(
        call,
        nth,
        port === "store" ? storeFault : vendorFault,
      );
      const end = await runToEnd(w, initial(), { forgetStateOnError: true });
      expect(end.step).toBe(Step.Done);
      expectConverged(w);
    },
  );

  it("a key made by the vendor whose answer was lost is revoked before a new one is made", async () => {
    const origCreate = w.vendor.createKey.bind(w.vendor);
    let lost = true;
    w.vendor.createKey = async (name) => {
      const created = await origCreate(name);
      if (lost) {
        lost = false;
        throw vendorFault();
      }
      return created;
    };
    await runToEnd(w, initial());
    expect(w.vendor.revoked).toEqual(["k1", "k-old"]);
    expectConverged(w);
  });

  it("a store write that fails after create revokes the new key at once (no orphan)", async () => {
    w.storeFailures.failOn("putPending", 1, storeFault);
    await expect(rotate(credential, deps(w), initial(), async () => undefined)).rejects.toThrow("ThrottlingException");
    expect(w.vendor.revoked).toEqual(["k1"]);
    expect(Object.keys(w.store.stagesOf(SECRET))).toEqual(["v-old"]);
  });

  it("takes over a rotation pending in the store instead of making a second key", async () => {
    w.vendor.seed("k-pending", "sk_live_pendingkey000001", keyNameFor(credential.id, "other-rotation"));
    await w.store.putPending(
      SECRET,
      "other-rotation",
      new SecretValue(
        JSON.stringify({
          vendor: "callcov",
          apiKey: "sk_live_pendingkey000001",
          keyId: "k-pending",
          replacesKeyId: "k-old",
        }),
      ),
    );
    const end = await runToEnd(w, initial());
    expect(end.rotationId).toBe("other-rotation");
    expect(w.calls).not.toContain("vendor.createKey");
    expect(w.store.current(SECRET).versionId).toBe("other-rotation");
    expectConverged(w);
  });

  it("gives way when AWSCURRENT moved while it was pending: its key revoked, its stage removed, the newer current untouched", async () => {
    const other = "sk_live_otherrotation0001";
    w.vendor.seed("k-other", other, keyNameFor(credential.id, "other"));
    let raced = false;
    const verify = w.vendor.verify.bind(w.vendor);
    w.vendor.verify = async (key) => {
      if (!raced) {
        // Another rotation (after Redis lost this one) is promoted between our verify and promote.
        raced = true;
        const value = JSON.stringify({ vendor: "callcov", apiKey: other, keyId: "k-other", replacesKeyId: "k-old" });
        w.store.secrets.get(SECRET)?.push({ versionId: "other", stages: [], value, createdAt: new Date(w.now.t) });
        await w.store.promote(SECRET, "other", "v-old");
      }
      return verify(key);
    };
    const end = await runToEnd(w, initial());
    expect(end.step).toBe(Step.RolledBack);
    expect(end.outcome).toMatch(/^superseded: /);
    expect(w.store.current(SECRET).versionId).toBe("other");
    expect(w.vendor.active.has("k-other")).toBe(true);
    expect(w.vendor.revoked).toEqual(["k1"]);
    expect(
      Object.values(w.store.stagesOf(SECRET)).filter((st) => st.includes("AWSPENDING") && !st.includes("AWSCURRENT")),
    ).toEqual([]);
  });

  it("a hand-edited current value of the wrong shape is reported, nothing created, nothing overwritten", async () => {
    w.store.seed(SECRET, "v-bad", JSON.stringify({ vendor: "callcov", apiKey: "not-a-key" }));
    const err = await rotate(credential, deps(w), initial(), async () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RotatorError);
    expect((err as RotatorError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/version v-bad .*apiKey: expected a CallCov key.*keyId/);
    expect(w.calls).not.toContain("vendor.createKey");
    expect(w.store.current(SECRET).versionId).toBe("v-bad");
  });

  it("defers revocation while the old key is still used, up to the bound, and alerts", async () => {
    let uses = 3;
    const usageGate = { sampleEveryMs: 60_000, oldKeyUse: async () => ({ inUse: uses-- > 0, perMinute: 42 }) };
    let state = initial();
    const save = async (s: RotationState) => {
      state = s;
    };
    const waits: string[] = [];
    for (;;) {
      const r = await rotate(credential, deps(w, { usageGate }), state, save);
      if (r.kind === "finished") break;
      waits.push(r.reason);
      w.now.t = r.until;
    }
    expect(waits).toEqual(["grace period", "old key still in use (42/min)", "old key still in use (42/min)"]);
    expect(w.alerter.raised.map((a) => `${a.kind}/${a.severity}`)).toEqual([
      "old-key-in-use/warning",
      "old-key-in-use/warning",
      "old-key-in-use/critical",
    ]);
    expectConverged(w);
  });
});
