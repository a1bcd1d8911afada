/**
 * The one runner (src/rotation/runner.ts): what each way an attempt ends means, and the undo the
 * reached step registered, for a failure at every step. The queue job, the emergency lane and
 * `--direct` all go through it, so this is the error and undo policy of each of them.
 */
import { describe, expect, it } from "vitest";
import { InvalidStateError, RateLimitedError, VendorError } from "../../src/core/errors.js";
import type { RotationCredential } from "../../src/rotation/key-api-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { type FlowRun, runAttempt } from "../../src/rotation/runner.js";
import {
  FailurePlan,
  FakeAlerter,
  FakeStore,
  FakeVendor,
  KEY_VALUE,
  storeFault,
  vendorFault,
} from "../support/fake-ports.js";

const SECRET = "prod/cc";
const credential: RotationCredential & { vendor: string } = {
  id: "cc",
  vendor: "callcov",
  secretId: SECRET,
  graceMs: 60_000,
  maxGraceExtensionMs: 0,
};
const OLD = "sk_live_oldkeyoldkey0001";

function world() {
  const calls: string[] = [];
  const now = { t: Date.UTC(2026, 10, 30) };
  const storeFailures = new FailurePlan();
  const vendorFailures = new FailurePlan();
  const store = new FakeStore(calls, storeFailures, () => now.t);
  const vendor = new FakeVendor(calls, vendorFailures, () => now.t);
  store.seed(SECRET, "v-old", JSON.stringify({ vendor: "callcov", apiKey: OLD, keyId: "k-old" }));
  vendor.seed("k-old", OLD);
  const alerter = new FakeAlerter();
  const run: FlowRun = {
    kind: "key-api",
    credential,
    deps: { store, vendor, value: KEY_VALUE, alerter, clock: { now: () => now.t } },
  };
  let saved: RotationState = {
    credentialId: "cc",
    rotationId: "r-1",
    step: Step.Create,
    emergency: false,
    trigger: "schedule",
    startedAt: now.t,
  };
  const attempt = async (n: number, of: number, mayGiveUp = true) => {
    const outcome = await runAttempt(run, saved, async (s) => void (saved = s), { number: n, of, mayGiveUp });
    saved = outcome.state;
    return outcome;
  };
  const forge = (patch: Partial<RotationState>) => void (saved = { ...saved, ...patch });
  return { calls, now, store, vendor, alerter, storeFailures, vendorFailures, attempt, forge, saved: () => saved };
}

type W = ReturnType<typeof world>;

/** A failure at each step of the key-API flow, as the fake ports count their calls. */
const failurePoints: Array<{ step: Step; fail(w: W, error: () => Error): void; promoted: boolean }> = [
  { step: Step.Create, fail: (w, e) => w.vendorFailures.failOn("createKey", 1, e), promoted: false },
  { step: Step.Verify, fail: (w, e) => w.vendorFailures.failOn("verify", 1, e), promoted: false },
  { step: Step.Promote, fail: (w, e) => w.storeFailures.failOn("promote", 1, e), promoted: false },
  { step: Step.Revoke, fail: (w, e) => w.vendorFailures.failOn("revokeKey", 1, e), promoted: true },
];

