/**
 * A Datadog API keys simulator: management takes an API key plus an application key
 * (`DD-API-KEY` + `DD-APPLICATION-KEY`), 403 `{errors: ["Forbidden"]}` when either is missing or
 * bad. Follows Datadog's public API docs (cited in docs/vendors.md): JSON:API bodies on
 * `POST/GET /api/v2/api_keys` and `DELETE /api/v2/api_keys/{api_key_id}` (204; 404 for an unknown
 * id), `page[size]` (at most 100) and `page[number]` with `meta.page.total_filtered_count`, the key
 * only in the create answer, errors as `{errors: ["…"]}`, `GET /api/v1/validate` with `DD-API-KEY`
 * (200 `{valid: true}`, 403 otherwise), and X-RateLimit-Limit/Period/Remaining/Reset (seconds until
 * the calendar-aligned period ends)/Name on every answer of a rate-limited route, 429 past the
 * limit. Must not: list a key's value, or put one in an error.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Faults } from "./faults.js";
import { FixedWindow, type WindowVerdict } from "./key-sims/fixed-window.js";
import { KeyLedger, type KeyRecord, type LedgerKey, safeEqual } from "./key-sims/key-ledger.js";
import { decodeSegment, parseJson, send, sendEmpty, serveKeySim } from "./key-sims/key-sim-server.js";

/** The sandbox's Datadog API and application keys, made up for the local simulator only. */
export const SANDBOX_DATADOG = {
  apiKey: "d92181551c27c6361a950b824c67d9d2",
  appKey: "e4750ba8f1f71e7ccecee3c619af59fb82a9fe0d",
} as const;

export const DATADOG_ERRORS = {
  forbidden: { errors: ["Forbidden"] },
  notFound: { errors: ["Not found"] },
  tooManyRequests: { errors: ["Too many requests"] },
} as const;

export interface DatadogSimulator {
  url: string;
  faults: Faults;
  /** Seeds an API key as if made in Organization Settings; returns its id (a UUID) and the key. */
  issueKey(name: string): { id: string; key: string };
  isKeyActive(id: string): boolean;
  keyHistory(): KeyRecord[];
  requestsByRoute: Record<string, number>;
  close(): Promise<void>;
}

export interface DatadogSimulatorOptions {
  port?: number;
  host?: string;
  clock?: () => number;
  /** Requests per rate-limit name per period (default 60). */
  rateLimit?: number;
  /** The period in seconds (default 60). */
  ratePeriodS?: number;
}

const KEY_PATH = /^\/api\/v2\/api_keys\/([^/]+)$/;

export async function startDatadogSimulator(options: DatadogSimulatorOptions = {}): Promise<DatadogSimulator> {
  const clock = options.clock ?? Date.now;
  const ledger = new KeyLedger<Record<string, never>>(clock);
  const appKeys = new Set<string>([SANDBOX_DATADOG.appKey]);
  const budget = new FixedWindow(clock, options.rateLimit ?? 60, options.ratePeriodS ?? 60);
  const issue = (name: string) => {
    const k = ledger.add({ id: randomUUID(), name, secret: randomBytes(16).toString("hex"), meta: {} });
    return { id: k.id, key: k.secret };
  };
  ledger.add({ id: randomUUID(), name: "key-rotator management (sandbox)", secret: SANDBOX_DATADOG.apiKey, meta: {} });

  const server = await serveKeySim(options, ledger, issue, {
    route: (method, path) => `${method} ${path.replace(KEY_PATH, "/api/v2/api_keys/{api_key_id}")}`,
    fault: (rule, res) =>
      rule.kind === "rate-limit"
        ? send(res, 429, DATADOG_ERRORS.tooManyRequests, rateHeaders(budget.spent(), "api_keys"))
        : send(res, rule.status ?? 500, { errors: ["Internal Server Error"] }),
    failure: (status, res) =>
      send(res, status, { errors: [status === 413 ? "Request body too large" : "Internal Server Error"] }),
    handle: ({ method, path, url, body, req }, res) => {
      const name = path === "/api/v1/validate" ? "validate" : "api_keys";
      const isKeys = path === "/api/v2/api_keys" || KEY_PATH.test(path);
      if (!(method === "GET" && name === "validate") && !isKeys) return send(res, 404, DATADOG_ERRORS.notFound);
      const rate = budget.take(name);
      const headers = rateHeaders(rate, name);
      const reply = (status: number, b: unknown) => send(res, status, b, headers);
      if (!rate.ok) return reply(429, DATADOG_ERRORS.tooManyRequests);
      const apiKey = header(req, "dd-api-key");
      const caller = apiKey ? ledger.findActive(apiKey) : undefined;
      if (name === "validate") return caller ? reply(200, { valid: true }) : reply(403, DATADOG_ERRORS.forbidden);
      const appKey = header(req, "dd-application-key");
      if (!caller || !appKey || ![...appKeys].some((k) => safeEqual(k, appKey)))
        return reply(403, DATADOG_ERRORS.forbidden);

      if (method === "POST" && path === "/api/v2/api_keys") {
        const data = parseJson(body)?.data as { type?: unknown; attributes?: { name?: unknown } } | undefined;
        if (data?.type !== "api_keys" || typeof data.attributes?.name !== "string" || data.attributes.name === "")
          return reply(400, { errors: ["Bad Request: data.type must be api_keys and data.attributes.name a string"] });
        const made = ledger.get(issue(data.attributes.name).id) as LedgerKey<Record<string, never>>;
        return reply(201, { data: resource(made, true) });
      }
      if (method === "GET" && path === "/api/v2/api_keys") {
        const size = Number(url.searchParams.get("page[size]") ?? 10);
        const number = Number(url.searchParams.get("page[number]") ?? 0);
        if (!Number.isInteger(size) || size < 1 || size > 100 || !Number.isInteger(number) || number < 0)
          return reply(400, { errors: ["page[size] must be 1 to 100 and page[number] at least 0"] });
        const active = ledger.active();
        const page = active.slice(number * size, (number + 1) * size);
        return reply(200, {
          data: page.map((k) => resource(k, false)),
          meta: { page: { total_filtered_count: active.length } },
        });
      }
      const id = decodeSegment(KEY_PATH.exec(path)?.[1] ?? "");
      if (method === "DELETE" && id)
        return ledger.revoke(id) ? sendEmpty(res, 204, headers) : reply(404, DATADOG_ERRORS.notFound);
      reply(404, DATADOG_ERRORS.notFound);
    },
  });

  return {
    url: server.url,
    faults: server.faults,
    issueKey: issue,
    isKeyActive: (id) => ledger.get(id)?.active ?? false,
    keyHistory: () => ledger.history(),
    requestsByRoute: server.requestsByRoute,
    close: () => server.close(),
  };
}

/** A key as a JSON:API resource; `key` only when it was just made (Datadog lists show last4). */
function resource(k: LedgerKey<Record<string, never>>, withKey: boolean) {
  const when = new Date(k.createdAt).toISOString();
  return {
    id: k.id,
    type: "api_keys",
    attributes: {
      ...(withKey ? { key: k.secret } : {}),
      name: k.name,
      last4: k.secret.slice(-4),
      created_at: when,
      modified_at: when,
      category: "default",
      remote_config_read_enabled: false,
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function rateHeaders(r: WindowVerdict, name: string): Record<string, string> {
  return {
    "x-ratelimit-limit": String(r.limit),
    "x-ratelimit-period": String(r.periodS),
    "x-ratelimit-remaining": String(r.remaining),
    "x-ratelimit-reset": String(r.resetIn),
    "x-ratelimit-name": name,
  };
}
