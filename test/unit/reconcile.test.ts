/**
 * The reconcile table (src/rotation/reconcile.ts), case by case: what the store's stages make of a
 * saved rotation state, whatever that state says (lost, stale or forged).
 */
import { describe, expect, it } from "vitest";
import { InvalidStateError } from "../../src/core/errors.js";
import type { VersionInfo } from "../../src/core/ports.js";
import { reconcileWith } from "../../src/rotation/reconcile.js";
import { type RotationState, STEP_ORDER, Step, isBefore } from "../../src/rotation/rotation-state.js";

const C = { id: "cc", secretId: "s/cc", graceMs: 600_000, maxGraceExtensionMs: 3_600_000 };
const T = Date.UTC(2026, 10, 30, 12);
const v = (versionId: string, stages: string[], createdAt = T): VersionInfo => ({
  versionId,
  stages,
  createdAt: new Date(createdAt),
});
const saved = (step: Step | string, extra: Partial<RotationState> = {}): RotationState => ({
  credentialId: "cc",
  rotationId: "mine",
  step: step as Step,
  emergency: false,
  trigger: "schedule",
  startedAt: T,
  ...extra,
});

interface Case {
  name: string;
  versions: VersionInfo[];
  saved: RotationState;
  finished?: string;
  expect: Partial<RotationState> | "throws";
}

const cases: Case[] = [
  {
    name: "ours absent, another pending: take that one over at verify",
    versions: [v("old", ["AWSCURRENT"]), v("other", ["AWSPENDING"])],
    saved: saved(Step.Create),
    expect: { rotationId: "other", step: Step.Verify, verifyBeforeRevoke: true, oldVersionId: "old" },
  },
  {
    name: "ours absent, saved at create: create",
    versions: [v("old", ["AWSCURRENT"])],
    saved: saved(Step.Create),
    expect: { step: Step.Create, oldVersionId: "old" },
  },
  {
    name: "ours absent past create: the store lost it, which is not ours to guess",
    versions: [v("old", ["AWSCURRENT"])],
    saved: saved(Step.Verify),
    expect: "throws",
  },
  {
    name: "ours absent, a step this program does not know: create",
    versions: [v("old", ["AWSCURRENT"])],
    saved: saved("exfiltrate"),
    expect: { step: Step.Create },
  },
  {
    name: "ours current and pending, marked finished: done",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT", "AWSPENDING"])],
    saved: saved(Step.Grace),
    finished: "mine",
    expect: { step: Step.Done, outcome: "completed" },
  },
  {
    name: "ours current, pending removed (before the finished-marker): done",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT"])],
    saved: saved(Step.Revoke),
    expect: { step: Step.Done },
  },
  {
    name: "ours current and pending, state lost (create): grace from the version's creation, look before revoking",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT", "AWSPENDING"])],
    saved: saved(Step.Create),
    expect: { step: Step.Grace, graceUntil: T + 600_000, verifyBeforeRevoke: true, oldVersionId: "old" },
  },
  {
    name: "ours current and pending, a forged grace far ahead: clamped to the version's grace plus the slack",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT", "AWSPENDING"])],
    saved: saved(Step.Grace, { graceUntil: T + 365 * 86_400_000, graceExtendedMs: 1e12 }),
    expect: { step: Step.Grace, graceUntil: T + 600_000 + 3_600_000, graceExtendedMs: 3_600_000 },
  },
  {
    name: "ours current and pending, a forged grace already over: the version's grace still holds",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT", "AWSPENDING"])],
    saved: saved(Step.Revoke, { graceUntil: 0 }),
    expect: { step: Step.Revoke, graceUntil: T + 600_000 },
  },
  {
    name: "an emergency's grace is none",
    versions: [v("old", ["AWSPREVIOUS"]), v("mine", ["AWSCURRENT", "AWSPENDING"])],
    saved: saved(Step.Create, { emergency: true }),
    expect: { step: Step.Grace, graceUntil: T },
  },
  {
    name: "ours previous (replaced since): revoke what it replaced, looking first",
    versions: [v("mine", ["AWSPREVIOUS"]), v("newer", ["AWSCURRENT"])],
    saved: saved(Step.Grace),
    expect: { step: Step.Revoke, verifyBeforeRevoke: true },
  },
  {
    name: "ours pending, saved at promote: promote",
    versions: [v("old", ["AWSCURRENT"]), v("mine", ["AWSPENDING"])],
    saved: saved(Step.Promote),
    expect: { step: Step.Promote, oldVersionId: "old" },
  },
  {
    name: "ours pending, saved earlier (or forged later): verify",
    versions: [v("old", ["AWSCURRENT"]), v("mine", ["AWSPENDING"])],
    saved: saved(Step.Confirm),
    expect: { step: Step.Verify },
  },
  {
    name: "ours present without a stage: rolled back",
    versions: [v("old", ["AWSCURRENT"]), v("mine", [])],
    saved: saved(Step.Verify),
    expect: { step: Step.RolledBack },
  },
  {
    name: "no AWSCURRENT at all: refused",
    versions: [v("mine", ["AWSPENDING"])],
    saved: saved(Step.Verify),
    expect: "throws",
  },
  {
    name: "a finished rotation stays finished",
    versions: [v("old", ["AWSCURRENT"])],
    saved: saved(Step.Done, { outcome: "completed" }),
    expect: { step: Step.Done, outcome: "completed" },
  },
];

describe("reconcileWith: the store decides", () => {
  it.each(cases)("$name", (c) => {
    const run = () => reconcileWith(C, c.versions, c.saved, c.finished);
    if (c.expect === "throws") {
      expect(run).toThrow(InvalidStateError);
      return;
    }
    expect(run()).toMatchObject(c.expect);
  });
});

describe("one step order for both flows", () => {
  it("places the operator flow's waits among the key-API steps, and the ends after every step", () => {
    expect(isBefore(Step.AwaitPair, Step.Verify)).toBe(true);
    expect(isBefore(Step.AwaitPair, Step.Create)).toBe(false);
    expect(isBefore(Step.AwaitRevoke, Step.Grace)).toBe(false);
    expect(isBefore(Step.Promote, Step.AwaitRevoke)).toBe(true);
    for (const step of STEP_ORDER.filter((s) => s !== Step.Done && s !== Step.RolledBack)) {
      expect(isBefore(step, Step.Done)).toBe(true);
      expect(isBefore(Step.RolledBack, step)).toBe(false);
    }
    expect(isBefore(Step.Done, Step.RolledBack)).toBe(false);
    expect(isBefore(Step.RolledBack, Step.Done)).toBe(false);
  });

  it("knows every step there is", () => {
    expect([...STEP_ORDER].sort()).toEqual(Object.values(Step).sort());
    expect(() => isBefore("exfiltrate" as Step, Step.Done)).toThrow(InvalidStateError);
  });
});
