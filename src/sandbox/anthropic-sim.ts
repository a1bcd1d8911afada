/**
 * An Anthropic (Claude API) simulator for the dashboard-only flow: API keys are made and deleted
 * only in the Claude Console (Settings → API keys), which `issueKey`/`revokeKey` and the
 * `/__sim/keys` controls play; the Admin API can list and update keys but never make one, so it is
 * not simulated. Follows Anthropic's public docs (cited in docs/vendors.md): a key is sent in
 * `x-api-key` with an `anthropic-version` header; `GET /v1/models` (paged by `limit`, `after_id`,
 * `before_id`; `{data, has_more, first_id, last_id}`) and `GET /v1/models/{model_id}` answer a key
 * the organization accepts; errors are `{type: "error", error: {type, message}, request_id}` with a
 * `request-id` header on every answer (401 authentication_error, 403 permission_error, 404
 * not_found_error, 413 request_too_large, 429 rate_limit_error with `retry-after`, 500 api_error,
 * 529 overloaded_error); anthropic-ratelimit-requests-limit/remaining/reset (RFC 3339) on answers
 * to an accepted key. Must not: list or echo a key, or put one in an error.
 */
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Faults } from "./faults.js";
import { FixedWindow, type WindowVerdict } from "./key-sims/fixed-window.js";
import { KeyLedger, type KeyRecord } from "./key-sims/key-ledger.js";
import { decodeSegment, send, serveKeySim } from "./key-sims/key-sim-server.js";

/** The version this simulator speaks; a request without an `anthropic-version` header is refused. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** A sample of the models list (the documented fields; the set is the simulator's). */
export const ANTHROPIC_MODELS = [
  { type: "model", id: "claude-opus-4-6", display_name: "Claude Opus 4.6", created_at: "2026-02-04T00:00:00Z" },
  { type: "model", id: "claude-sonnet-4-5", display_name: "Claude Sonnet 4.5", created_at: "2025-09-29T00:00:00Z" },
  { type: "model", id: "claude-haiku-4-5", display_name: "Claude Haiku 4.5", created_at: "2025-10-15T00:00:00Z" },
] as const;

/** The messages the simulator sends; only `invalid x-api-key` is Anthropic's observed text. */
export const ANTHROPIC_MESSAGES = {
  invalidKey: "invalid x-api-key",
  missingKey: "x-api-key header is required",
  missingVersion: "anthropic-version: header is required",
  forbidden: "Your API key does not have permission to use the specified resource.",
  rateLimited: "Number of requests has exceeded your per-minute rate limit",
  overloaded: "Overloaded",
  internal: "Internal server error",
  tooLarge: "Request exceeds the maximum allowed number of bytes.",
} as const;

export interface AnthropicSimulator {
  url: string;
  faults: Faults;
  /** Plays "Create key" in the Console: the key is returned here only, once. */
  issueKey(name: string): { id: string; key: string };
  /** Plays deleting a key in the Console; false when no active key has this id. */
  revokeKey(id: string): boolean;
  isKeyActive(id: string): boolean;
  /** Makes an active key answer 403 permission_error (its workspace may not use the API), or not. */
  setKeyForbidden(id: string, forbidden: boolean): void;
  keyHistory(): KeyRecord[];
  requestsByRoute: Record<string, number>;
  close(): Promise<void>;
}

export interface AnthropicSimulatorOptions {
  port?: number;
  host?: string;
  clock?: () => number;
  /** Requests per minute for the organization (default 50; Anthropic's figure depends on the tier). */
  rateLimit?: number;
  /** The window in seconds (default 60). */
  ratePeriodS?: number;
}

const MODEL_PATH = /^\/v1\/models\/([^/]+)$/;

