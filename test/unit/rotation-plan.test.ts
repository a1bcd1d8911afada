/** `plan`'s arithmetic with an injected clock: due dates, window holds, operator waits, overdue, totals. */
import { describe, expect, it } from "vitest";
import { decideDue } from "../../src/schedule/cadence.js";
import { type PlanCredential, planRotations } from "../../src/schedule/rotation-plan.js";
import { planJson, planText } from "../../src/cli/plan.command.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-30T12:00:00Z");
const every =
  (days: number, window?: { cron: string; timezone: string; durationMs: number }) => (created: Date, now: number) =>
    decideDue({ everyMs: days * DAY }, window, created, now);

const cred = (id: string, schedule: PlanCredential["schedule"], operator?: { deadlineMs: number }): PlanCredential => ({
  id,
  vendor: operator ? "justcall" : "callcov",
  secretId: `s/${id}`,
  schedule,
  ...(operator ? { operator } : {}),
});

describe("planRotations", () => {
  it("a key due in 10 days on a 90-day cadence: one rotation, at its due time, not overdue", () => {
    const plan = planRotations(
      [{ credential: cred("a", every(90)), currentCreatedAt: new Date(NOW - 80 * DAY), currentVersionId: "v1" }],
      NOW,
      30,
    );
    expect(plan.credentials[0]?.rotations).toEqual([
      { startsAt: NOW + 10 * DAY, dueAt: NOW + 10 * DAY, heldByWindow: false, overdue: false },
    ]);
    expect(plan.total).toEqual({ rotations: 1, storeWrites: 2, storeTagWrites: 1, vendorCalls: 4, personActions: 0 });
  });

  it("an overdue key starts now, and the next one follows a cadence later within the period", () => {
    const plan = planRotations(
      [{ credential: cred("a", every(10)), currentCreatedAt: new Date(NOW - 15 * DAY) }],
      NOW,
      25,
    );
    expect(plan.credentials[0]?.rotations).toEqual([
      { startsAt: NOW, dueAt: NOW - 5 * DAY, heldByWindow: false, overdue: true },
      { startsAt: NOW + 10 * DAY, dueAt: NOW + 10 * DAY, heldByWindow: false, overdue: false },
      { startsAt: NOW + 20 * DAY, dueAt: NOW + 20 * DAY, heldByWindow: false, overdue: false },
    ]);
  });

  it("a maintenance window holds a due rotation until it opens", () => {
    // Saturdays 02:00 UTC for 2 h; the key is due on Tuesday 2026-12-01 12:00.
    const window = { cron: "0 2 * * 6", timezone: "UTC", durationMs: 2 * 3_600_000 };
    const plan = planRotations(
      [{ credential: cred("w", every(90, window)), currentCreatedAt: new Date(NOW - 89 * DAY) }],
      NOW,
      10,
    );
    expect(plan.credentials[0]?.rotations).toEqual([
      {
        startsAt: Date.parse("2026-12-05T02:00:00Z"),
        dueAt: NOW + DAY,
        heldByWindow: true,
        overdue: false,
      },
    ]);
  });

  it("an operator-assisted credential needs a person, with the deadline of the wait", () => {
    const plan = planRotations(
      [{ credential: cred("jc", every(90), { deadlineMs: 2 * DAY }), currentCreatedAt: new Date(NOW - 100 * DAY) }],
      NOW,
      5,
    );
    expect(plan.credentials[0]).toMatchObject({ operatorNeeded: true });
    expect(plan.credentials[0]?.rotations[0]).toMatchObject({ overdue: true, operatorDeadline: NOW + 2 * DAY });
    expect(plan.total).toMatchObject({ rotations: 1, vendorCalls: 3, personActions: 2 });
    expect(planText(plan, 5)).toMatch(/OVERDUE since .*a person: new pair by 2026-12-02T12:00:00.000Z/);
  });

  it("no current version, or a store that cannot be read: nothing planned, and it says why", () => {
    const plan = planRotations(
      [{ credential: cred("none", every(90)) }, { credential: cred("err", every(90)), error: "AccessDenied" }],
      NOW,
      30,
    );
    expect(plan.credentials.map((c) => [c.rotations.length, c.note])).toEqual([
      [0, "no current version in the store: nothing to plan from"],
      [0, "the store could not be read: AccessDenied"],
    ]);
  });

  it("a cadence shorter than a day lists at most 50 rotations a credential", () => {
    const plan = planRotations(
      [
        {
          credential: cred("fast", (c, n) => decideDue({ everyMs: 60_000 }, undefined, c, n)),
          currentCreatedAt: new Date(NOW),
        },
      ],
      NOW,
      30,
    );
    expect(plan.credentials[0]?.rotations).toHaveLength(50);
  });

  it("JSON: ISO times, nulls for what is absent, and the totals", () => {
    const plan = planRotations(
      [{ credential: cred("a", every(90)), currentCreatedAt: new Date(NOW - 80 * DAY), currentVersionId: "v1" }],
      NOW,
      30,
    );
    expect(planJson(plan, 30)).toEqual({
      now: "2026-11-30T12:00:00.000Z",
      until: "2026-12-30T12:00:00.000Z",
      days: 30,
      writesNothing: true,
      credentials: [
        {
          credential: "a",
          vendor: "callcov",
          secretId: "s/a",
          currentVersionId: "v1",
          currentCreatedAt: "2026-09-11T12:00:00.000Z",
          inFlight: null,
          operatorNeeded: false,
          note: null,
          rotations: [
            {
              startsAt: "2026-12-10T12:00:00.000Z",
              dueAt: "2026-12-10T12:00:00.000Z",
              heldByWindow: false,
              overdue: false,
              operatorDeadline: null,
            },
          ],
        },
      ],
      total: { rotations: 1, storeWrites: 2, storeTagWrites: 1, vendorCalls: 4, personActions: 0 },
    });
  });
});
