/** What rotate --wait says while a rotation waits: grace, deferral with its rate and bound, a person. */
import { describe, expect, it } from "vitest";
import { describeWait } from "../../src/cli/wait-description.js";
import { cliActor } from "../../src/cli/actor.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";

const NOW = Date.parse("2026-11-30T05:00:00Z");
const MIN = 60_000;
const base: RotationState = {
  credentialId: "cc",
  rotationId: "r-1",
  step: Step.Grace,
  emergency: false,
  trigger: "manual",
  startedAt: NOW - 10 * MIN,
};

describe("describeWait", () => {
  it("grace: until when, and how long from now", () => {
    const w = describeWait({
      data: { ...base, graceUntil: NOW + 5 * MIN },
      state: "delayed",
      now: NOW,
      maxGraceExtensionMs: 2 * 3_600_000,
    });
    expect(w).toEqual({
      kind: "grace",
      until: NOW + 5 * MIN,
      text: "grace until 2026-11-30T05:05:00.000Z (in 5m 0s): consumers re-read the secret before the old key is revoked",
    });
  });

  it("deferred: the old key's use per minute and the bound of the deferral", () => {
    const w = describeWait({
      data: { ...base, graceUntil: NOW - 20 * MIN, graceExtendedMs: 20 * MIN },
      state: "delayed",
      now: NOW,
      maxGraceExtensionMs: 2 * 3_600_000,
      oldKeyPerMinute: 42,
    });
    expect(w?.kind).toBe("deferred");
    expect(w?.until).toBe(NOW - 20 * MIN + 2 * 3_600_000);
    expect(w?.text).toBe(
      "revocation deferred while the old key is still used at 42/min, until at most 2026-11-30T06:40:00.000Z (in 1h 40m)",
    );
  });

  it("an emergency has no grace to describe", () => {
    expect(
      describeWait({
        data: { ...base, emergency: true, graceUntil: NOW + MIN },
        state: "active",
        now: NOW,
        maxGraceExtensionMs: 0,
      }),
    ).toBeUndefined();
  });

  it("a person: which act, and the deadline before it escalates", () => {
    const w = describeWait({
      data: { ...base, step: Step.AwaitPair, askedAt: NOW - 3_600_000 },
      state: "delayed",
      now: NOW,
      maxGraceExtensionMs: 0,
      operatorDeadlineMs: 48 * 3_600_000,
    });
    expect(w).toMatchObject({ kind: "operator", until: NOW + 47 * 3_600_000 });
    expect(w?.text).toBe(
      "awaiting the operator: a new pair (key-rotator submit), until 2026-12-02T04:00:00.000Z (in 1d 23h)",
    );
  });
});

describe("cliActor", () => {
  it("--actor, else KEY_ROTATOR_ACTOR, else the OS user; with the host", () => {
    expect(cliActor("alice", {})).toMatch(/^cli:alice@[A-Za-z0-9.-]+$/);
    expect(cliActor(undefined, { KEY_ROTATOR_ACTOR: "ci-bot" })).toMatch(/^cli:ci-bot@/);
    expect(cliActor(undefined, {})).toMatch(/^cli:[A-Za-z0-9][A-Za-z0-9._+-]*@/);
  });

  it("refuses a name that could pass for another actor or write to a terminal", () => {
    for (const bad of ["", "a b", "x@host", "http:admin", "\u001b[2J", "a".repeat(65)])
      expect(() => cliActor(bad, {})).toThrow(/--actor: a name of 1 to 64/);
  });
});