export async function startAnthropicSimulator(options: AnthropicSimulatorOptions = {}): Promise<AnthropicSimulator> {
  const clock = options.clock ?? Date.now;
  const ledger = new KeyLedger<{ forbidden: boolean }>(clock);
  const budget = new FixedWindow(clock, options.rateLimit ?? 50, options.ratePeriodS ?? 60);
  // The Console shows a key beginning sk-ant- (sk-ant-api03-… in the docs); its length and the
  // apikey_ id's shape are the simulator's choice.
  const issue = (name: string) => {
    const k = ledger.add({
      id: `apikey_01${alnum(22)}`,
      name,
      secret: `sk-ant-api03-${randomBytes(72).toString("base64url")}AA`,
      meta: { forbidden: false },
    });
    return { id: k.id, key: k.secret };
  };

  const server = await serveKeySim(options, ledger, issue, {
    route: (method, path) => `${method} ${path.replace(MODEL_PATH, "/v1/models/{model_id}")}`,
    fault: (rule, res) => {
      if (rule.kind === "rate-limit") {
        const spent = budget.spent();
        return fail(res, 429, "rate_limit_error", ANTHROPIC_MESSAGES.rateLimited, {
          ...rateHeaders(spent),
          "retry-after": String(spent.resetIn),
        });
      }
      const status = rule.status ?? 500;
      if (status === 529) return fail(res, 529, "overloaded_error", ANTHROPIC_MESSAGES.overloaded);
      fail(res, status, "api_error", ANTHROPIC_MESSAGES.internal);
    },
    failure: (status, res) =>
      status === 413
        ? fail(res, 413, "request_too_large", ANTHROPIC_MESSAGES.tooLarge)
        : fail(res, 500, "api_error", ANTHROPIC_MESSAGES.internal),
    handle: ({ method, path, url, req }, res) => {
      const key = req.headers["x-api-key"];
      if (typeof key !== "string" || key === "")
        return fail(res, 401, "authentication_error", ANTHROPIC_MESSAGES.missingKey);
      const caller = ledger.findActive(key);
      if (!caller) return fail(res, 401, "authentication_error", ANTHROPIC_MESSAGES.invalidKey);
      if (!req.headers["anthropic-version"])
        return fail(res, 400, "invalid_request_error", ANTHROPIC_MESSAGES.missingVersion);
      const rate = budget.take("requests");
      const headers = rateHeaders(rate);
      if (!rate.ok)
        return fail(res, 429, "rate_limit_error", ANTHROPIC_MESSAGES.rateLimited, {
          ...headers,
          "retry-after": String(rate.resetIn),
        });
      if (caller.meta.forbidden) return fail(res, 403, "permission_error", ANTHROPIC_MESSAGES.forbidden, headers);
      if (method === "GET" && path === "/v1/models") return listModels(url, res, headers);
      const modelId = decodeSegment(MODEL_PATH.exec(path)?.[1] ?? "");
      if (method === "GET" && modelId) {
        const model = ANTHROPIC_MODELS.find((m) => m.id === modelId);
        return model
          ? ok(res, 200, model, headers)
          : fail(res, 404, "not_found_error", `model: ${modelId.slice(0, 100)}`, headers);
      }
      fail(res, 404, "not_found_error", "Not Found", headers);
    },
  });

  return {
    url: server.url,
    faults: server.faults,
    issueKey: issue,
    revokeKey: (id) => ledger.revoke(id),
    isKeyActive: (id) => ledger.get(id)?.active ?? false,
    setKeyForbidden: (id, forbidden) => {
      const k = ledger.get(id);
      if (k) k.meta.forbidden = forbidden;
    },
    keyHistory: () => ledger.history(),
    requestsByRoute: server.requestsByRoute,
    close: () => server.close(),
  };
}

/** The documented cursor paging: `limit` (1 to 1000, default 20), then `after_id` or `before_id`. */
function listModels(url: URL, res: ServerResponse, headers: Record<string, string>): void {
  const raw = url.searchParams.get("limit");
  const limit = raw === null ? 20 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    return fail(res, 400, "invalid_request_error", "limit: must be an integer from 1 to 1000", headers);
  const ids: string[] = ANTHROPIC_MODELS.map((m) => m.id);
  const after = url.searchParams.get("after_id");
  const before = url.searchParams.get("before_id");
  const cursor = after ?? before;
  if (cursor !== null && !ids.includes(cursor))
    return fail(res, 400, "invalid_request_error", `${after !== null ? "after_id" : "before_id"}: unknown id`, headers);
  let page: (typeof ANTHROPIC_MODELS)[number][];
  let hasMore: boolean;
  if (before !== null) {
    const end = ids.indexOf(before);
    page = ANTHROPIC_MODELS.slice(Math.max(0, end - limit), end);
    hasMore = end - limit > 0;
  } else {
    const start = after === null ? 0 : ids.indexOf(after) + 1;
    page = ANTHROPIC_MODELS.slice(start, start + limit);
    hasMore = start + limit < ids.length;
  }
  ok(
    res,
    200,
    { data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null },
    headers,
  );
}

function ok(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, body, { "request-id": requestId(), ...headers });
}

function fail(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const id = requestId();
  send(res, status, { type: "error", error: { type, message }, request_id: id }, { "request-id": id, ...headers });
}

function rateHeaders(r: WindowVerdict): Record<string, string> {
  return {
    "anthropic-ratelimit-requests-limit": String(r.limit),
    "anthropic-ratelimit-requests-remaining": String(r.remaining),
    "anthropic-ratelimit-requests-reset": new Date(r.resetAt * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
function alnum(n: number): string {
  return [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join("");
}

function requestId(): string {
  return `req_011C${alnum(20)}`;
}
