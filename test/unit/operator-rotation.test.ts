/**
 * The operator-assisted (JustCall) rotation with fake ports: how the store's stages correct a
 * lost or stale saved state, the refusal to promote the pair already in use, and alerts that
 * name the old pair without any of its characters.
 */
import { describe, expect, it } from "vitest";
import { InvalidStateError } from "../../src/core/errors.js";
import type { KeyVerifier, VersionInfo } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { type OperatorCredential, operatorRotate, reconcileOperator } from "../../src/rotation/operator-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { FakeAlerter, FakeStore, fakeKeyOf, PAIR_GUIDE, PAIR_VALUE } from "../support/fake-ports.js";

const SECRET = "prod/justcall";
const c: OperatorCredential = {
  id: "jc-prod",
  secretId: SECRET,
  singlePair: false,
  remindEveryMs: 60_000,
  deadlineMs: 3_600_000,
};
const OLD = { apiKey: "0a1b2c3d4e5f60718293a4b5", apiSecret: "oldsecretoldsecretoldsecret" };
const NEW = { apiKey: "9f8e7d6c5b4a39281706f5e4", apiSecret: "newsecretnewsecretnewsecret" };
const T0 = Date.parse("2026-03-12T09:00:00Z");

const pairValue = (p: { apiKey: string; apiSecret: string }) =>
  new SecretValue(JSON.stringify({ vendor: "justcall", ...p }));

function world() {
  const calls: string[] = [];
  const now = { t: T0 };
  const store = new FakeStore(calls, undefined, () => now.t);
  store.seed(SECRET, "v-old", pairValue(OLD).reveal());
  const active = new Set([`${OLD.apiKey}:${OLD.apiSecret}`, `${NEW.apiKey}:${NEW.apiSecret}`]);
  const verifier: KeyVerifier = {
    verify: async (key) => {
      calls.push("vendor.verify");
      return active.has(fakeKeyOf(key)) ? { valid: true } : { valid: false, status: 401, reason: "refused" };
    },
  };
  const alerter = new FakeAlerter();
  const saved: RotationState[] = [];
  const run = (state: RotationState) =>
    operatorRotate(
      c,
      { store, verifier, value: PAIR_VALUE, guide: PAIR_GUIDE, alerter, clock: { now: () => now.t } },
      state,
      async (s) => void saved.push(s),
    );
  return { calls, now, store, active, alerter, saved, run };
}

const fresh = (over: Partial<RotationState> = {}): RotationState => ({
  credentialId: c.id,
  rotationId: "r-1",
  step: Step.Create,
  emergency: false,
  trigger: "resume",
  startedAt: 0,
  ...over,
});
const v = (versionId: string, stages: string[], at = T0): VersionInfo => ({
  versionId,
  stages,
  createdAt: new Date(at),
});

/** Words of `min` (four) or more characters that occur inside a secret: a prefix like "0a1b…" counts. */
const fragments = (text: string, secrets: string[], min = 4) =>
  (text.match(new RegExp(`[A-Za-z0-9_-]{${min},}`, "g")) ?? []).filter((w) => secrets.some((s) => s.includes(w)));

describe("reconcileOperator: the store wins over the saved step", () => {
  const promotedAt = T0 + 5_000;
  it.each<[string, RotationState, VersionInfo[], Partial<RotationState>]>([
    ["nothing submitted", fresh(), [v("v-old", ["AWSCURRENT"])], { step: Step.AwaitPair, oldVersionId: "v-old" }],
    [
      "a pair staged, saved await-pair (the step itself takes it)",
      fresh({ step: Step.AwaitPair }),
      [v("v-old", ["AWSCURRENT"]), v("v-new", ["AWSPENDING"])],
      { step: Step.AwaitPair, oldVersionId: "v-old" },
    ],
    [
      "saved verify, still staged",
      fresh({ step: Step.Verify, pendingVersionId: "v-new" }),
      [v("v-old", ["AWSCURRENT"]), v("v-new", ["AWSPENDING"])],
      { step: Step.Verify, pendingVersionId: "v-new", oldVersionId: "v-old" },
    ],
    [
      "saved promote, not yet promoted",
      fresh({ step: Step.Promote, pendingVersionId: "v-new" }),
      [v("v-old", ["AWSCURRENT"]), v("v-new", ["AWSPENDING"])],
      { step: Step.Promote, pendingVersionId: "v-new" },
    ],
    [
      "saved promote, promoted (crash before saving)",
      fresh({ step: Step.Promote, pendingVersionId: "v-new", oldVersionId: "v-old", askedAt: 1 }),
      [v("v-old", ["AWSPREVIOUS"]), v("v-new", ["AWSCURRENT", "AWSPENDING"], promotedAt)],
      { step: Step.Promote, pendingVersionId: "v-new", oldVersionId: "v-old" },
    ],
    [
      "state lost (Redis flushed) after promote",
      fresh({ rotationId: "v-new" }),
      [v("v-old", ["AWSPREVIOUS"]), v("v-new", ["AWSCURRENT", "AWSPENDING"], promotedAt)],
      { step: Step.AwaitRevoke, pendingVersionId: "v-new", oldVersionId: "v-old", askedAt: promotedAt },
    ],
    [
      "saved await-revoke, still pending",
      fresh({ step: Step.AwaitRevoke, pendingVersionId: "v-new", oldVersionId: "v-old", askedAt: 7 }),
      [v("v-old", ["AWSPREVIOUS"]), v("v-new", ["AWSCURRENT", "AWSPENDING"])],
      { step: Step.AwaitRevoke, askedAt: 7 },
    ],
    [
      "pending removed after promote",
      fresh({ step: Step.AwaitRevoke, pendingVersionId: "v-new", oldVersionId: "v-old" }),
      [v("v-old", ["AWSPREVIOUS"]), v("v-new", ["AWSCURRENT"])],
      { step: Step.Done },
    ],
    [
      "saved verify, pair unstaged since",
      fresh({ step: Step.Verify, pendingVersionId: "v-new" }),
      [v("v-old", ["AWSCURRENT"]), v("v-new", [])],
      { step: Step.AwaitPair, oldVersionId: "v-old", pendingVersionId: undefined },
    ],
    [
      "saved verify, version gone",
      fresh({ step: Step.Verify, pendingVersionId: "v-new" }),
      [v("v-old", ["AWSCURRENT"])],
      { step: Step.AwaitPair, pendingVersionId: undefined },
    ],
    [
      "finished stays finished",
      fresh({ step: Step.Done }),
      [v("v-old", ["AWSCURRENT", "AWSPENDING"])],
      { step: Step.Done },
    ],
  ])("%s", (_what, saved, versions, expected) => {
    const s = reconcileOperator(c, versions, saved);
    const { pendingVersionId, ...rest } = expected;
    expect(s).toMatchObject(rest);
    if ("pendingVersionId" in expected) expect(s.pendingVersionId).toBe(pendingVersionId);
  });

  it("a promoted pair with no AWSPREVIOUS to revoke is an invalid state, not a new request for a pair", () => {
    expect(() => reconcileOperator(c, [v("v-new", ["AWSCURRENT", "AWSPENDING"])], fresh())).toThrow(InvalidStateError);
  });
});

