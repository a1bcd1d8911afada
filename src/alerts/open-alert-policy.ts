/**
 * What an open-alert entry may decide. The entry comes from Redis, which can be lost or written by
 * anyone who reaches it (DESIGN.md rule 8), so it is a claim and never the last word:
 *   - it holds a repeat back only while it is younger than the re-notify window by the router's
 *     own clock (a time from the future, past a little clock skew between replicas, holds nothing),
 *     only if it names this very alert at this severity, and only if it claims every route the
 *     alert goes to now;
 *   - a resolve goes to every route that deduplicates by key (PagerDuty, webhooks) of the
 *     credential, whatever the entry says, plus the chat routes the entry says got the trigger;
 *     it always names the credential and kind asked for, never ones the entry names.
 * So the worst an entry can do is hold one alert for one re-notify window (plus the skew), or cost
 * a chat channel its "[RESOLVED]" line. Pure functions: the router brings the entry and the clock.
 *
 * Must not: read or write anything, or trust a field of the entry beyond what is said above.
 */
import type { Alert } from "../core/ports.js";
import type { AlertSink } from "./alert-sinks.js";
import type { OpenAlert } from "./open-alert-store.js";

/** How far ahead of this router's clock another replica's clock may be. */
export const CLOCK_SKEW_MS = 60_000;

export type HoldVerdict =
  | { hold: true }
  /** `distrust`: why the entry cannot be what a router wrote (logged as a warning). */
  | { hold: false; distrust?: string };

/**
 * Does the open entry hold this raise back? `routes` are the routes the alert goes to now.
 * A reminder is never held (it has its own, shorter interval).
 */
export function holdsBack(
  open: OpenAlert | undefined,
  alert: Alert,
  routes: string[],
  now: number,
  renotifyMs: number,
): HoldVerdict {
  if (!open || alert.reminder) return { hold: false };
  const distrust = distrustOf(open, alert, now);
  if (distrust) return { hold: false, distrust };
  if (open.alert.severity !== alert.severity) return { hold: false };
  if (now - open.at >= renotifyMs) return { hold: false };
  // A route added since (or left out by a forged entry) gets the alert now.
  const claimed = new Set(open.sentTo);
  return routes.every((r) => claimed.has(r)) ? { hold: true } : { hold: false };
}

/** Why an entry cannot be one a router wrote for this alert, or undefined when it may be. */
export function distrustOf(
  open: OpenAlert,
  about: Pick<Alert, "credentialId" | "kind">,
  now: number,
): string | undefined {
  if (open.alert.credentialId !== about.credentialId || open.alert.kind !== about.kind) return "it names another alert";
  if (!Number.isFinite(open.at) || open.at > now + CLOCK_SKEW_MS) return "its time is in the future";
  return undefined;
}

/** The credential's routes of every severity (escalation routes are never recorded as open). */
export function routesOf(routes: { warning: string[]; critical: string[] } | undefined): string[] {
  return [...new Set([...(routes?.critical ?? []), ...(routes?.warning ?? [])])];
}

/** The entry's `sentTo`, kept to the credential's own routes. */
export function claimedRoutes(open: OpenAlert | undefined, credentialRoutes: string[]): string[] {
  const own = new Set(credentialRoutes);
  return [...new Set(open?.sentTo ?? [])].filter((name) => own.has(name));
}

/**
 * Where a resolve goes: every deduplicating route of the credential (a resolve of a key that never
 * triggered is a no-op there), and the chat routes the entry claims. `open` undefined: the store
 * could not say, so chat gets nothing rather than a stray line.
 */
export function resolveTargets(
  open: OpenAlert | undefined,
  credentialRoutes: string[],
  sinks: Map<string, AlertSink>,
): string[] {
  const dedupe = credentialRoutes.filter((name) => sinks.get(name)?.type !== "slack");
  return [...new Set([...dedupe, ...claimedRoutes(open, credentialRoutes)])];
}

/** The alert a resolve carries: the entry's step and rotation only when it is about this alert. */
export function resolvedAlert(open: OpenAlert | undefined, credentialId: string, kind: string, now: number): Alert {
  const blind: Alert = { credentialId, kind, severity: "info", summary: `${kind} resolved` };
  if (!open || distrustOf(open, { credentialId, kind }, now)) return blind;
  return { ...open.alert, credentialId, kind };
}
