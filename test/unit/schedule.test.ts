import { describe, expect, it } from "vitest";
import { cronProblem, decideDue, nextDueAt, windowAt } from "../../src/schedule/cadence.js";
import { formatDuration, parseDuration } from "../../src/schedule/duration.js";

describe("parseDuration", () => {
  it.each([
    ["90d", 90 * 86_400_000],
    ["15m", 900_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["0s", 0],
    ["2w", 1_209_600_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
  it.each(["", "90", "d", "1.5h", "-1d", "90 days", "1h 30m", "10y"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

const at = (iso: string) => new Date(iso);

describe("nextDueAt", () => {
  it("every: the key's creation plus the period", () => {
    expect(nextDueAt({ everyMs: 90 * 86_400_000 }, at("2026-01-01T00:00:00Z")).toISOString()).toBe(
      "2026-04-01T00:00:00.000Z",
    );
  });
  it.each([
    // Quarterly at 03:00 Berlin on the 1st: winter (UTC+1) and summer (UTC+2).
    ["0 3 1 */3 *", "Europe/Berlin", "2026-01-15T00:00:00Z", "2026-04-01T01:00:00.000Z"],
    ["0 3 1 */3 *", "Europe/Berlin", "2026-08-15T00:00:00Z", "2026-10-01T01:00:00.000Z"],
    ["0 9 * * MON", "America/New_York", "2026-11-19T12:00:00Z", "2026-11-23T14:00:00.000Z"],
    ["0 9 * * MON", "Asia/Tokyo", "2026-11-19T12:00:00Z", "2026-11-23T00:00:00.000Z"],
  ])("cron %s in %s after %s is %s", (cron, tz, created, due) => {
    expect(nextDueAt({ cron, timezone: tz }, at(created)).toISOString()).toBe(due);
  });
});

describe("windowAt", () => {
  const sat2am = { cron: "0 2 * * SAT", timezone: "Europe/Berlin", durationMs: 4 * 3_600_000 };
  it.each([
    // 2026-03-28 is the Saturday before Berlin moves to summer time (UTC+1 still).
    ["2026-03-28T01:30:00Z", true, "2026-03-28T01:00:00.000Z"],
    ["2026-03-28T05:30:00Z", false, "2026-04-04T00:00:00.000Z"],
    // The first Saturday in summer time opens at 00:00 UTC.
    ["2026-04-04T00:00:00Z", true, "2026-04-04T00:00:00.000Z"],
    // 2026-10-24 is in summer time; the next Saturday, after the change on the 25th, is UTC+1.
    ["2026-10-24T03:59:00Z", true, "2026-10-24T00:00:00.000Z"],
    ["2026-10-25T12:00:00Z", false, "2026-10-31T01:00:00.000Z"],
  ])("at %s open=%s, opening %s", (now, open, opens) => {
    const w = windowAt(sat2am, at(now));
    expect(w.open).toBe(open);
    expect(w.opensAt.toISOString()).toBe(opens);
  });

  it("a window at 02:30 on the night clocks skip it (New York, 2026-03-08) still opens once", () => {
    const w = windowAt(
      { cron: "30 2 * * *", timezone: "America/New_York", durationMs: 3_600_000 },
      at("2026-03-08T05:00:00Z"),
    );
    expect(w.open).toBe(false);
    expect(w.opensAt.getTime()).toBeGreaterThan(at("2026-03-08T05:00:00Z").getTime());
  });
});

describe("decideDue", () => {
  const every = { everyMs: 86_400_000 };
  const window = { cron: "0 2 * * *", timezone: "UTC", durationMs: 3_600_000 };
  it("not due before its time", () => {
    expect(decideDue(every, undefined, at("2026-01-01T00:00:00Z"), at("2026-01-01T12:00:00Z").getTime()).due).toBe(
      false,
    );
  });
  it("due and held until the window opens", () => {
    const d = decideDue(every, window, at("2026-01-01T00:00:00Z"), at("2026-01-02T10:00:00Z").getTime());
    expect(d).toEqual({
      due: true,
      dueAt: at("2026-01-02T00:00:00Z").getTime(),
      heldUntil: at("2026-01-03T02:00:00Z").getTime(),
    });
  });
  it("due and free to start inside the window", () => {
    const d = decideDue(every, window, at("2026-01-01T00:00:00Z"), at("2026-01-02T02:30:00Z").getTime());
    expect(d.heldUntil).toBeUndefined();
    expect(d.due).toBe(true);
  });
});

describe("cronProblem", () => {
  it("accepts a 5-field cron and names what is wrong otherwise", () => {
    expect(cronProblem("0 3 1 */3 *", "Europe/Berlin")).toBeUndefined();
    expect(cronProblem("0 3 1")).toMatch(/5-field/);
    expect(cronProblem("0 25 * * *")).toMatch(/invalid cron/);
  });
});