describe("operatorRotate", () => {
  it("a staged pair that is the current one is unstaged, not promoted, and the person asked again", async () => {
    const w = world();
    await w.store.putPending(SECRET, "v-same", pairValue(OLD));
    w.calls.length = 0;
    const result = await w.run(fresh({ step: Step.AwaitPair, askedAt: T0, remindedAt: T0 }));
    expect(result.kind).toBe("wait");
    expect(result.state).toMatchObject({ step: Step.AwaitPair, oldVersionId: "v-old" });
    expect(result.state).not.toHaveProperty("pendingVersionId");
    expect(w.calls).not.toContain("store.promote");
    expect(w.calls).not.toContain("vendor.verify");
    expect(w.calls).toContain("store.removePending");
    expect(w.store.stagesOf(SECRET)).toEqual({ "v-old": ["AWSCURRENT"], "v-same": [] });
    const alert = w.alerter.raised.find((a) => a.kind === "pair-already-current");
    expect(alert?.summary).toContain("the pair already in use by jc-prod");
    expect(fragments(JSON.stringify(w.alerter.raised), [OLD.apiKey, OLD.apiSecret])).toEqual([]);
  });

  it("the revoke reminder names the old pair as the dashboard lists it (API key's first and last four), its store date and version; none of its secret", async () => {
    const w = world();
    w.now.t = T0 + 86_400_000;
    await w.store.putPending(SECRET, "v-new", pairValue(NEW));
    const result = await w.run(fresh({ step: Step.AwaitPair }));
    expect(result.state.step).toBe(Step.AwaitRevoke);
    const alert = w.alerter.raised.find((a) => a.kind === "revoke-old-pair");
    expect(alert?.summary).toContain(
      "revoke the old pair (API key 0a1b…a4b5, the pair stored on 2026-03-12, version v-old) in JustCall",
    );
    // Only the four and four characters the dashboard shows; nothing of either secret, nothing of the new key.
    expect(fragments(JSON.stringify(w.alerter.raised), [OLD.apiSecret, NEW.apiKey, NEW.apiSecret])).toEqual([]);
    expect(fragments(JSON.stringify(w.alerter.raised), [OLD.apiKey], 5)).toEqual([]);
  });

  it("resumed from the store alone after promote: waits for the old pair's revocation, then finishes", async () => {
    const w = world();
    await w.store.putPending(SECRET, "v-new", pairValue(NEW));
    await w.store.promote(SECRET, "v-new");
    w.now.t = T0 + 60_000;
    const waiting = await w.run(fresh({ rotationId: "v-new" }));
    expect(waiting.kind).toBe("wait");
    expect(waiting.state).toMatchObject({ step: Step.AwaitRevoke, pendingVersionId: "v-new", oldVersionId: "v-old" });
    expect(w.alerter.raised.map((a) => a.kind)).toEqual(["revoke-old-pair"]);
    w.active.delete(`${OLD.apiKey}:${OLD.apiSecret}`);
    const done = await w.run(waiting.state);
    expect(done).toMatchObject({ kind: "finished", state: { step: Step.Done } });
    expect(w.store.stagesOf(SECRET)).toEqual({ "v-old": ["AWSPREVIOUS"], "v-new": ["AWSCURRENT"] });
    expect(w.alerter.raised.map((a) => a.kind)).toEqual(["revoke-old-pair"]);
  });
});