describe("the runner", () => {
  it.each(failurePoints)(
    "a retryable failure at $step with attempts left is a retry, and nothing is undone",
    async ({ step, fail }) => {
      const w = world();
      fail(w, step === Step.Promote ? storeFault : vendorFault);
      if (step === Step.Revoke) w.now.t += 0; // grace is waited out below
      let outcome = await w.attempt(1, 3);
      while (outcome.kind === "wait") {
        w.now.t = outcome.until;
        outcome = await w.attempt(1, 3);
      }
      expect(outcome.kind).toBe("retry");
      expect(outcome.state.step).toBe(step);
      expect(w.alerter.raised.filter((a) => a.kind === "rotation-failed")).toEqual([]);
      expect(w.calls.filter((c) => c === "store.removePending")).toEqual([]);
      // The next attempt picks up where this one failed and completes.
      let next = await w.attempt(2, 3);
      while (next.kind === "wait") {
        w.now.t = next.until;
        next = await w.attempt(2, 3);
      }
      expect(next).toMatchObject({ kind: "finished", state: { step: Step.Done } });
    },
  );

  it.each(failurePoints)(
    "giving up at $step runs that step's undo: before promote what was made is given back; after it, nothing",
    async ({ step, fail, promoted }) => {
      const w = world();
      fail(w, () => new InvalidStateError("refused for good"));
      let outcome = await w.attempt(1, 1);
      while (outcome.kind === "wait") {
        w.now.t = outcome.until;
        outcome = await w.attempt(1, 1);
      }
      expect(outcome.kind).toBe("failed");
      expect(outcome.state.outcome).toMatch(new RegExp(`^failed at ${step}: `));
      const alert = w.alerter.raised.find((a) => a.kind === "rotation-failed");
      expect(alert).toMatchObject({ severity: "critical", step });
      const current = JSON.parse(w.store.current(SECRET).value) as { keyId: string };
      if (promoted) {
        // The new key is what consumers read: it stays, and the old one waits for a person.
        expect(current.keyId).not.toBe("k-old");
        expect(w.vendor.active.has(current.keyId)).toBe(true);
        expect(alert?.summary).not.toMatch(/revoked and unstaged/);
      } else {
        // Nothing of the rotation is left: the old key is current and the only one.
        expect(current.keyId).toBe("k-old");
        expect([...w.vendor.active.keys()]).toEqual(["k-old"]);
        const pending = Object.values(w.store.stagesOf(SECRET)).filter(
          (s) => s.includes("AWSPENDING") && !s.includes("AWSCURRENT"),
        );
        expect(pending).toEqual([]);
      }
    },
  );

  it("a non-retryable failure gives up at once, whatever attempts are left", async () => {
    const w = world();
    w.vendorFailures.failOn("createKey", 1, () => new VendorError("forbidden", { retryable: false, status: 403 }));
    expect((await w.attempt(1, 10)).kind).toBe("failed");
  });

  it("the last attempt's retryable failure gives up", async () => {
    const w = world();
    w.vendorFailures.failOn("verify", 1, vendorFault);
    expect((await w.attempt(3, 3)).kind).toBe("failed");
    expect([...w.vendor.active.keys()]).toEqual(["k-old"]);
  });

  it("a vendor's rate limit is a wait until its reset, not a failure", async () => {
    const w = world();
    const reset = w.now.t + 30_000;
    w.vendorFailures.failOn("createKey", 1, () => new RateLimitedError("429", reset));
    const outcome = await w.attempt(1, 1);
    expect(outcome).toMatchObject({ kind: "wait", until: reset });
    expect(w.alerter.raised).toEqual([]);
  });

  it("a caller that may not give up (the emergency lane) gets a retry even for a final failure, and nothing is undone", async () => {
    const w = world();
    w.vendorFailures.failOn("verify", 1, () => new InvalidStateError("refused for good"));
    const outcome = await w.attempt(1, 1, false);
    expect(outcome.kind).toBe("retry");
    expect(w.alerter.raised).toEqual([]);
    expect(w.vendor.active.size).toBe(2);
  });

  it("forged job data saying revoke inside the grace period waits the grace out: the old key stays", async () => {
    const w = world();
    const first = await w.attempt(1, 3);
    expect(first).toMatchObject({ kind: "wait", state: { step: Step.Grace } });
    w.forge({ step: Step.Revoke, graceUntil: 0 });
    const forged = await w.attempt(1, 3);
    expect(forged).toMatchObject({ kind: "wait", reason: "grace period" });
    expect(w.vendor.active.has("k-old")).toBe(true);
    if (forged.kind === "wait") w.now.t = forged.until;
    expect(await w.attempt(1, 3)).toMatchObject({ kind: "finished", state: { step: Step.Done } });
    expect(w.vendor.active.has("k-old")).toBe(false);
  });
});
