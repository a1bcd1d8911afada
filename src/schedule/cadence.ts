/**
 * When a key is due, from its age in the store (DESIGN.md rule 1), and maintenance windows.
 * Pure functions of (rule, key creation time, now); no timers, no I/O.
 *   every: the key is due `every` after its version was created.
 *   cron:  the key is due at the first cron fire (in its time zone) after its version was created.
 *   window: a due rotation starts only while a window is open (cron fire + duration, in its zone).
 */
import { CronExpressionParser } from "cron-parser";

export type Cadence = { everyMs: number } | { cron: string; timezone: string };

export interface MaintenanceWindow {
  cron: string;
  timezone: string;
  durationMs: number;
}

export function nextDueAt(cadence: Cadence, keyCreatedAt: Date): Date {
  if ("everyMs" in cadence) return new Date(keyCreatedAt.getTime() + cadence.everyMs);
  const it = CronExpressionParser.parse(cadence.cron, { currentDate: keyCreatedAt, tz: cadence.timezone });
  return it.next().toDate();
}

/** Whether the window is open at `now`, when the current or next opening began/begins, and when it closes. */
export function windowAt(window: MaintenanceWindow, now: Date): { open: boolean; opensAt: Date; closesAt: Date } {
  // The latest opening at or before now: if now is inside it, the window is open.
  const back = CronExpressionParser.parse(window.cron, {
    currentDate: new Date(now.getTime() + 1),
    tz: window.timezone,
  });
  const last = back.prev().toDate();
  if (now.getTime() < last.getTime() + window.durationMs) {
    return { open: true, opensAt: last, closesAt: new Date(last.getTime() + window.durationMs) };
  }
  const next = CronExpressionParser.parse(window.cron, { currentDate: now, tz: window.timezone }).next().toDate();
  return { open: false, opensAt: next, closesAt: new Date(next.getTime() + window.durationMs) };
}

export interface DueDecision {
  due: boolean;
  dueAt: number;
  /** Due, but held until the window opens at this time. */
  heldUntil?: number;
}

/** Is a rotation due now, and may it start now (window)? */
export function decideDue(
  cadence: Cadence,
  window: MaintenanceWindow | undefined,
  keyCreatedAt: Date,
  now: number,
): DueDecision {
  const dueAt = nextDueAt(cadence, keyCreatedAt).getTime();
  if (now < dueAt) return { due: false, dueAt };
  if (!window) return { due: true, dueAt };
  const w = windowAt(window, new Date(now));
  return w.open ? { due: true, dueAt } : { due: true, dueAt, heldUntil: w.opensAt.getTime() };
}

/** The cron expression's error, cleaned for a person, or undefined when it parses in that zone. */
export function cronProblem(cron: string, timezone?: string): string | undefined {
  if (cron.trim().split(/\s+/).length !== 5) return 'expected a 5-field cron expression like "0 3 1 */3 *"';
  try {
    CronExpressionParser.parse(cron, timezone ? { tz: timezone } : {});
    return undefined;
  } catch (err) {
    return `invalid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
