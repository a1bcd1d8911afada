/**
 * A SendGrid v3 API Keys simulator: the management credential is itself a scoped API key
 * (`Authorization: Bearer SG.…`) whose scopes must include `api_keys.create`, `.read` or `.delete`
 * for each call. Follows SendGrid's public docs and OpenAPI spec (cited in docs/vendors.md):
 * `POST/GET /v3/api_keys`, `GET/DELETE /v3/api_keys/{api_key_id}`, `GET /v3/scopes` to check a key,
 * errors as `{errors: [{field, message}]}`, 69-character keys `SG.<id>.<secret>`, a limit of 100
 * keys (403 past it), a key made without `scopes` gets Full Access, and X-RateLimit-Limit/Remaining/
 * Reset (epoch seconds) on every authenticated answer, 429 once a route's budget for the refresh
 * period is spent. The list takes only `limit` (SendGrid documents no cursor). Must not: list or
 * fetch a key's secret, or put one in an error.
 */
import { randomBytes } from "node:crypto";
import type { Faults } from "./faults.js";
import { FixedWindow, type WindowVerdict } from "./key-sims/fixed-window.js";
import { KeyLedger, type KeyRecord, type LedgerKey } from "./key-sims/key-ledger.js";
import { decodeSegment, parseJson, send, sendEmpty, serveKeySim } from "./key-sims/key-sim-server.js";

/**
 * The sandbox's SendGrid management key (scopes api_keys.*), made up for the local simulator only:
 * no real account has it.
 */
export const SANDBOX_SENDGRID = {
  managementKeyId: "ZzJPtcal0kUyWF99hMCuoC",
  managementKey: "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",
} as const;

const sendgridError = (message: string, field: string | null = null) => ({ errors: [{ field, message }] });

export const SENDGRID_ERRORS = {
  /** The spec's example body of a 401 without credentials. */
  authorizationRequired: sendgridError("authorization required"),
  /** SendGrid's support article: the 401 for a key that is invalid, deleted or revoked. */
  invalidGrant: sendgridError("The provided authorization grant is invalid, expired, or revoked"),
  accessForbidden: sendgridError("access forbidden"),
  tooManyRequests: sendgridError("too many requests"),
  keyNotFound: sendgridError("unable to find API Key", "api_key_id"),
  keyLimit: sendgridError("cannot create more than 100 API keys"),
} as const;

export const MANAGEMENT_SCOPES = ["api_keys.create", "api_keys.read", "api_keys.update", "api_keys.delete"];
/** What a key made without `scopes` gets ("Full Access", billing excluded); a sample of the documented list. */
export const FULL_ACCESS_SCOPES = [
  ...MANAGEMENT_SCOPES,
  "alerts.create",
  "alerts.read",
  "mail.send",
  "scopes.read",
  "stats.read",
  "user.profile.read",
];
const MAX_KEYS = 100;

export interface SendGridSimulator {
  url: string;
  faults: Faults;
  /** Seeds a key as if made in the SendGrid app; `scopes` absent means Full Access. */
  issueKey(name: string, scopes?: string[]): { id: string; key: string };
  isKeyActive(id: string): boolean;
  keyHistory(): KeyRecord[];
  requestsByRoute: Record<string, number>;
  close(): Promise<void>;
}

export interface SendGridSimulatorOptions {
  port?: number;
  host?: string;
  clock?: () => number;
  /** Requests per route per refresh period (default 600, the figure SendGrid's changelog gives). */
  rateLimit?: number;
  /** The refresh period in seconds (default 60). */
  ratePeriodS?: number;
}

const KEY_PATH = /^\/v3\/api_keys\/([^/]+)$/;

