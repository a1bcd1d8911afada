/**
 * Which credentials a leaked value belongs to, for `POST /v1/leaks`: every credential's live keys
 * (the AWSCURRENT, AWSPENDING and AWSPREVIOUS versions, which may all still work at the vendor) are
 * read from the store at the moment of the report and compared with the leaked value by SHA-256,
 * in constant time, every one of them whatever matched.
 *
 * Also reads a GitHub secret scanning alert's value through its REST URL: the webhook's payload
 * (`secret_scanning_alert`) names the alert, not the secret, so the value is fetched with a token
 * that may read alerts, and only from the configured API origin.
 *
 * Must not: keep, log or return a value (neither the leaked one nor a stored one), or fetch from
 * any host a payload names.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, type SecretStore } from "../core/ports.js";
import { SecretValue } from "../core/secret.js";

export interface LeakCredential {
  id: string;
  secretId: string;
}

const STAGES = [STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS];

export function storeLeakMatcher(
  store: SecretStore,
  credentials: readonly LeakCredential[],
): (leaked: SecretValue) => Promise<string[]> {
  return async (leaked) => {
    const wanted = digest(leaked.reveal().trim());
    const matched: string[] = [];
    for (const c of credentials) {
      let hit = false;
      for (const stage of STAGES) {
        let raw: string;
        try {
          raw = (await store.read(c.secretId, { stage })).value.reveal();
        } catch {
          continue; // no version at that stage, or unreadable: nothing to compare
        }
        for (const candidate of candidatesOf(raw)) if (timingSafeEqual(digest(candidate), wanted)) hit = true;
      }
      if (hit) matched.push(c.id);
    }
    return matched;
  };
}

/** The strings in a stored value that a leak could be: the key, the secret, the `key:secret` pair. */
function candidatesOf(raw: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return [raw.trim()];
  }
  if (typeof value !== "object" || value === null) return [raw.trim()];
  const v = value as Record<string, unknown>;
  const out = [v.apiKey, v.apiSecret, v.key, v.token].filter((s): s is string => typeof s === "string" && s !== "");
  if (typeof v.apiKey === "string" && typeof v.apiSecret === "string") out.push(`${v.apiKey}:${v.apiSecret}`);
  return out;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/**
 * Reads a GitHub secret scanning alert's secret from its REST URL (`alert.url` in the webhook), with
 * a token that may read secret scanning alerts. Refuses any URL outside `apiOrigin`.
 */
export function githubAlertSecret(options: {
  token: string;
  apiOrigin?: string;
  fetch?: typeof fetch;
}): (alertUrl: string) => Promise<SecretValue | undefined> {
  const origin = new URL(options.apiOrigin ?? "https://api.github.com").origin;
  const doFetch = options.fetch ?? fetch;
  return async (alertUrl) => {
    let url: URL;
    try {
      url = new URL(alertUrl);
    } catch {
      return undefined;
    }
    if (url.origin !== origin || !/\/secret-scanning\/alerts\/\d+$/.test(url.pathname)) return undefined;
    const res = await doFetch(url, {
      headers: {
        authorization: `Bearer ${options.token}`,
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
      },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) return undefined;
    const body = (await res.json().catch(() => undefined)) as { secret?: unknown } | undefined;
    return typeof body?.secret === "string" && body.secret !== "" ? new SecretValue(body.secret) : undefined;
  };
}
