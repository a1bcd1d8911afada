/**
 * DESIGN.md rules 9 and 10: once an emergency completes, every key that was live for the
 * credential when it was asked for is revoked, and the current key was made after the request,
 * whatever the rotation it met was doing (in grace, pending, not yet created) and whether or not
 * Redis still knew about it.
 */
import { describe, expect, it } from "vitest";
import { RotatorError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { type RotationCredential, type RotationDeps, rotate } from "../../src/rotation/key-api-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { FakeAlerter, FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const C: RotationCredential = { id: "cc-prod", secretId: "prod/callcov", graceMs: 3_600_000, maxGraceExtensionMs: 0 };
const OLD = "sk_live_oldkeyoldkey0001";

function world() {
  const calls: string[] = [];
  const now = { t: 1_000_000 };
  const store = new FakeStore(calls, undefined, () => now.t);
  const vendor = new FakeVendor(calls);
  store.seed(C.secretId, "v-old", JSON.stringify({ vendor: "callcov", apiKey: OLD, keyId: "k-old" }));
  vendor.seed("k-old", OLD);
  let asked: number | undefined;
  const deps: RotationDeps = {
    store,
    vendor,
    value: KEY_VALUE,
    alerter: new FakeAlerter(),
    clock: { now: () => now.t },
    emergencyRequested: async () => {
      const at = asked;
      asked = undefined;
      return at;
    },
  };
  return { store, vendor, now, deps, ask: (at: number) => void (asked = at) };
}

type World = ReturnType<typeof world>;

const state = (rotationId: string, extra: Partial<RotationState> = {}): RotationState => ({
  credentialId: C.id,
  rotationId,
  step: Step.Create,
  emergency: false,
  trigger: "schedule",
  startedAt: 0,
  ...extra,
});

async function run(w: World, start: RotationState): Promise<RotationResultState> {
  let saved = start;
  for (let i = 0; i < 20; i++) {
    try {
      const r = await rotate(C, w.deps, saved, async (s) => void (saved = s));
      if (r.kind === "finished") return r.state;
      return { waiting: r.until, state: r.state };
    } catch (err) {
      if (!(err instanceof RotatorError && err.retryable)) throw err;
    }
  }
  throw new Error("did not settle");
}
type RotationResultState = RotationState | { waiting: number; state: RotationState };

/** The rule-10 check: every key live at the request is revoked, the current one is newer and works. */
async function expectAnswered(w: World, liveAtRequest: string[]) {
  for (const keyId of liveAtRequest) expect(w.vendor.active.has(keyId), `${keyId} still live`).toBe(false);
  const current = JSON.parse(w.store.current(C.secretId).value) as { keyId: string; apiKey: string };
  expect(liveAtRequest).not.toContain(current.keyId);
  expect((await w.vendor.verify(new SecretValue(current.apiKey))).valid).toBe(true);
  expect([...w.vendor.active.keys()]).toEqual([current.keyId]);
}

/** A rotation promoted and now waiting out its grace period; returns its saved state. */
async function inGrace(w: World): Promise<RotationState> {
  const r = await run(w, state("r-1"));
  if (!("waiting" in r)) throw new Error("expected the rotation to wait in grace");
  return r.state;
}

describe("an emergency answers with a key made after it was asked (rule 10)", () => {
  it("joining a rotation in grace: its old key and its new key both go, a third key is current", async () => {
    const w = world();
    const graced = await inGrace(w);
    w.now.t += 1_000;
    const liveAtRequest = [...w.vendor.active.keys()];
    expect(liveAtRequest.sort()).toEqual(["k-old", "k1"]);
    w.ask(w.now.t);
    const end = await run(w, graced);
    expect("step" in end && end.step).toBe(Step.Done);
    await expectAnswered(w, liveAtRequest);
  });

  it("Redis lost in grace, then a new emergency job: the earlier rotation is finished first (rule 9)", async () => {
    const w = world();
    await inGrace(w);
    w.now.t += 1_000;
    const liveAtRequest = [...w.vendor.active.keys()];
    const fresh = state("r-2", { emergency: true, trigger: "emergency", emergencyAt: w.now.t });
    expect("step" in (await run(w, fresh))).toBe(true);
    await expectAnswered(w, liveAtRequest);
  });

  it("a rotation pending in the store (its key made before the request) is taken over, then replaced", async () => {
    const w = world();
    const made = await w.vendor.createKey("key-rotator/cc-prod/r-0");
    await w.store.putPending(
      C.secretId,
      "r-0",
      new SecretValue(
        JSON.stringify({ vendor: "callcov", apiKey: made.key.reveal(), keyId: made.keyId, replacesKeyId: "k-old" }),
      ),
    );
    w.now.t += 1_000;
    const liveAtRequest = [...w.vendor.active.keys()];
    await run(w, state("r-2", { emergency: true, trigger: "emergency", emergencyAt: w.now.t }));
    await expectAnswered(w, liveAtRequest);
  });

  it("joining before the key is made costs one rotation, not two", async () => {
    const w = world();
    const liveAtRequest = [...w.vendor.active.keys()];
    await run(w, state("r-1", { emergency: true, trigger: "emergency", emergencyAt: w.now.t }));
    await expectAnswered(w, liveAtRequest);
    expect(w.store.calls.filter((c) => c === "vendor.createKey")).toHaveLength(1);
  });

  it("an emergency asked during an emergency's rotation: that one's revocation goes first, then a newer key", async () => {
    const w = world();
    const asked = w.deps.emergencyRequested!;
    w.deps.emergencyRequested = async () => {
      w.store.calls.push("emergencyRequested");
      return asked();
    };
    const liveAtRequest = [...w.vendor.active.keys()];
    const first = state("r-1", { emergency: true, trigger: "emergency", emergencyAt: w.now.t });
    // The second request comes once the first rotation's key is made (at its promote).
    const promote = w.store.promote.bind(w.store);
    w.store.promote = async (...args: Parameters<typeof promote>) => {
      w.now.t += 1_000;
      w.ask(w.now.t);
      w.store.promote = promote;
      return promote(...args);
    };
    await run(w, first);
    await expectAnswered(w, [...liveAtRequest, "k1"]);
    expect(w.store.calls.filter((c) => c === "vendor.createKey")).toHaveLength(2);
    // Nothing waits on Redis between the promote and the old key's revocation.
    const firstRevoke = w.store.calls.indexOf("vendor.revokeKey");
    expect(w.store.calls.indexOf("emergencyRequested")).toBeGreaterThan(firstRevoke);
  });

  it("a request time ahead of the clock (forged job data) counts as now: no endless chain of rotations", async () => {
    const w = world();
    await run(w, state("r-1", { emergency: true, trigger: "emergency", emergencyAt: w.now.t + 1e12 }));
    expect(w.store.calls.filter((c) => c === "vendor.createKey")).toHaveLength(1);
    await expectAnswered(w, ["k-old"]);
  });
});

describe("finish before start (rule 9)", () => {
  it("a scheduled rotation meeting one in grace waits for that grace, then finishes it before making a key", async () => {
    const w = world();
    await inGrace(w);
    const r = await run(w, state("r-2"));
    expect("waiting" in r).toBe(true);
    expect(w.store.calls).not.toContain("vendor.revokeKey");
    if (!("waiting" in r)) return;
    w.now.t = r.waiting;
    const end = await run(w, r.state);
    const revokesBeforeCreate = w.store.calls
      .slice(0, w.store.calls.lastIndexOf("vendor.createKey"))
      .filter((c) => c === "vendor.revokeKey");
    expect(revokesBeforeCreate).toHaveLength(1);
    expect(w.vendor.active.has("k-old")).toBe(false);
    expect("waiting" in end).toBe(true); // the second rotation is in its own grace now
  });
});