export async function startSendGridSimulator(options: SendGridSimulatorOptions = {}): Promise<SendGridSimulator> {
  const clock = options.clock ?? Date.now;
  const ledger = new KeyLedger<{ scopes: string[] }>(clock);
  const budget = new FixedWindow(clock, options.rateLimit ?? 600, options.ratePeriodS ?? 60);
  // 16 random bytes are 22 base64url characters and 32 are 43: "SG." + 22 + "." + 43 = 69, as documented.
  const issue = (name: string, scopes: string[] = FULL_ACCESS_SCOPES) => {
    const id = randomBytes(16).toString("base64url");
    const k = ledger.add({ id, name, secret: `SG.${id}.${randomBytes(32).toString("base64url")}`, meta: { scopes } });
    return { id: k.id, key: k.secret };
  };
  ledger.add({
    id: SANDBOX_SENDGRID.managementKeyId,
    name: "key-rotator management (sandbox)",
    secret: SANDBOX_SENDGRID.managementKey,
    meta: { scopes: MANAGEMENT_SCOPES },
  });
  const route = (method: string, path: string) => `${method} ${path.replace(KEY_PATH, "/v3/api_keys/{api_key_id}")}`;

  const server = await serveKeySim(options, ledger, (name) => issue(name), {
    route,
    fault: (rule, res) =>
      rule.kind === "rate-limit"
        ? send(res, 429, SENDGRID_ERRORS.tooManyRequests, rateHeaders(budget.spent()))
        : send(res, rule.status ?? 500, sendgridError("internal server error")),
    failure: (status, res) =>
      send(res, status, sendgridError(status === 413 ? "request body too large" : "internal server error")),
    handle: ({ method, path, url, body, req }, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!token) return send(res, 401, SENDGRID_ERRORS.authorizationRequired);
      const caller = ledger.findActive(token);
      if (!caller) return send(res, 401, SENDGRID_ERRORS.invalidGrant);
      const rate = budget.take(route(method, path));
      const headers = rateHeaders(rate);
      if (!rate.ok) return send(res, 429, SENDGRID_ERRORS.tooManyRequests, headers);
      const reply = (status: number, b: unknown) => send(res, status, b, headers);
      const may = (scope: string) => caller.meta.scopes.includes(scope);

      if (method === "GET" && path === "/v3/scopes") return reply(200, { scopes: caller.meta.scopes });
      if (method === "POST" && path === "/v3/api_keys") {
        if (!may("api_keys.create")) return reply(403, SENDGRID_ERRORS.accessForbidden);
        return create(body, reply);
      }
      if (method === "GET" && path === "/v3/api_keys") {
        if (!may("api_keys.read")) return reply(403, SENDGRID_ERRORS.accessForbidden);
        const raw = url.searchParams.get("limit");
        const limit = raw === null ? Number.POSITIVE_INFINITY : Number(raw);
        if (!(Number.isInteger(limit) && limit >= 1) && raw !== null)
          return reply(400, sendgridError("limit must be a positive integer", "limit"));
        return reply(200, {
          result: ledger
            .active()
            .slice(0, limit)
            .map((k) => ({ api_key_id: k.id, name: k.name })),
        });
      }
      const id = decodeSegment(KEY_PATH.exec(path)?.[1] ?? "");
      if (id && method === "GET") {
        if (!may("api_keys.read")) return reply(403, SENDGRID_ERRORS.accessForbidden);
        const k = ledger.get(id);
        // The OpenAPI spec answers one key inside `result`, as the list does.
        if (k?.active) return reply(200, { result: [{ api_key_id: k.id, name: k.name, scopes: k.meta.scopes }] });
        return reply(404, SENDGRID_ERRORS.keyNotFound);
      }
      if (id && method === "DELETE") {
        if (!may("api_keys.delete")) return reply(403, SENDGRID_ERRORS.accessForbidden);
        return ledger.revoke(id) ? sendEmpty(res, 204, headers) : reply(404, SENDGRID_ERRORS.keyNotFound);
      }
      reply(404, sendgridError("not found"));
    },
  });

  function create(body: string, reply: (status: number, b: unknown) => void): void {
    const b = parseJson(body);
    if (!b || typeof b.name !== "string" || b.name.trim() === "")
      return reply(400, sendgridError("missing required argument", "name"));
    const scopes = b.scopes;
    if (scopes !== undefined && !(Array.isArray(scopes) && scopes.every((s) => typeof s === "string")))
      return reply(400, sendgridError("scopes must be an array of strings", "scopes"));
    if (ledger.active().length >= MAX_KEYS) return reply(403, SENDGRID_ERRORS.keyLimit);
    const made = issue(b.name, scopes as string[] | undefined);
    const k = ledger.get(made.id) as LedgerKey<{ scopes: string[] }>;
    reply(201, { api_key: k.secret, api_key_id: k.id, name: k.name, scopes: k.meta.scopes });
  }

  return {
    url: server.url,
    faults: server.faults,
    issueKey: (name, scopes) => issue(name, scopes),
    isKeyActive: (id) => ledger.get(id)?.active ?? false,
    keyHistory: () => ledger.history(),
    requestsByRoute: server.requestsByRoute,
    close: () => server.close(),
  };
}

function rateHeaders(r: WindowVerdict): Record<string, string> {
  return {
    "x-ratelimit-limit": String(r.limit),
    "x-ratelimit-remaining": String(r.remaining),
    "x-ratelimit-reset": String(r.resetAt),
  };
}
