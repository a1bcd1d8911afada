/**
 * The alert for a call that the credentials of one vendor account share (the management login and
 * its list of keys): one for the account, however many credentials it holds, so that a login that
 * stops working for 50,000 credentials pages once, not 50,000 times. It is raised and resolved
 * under the account's first credential by id (whose routes carry it), and names the vendor, the
 * base URL and the credentials it stops rotating.
 * Must not: carry a secret. The base URL loses any user, password, query and fragment.
 */
import type { Alert } from "../core/ports.js";

/** An account's credentials named in an alert: this many ids, then a count of the rest. */
const NAMED = 5;

export interface AccountFailure {
  vendor: string;
  baseUrl: string | undefined;
  /** Every credential of the account the failed call stops. */
  credentialIds: string[];
  kind: string;
  /** What fails, what it stops and why, given how to name the credentials ("cc" or "its 50 credentials (…)"). */
  says(credentials: string): string;
}

/** The credential an account's alert is raised and resolved under: its first by id. */
export function accountAlertId(credentialIds: readonly string[]): string {
  return [...credentialIds].sort()[0] ?? "";
}

export function accountAlert(f: AccountFailure): Alert {
  const ids = [...f.credentialIds].sort();
  const where = f.baseUrl ? `${f.vendor} at ${publicUrl(f.baseUrl)}` : f.vendor;
  const named =
    ids.length > NAMED ? `${ids.slice(0, NAMED).join(", ")} and ${ids.length - NAMED} more` : ids.join(", ");
  const credentials = ids.length === 1 ? named : `its ${ids.length} credentials (${named})`;
  return {
    credentialId: accountAlertId(ids),
    severity: "critical",
    kind: f.kind,
    summary: `${where}: ${f.says(credentials)}`,
    details: {
      vendor: f.vendor,
      ...(f.baseUrl ? { baseUrl: publicUrl(f.baseUrl) } : {}),
      credentials: ids.length,
      affected: named,
    },
  };
}

/** The URL as anyone may read it: scheme, host and path. */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "(a base URL that does not parse)";
  }
}
