/**
 * A CallCov API simulator: a real HTTP server that behaves as seeds 001/002 and DESIGN.md say.
 * Data endpoints take `X-API-Key` or `Authorization: Bearer sk_…`; key management takes a JWT
 * from /auth/login. Every answer to a request with a known, active key (200, 403, 429) carries
 * X-RateLimit-Limit/Remaining/Reset of the window that binds (see RateVerdict): 429 once the
 * minute's or the UTC day's budget is spent, with Remaining 0 and Reset at that window's end. A 401
 * for a missing, unknown or revoked key carries none: there is no key, so no budget, to report.
 * API keys never expire (seed 002); JWTs do. Fault knobs and counters for tests; `/__sim/*` controls,
 * among them `GET /__sim/keys`: every key ever made with its creation and revocation times.
 * `GET /api/v1/api-keys/` pages its list (DESIGN.md: `?cursor=`, `{ data, next_cursor }`), at most
 * `listPageSize` keys a page (500 by default), oldest first; an unknown cursor is a 400.
 * Serves plain HTTP on loopback (the real API is HTTPS-only; the adapter insists on https except
 * for loopback addresses).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  CallCovState,
  type KeyRecord,
  PLAN_LIMITS,
  type Plan,
  type RateVerdict,
  type SimKey,
} from "./callcov/callcov-state.js";
import { Faults, parseFaultRule } from "./faults.js";
import { BodyTooLargeError, readBody, serveLocally } from "./local-server.js";

export const CALLCOV_ERRORS = {
  invalidKey: { error: { code: "unauthorized", message: "Invalid or missing API key" } },
  forbidden: { error: { code: "forbidden", message: "Insufficient permissions for this resource" } },
  invalidToken: { error: { code: "unauthorized", message: "Invalid or missing token" } },
  /**
   * Seed 002's "401 Token expired", in seed 001's error shape: an access token past its 30 minutes
   * (on /users/me and key management) and a refresh token past its 7 days (on /auth/refresh).
   */
  tokenExpired: { error: { code: "unauthorized", message: "Token expired" } },
  badLogin: { error: { code: "unauthorized", message: "Invalid email or password" } },
  rateLimited: { error: { code: "rate_limited", message: "Rate limit exceeded; retry after X-RateLimit-Reset" } },
  keyNotFound: { error: { code: "not_found", message: "API key not found" } },
  bodyTooLarge: { error: { code: "payload_too_large", message: "The request body exceeds 1 MiB" } },
} as const;

export interface CallCovSimulator {
  url: string;
  faults: Faults;
  state: CallCovState;
  /** Seeds a key as if a person made it in the dashboard; returns its id and the key. */
  issueKey(name: string): { id: string; key: string };
  isKeyActive(id: string): boolean;
  /** Every key ever made with its creation and revocation times (epoch ms), in creation order. */
  keyHistory(): KeyRecord[];
  /** Records n requests by a consumer with this key (usage the worker did not make). */
  useKey(key: string, n: number): void;
  setClock(clock: () => number): void;
  close(): Promise<void>;
}

const DATA_PATHS: Record<string, unknown> = {
  "/api/v1/health": { status: "ok" },
  "/api/v1/calls": { data: [] },
  "/api/v1/analysis/": { data: [] },
};

export async function startCallCovSimulator(
  options: {
    port?: number;
    host?: string;
    clock?: () => number;
    plan?: Plan;
    mode?: "live" | "test";
    accounts?: Array<{ email: string; password: string }>;
    managementPerMinute?: number;
    /** Keys a page of the key list; Infinity: one answer with every key, as a vendor that does not page. */
    listPageSize?: number;
  } = {},
): Promise<CallCovSimulator> {
  const pageSize = options.listPageSize ?? 500;
  const state = new CallCovState(
    options.clock ?? Date.now,
    options.accounts ?? [{ email: "admin@callcov.test", password: "demo-password" }],
    options.plan ?? "starter",
    options.mode ?? "live",
    options.managementPerMinute,
  );
  const faults = new Faults();
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) return send(res, 413, CALLCOV_ERRORS.bodyTooLarge);
      send(res, 500, { error: { code: "internal", message: "internal error" } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://sim");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path.startsWith("/__sim/")) return control(method, path, body, res);
    // Counted before faults, auth and rate limits: a request the product sent counts even if it is dropped.
    const route = `${method} ${path.replace(KEY_PATH, "/api/v1/api-keys/{id}")}`;
    state.counters.requestsByRoute[route] = (state.counters.requestsByRoute[route] ?? 0) + 1;
    const revokeTarget = method === "DELETE" ? KEY_PATH.exec(path)?.[1] : undefined;
    if (revokeTarget !== undefined) state.countRevokeRequest(decodeKeyId(revokeTarget));
    const fault = await faults.apply(`${method} ${path}`, req, res);
    if (fault === "handled") return;
    if (fault?.kind === "error")
      return send(res, fault.status ?? 500, {
        error: { code: "server_error", message: "The server encountered an error" },
      });
    if (fault?.kind === "rate-limit")
      return send(
        res,
        429,
        CALLCOV_ERRORS.rateLimited,
        rateHeaders({
          ok: false,
          limit: PLAN_LIMITS[state.plan].perMinute,
          remaining: 0,
          reset: Math.ceil(state.clock() / 60_000) * 60,
          window: "minute",
        }),
      );
    if (fault?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data": [truncated');
      return;
    }

    if (method === "POST" && path === "/api/v1/auth/login") {
      const b = parseJson(body);
      if (!b || typeof b.email !== "string" || typeof b.password !== "string")
        return send(res, 400, { error: { code: "invalid_request", message: "email and password are required" } });
      const tokens = state.login(b.email, b.password);
      return tokens ? send(res, 200, tokens) : send(res, 401, CALLCOV_ERRORS.badLogin);
    }
    if (method === "POST" && path === "/api/v1/auth/refresh") {
      const b = parseJson(body);
      if (!b || typeof b.refresh_token !== "string")
        return send(res, 400, { error: { code: "invalid_request", message: "refresh_token is required" } });
      const out = state.refresh(b.refresh_token);
      if (out === "expired") return send(res, 401, CALLCOV_ERRORS.tokenExpired);
      if (out === "invalid") return send(res, 401, CALLCOV_ERRORS.invalidToken);
      return send(res, 200, out);
    }
    if (path === "/api/v1/api-keys/" || path.startsWith("/api/v1/api-keys/"))
      return manageKeys(method, path, body, req, res, url.searchParams.get("cursor"));
    if (method === "GET" && (path in DATA_PATHS || path === "/api/v1/users/me")) return dataEndpoint(path, req, res);
    send(res, 404, { error: { code: "not_found", message: `No route for ${method} ${path}` } });
  }

  function dataEndpoint(path: string, req: IncomingMessage, res: ServerResponse): void {
    const presented = presentedKey(req);
    if (path === "/api/v1/users/me" && presented?.startsWith("ey")) {
      const claims = state.verifyJwt(presented, "access");
      if (claims === "expired") return send(res, 401, CALLCOV_ERRORS.tokenExpired);
      if (claims === "invalid") return send(res, 401, CALLCOV_ERRORS.invalidToken);
      return send(res, 200, { email: claims.sub });
    }
    const key = presented ? state.findActive(presented) : undefined;
    // No X-RateLimit-* here: a missing, unknown or revoked key has no per-key budget to report.
    if (!key) return send(res, 401, CALLCOV_ERRORS.invalidKey);
    const rate = state.spend(key.id, PLAN_LIMITS[key.plan]);
    if (!rate.ok) {
      state.count(key.id, "refused");
      return send(res, 429, CALLCOV_ERRORS.rateLimited, rateHeaders(rate));
    }
    if (key.forbidden) {
      state.count(key.id, "refused");
      return send(res, 403, CALLCOV_ERRORS.forbidden, rateHeaders(rate));
    }
    state.count(key.id, "accepted");
    send(
      res,
      200,
      path === "/api/v1/users/me"
        ? { email: state.accounts[0]?.email, key: { id: key.id, name: key.name } }
        : DATA_PATHS[path],
      rateHeaders(rate),
    );
  }

  function manageKeys(
    method: string,
    path: string,
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
    cursor: string | null,
  ): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const claims = token ? state.verifyJwt(token, "access") : "invalid";
    if (claims === "expired") return send(res, 401, CALLCOV_ERRORS.tokenExpired);
    if (claims === "invalid") return send(res, 401, CALLCOV_ERRORS.invalidToken);
    const rate = state.spend(`account:${claims.sub}`, {
      perMinute: state.managementPerMinute,
      perDay: Number.MAX_SAFE_INTEGER,
    });
    if (!rate.ok) return send(res, 429, CALLCOV_ERRORS.rateLimited, rateHeaders(rate));
    const headers = rateHeaders(rate);
    if (method === "POST" && path === "/api/v1/api-keys/") {
      const b = parseJson(body);
      if (!b)
        return send(
          res,
          400,
          { error: { code: "invalid_request", message: "The body must be a JSON object" } },
          headers,
        );
      if (typeof b.name !== "string" || b.name.trim() === "" || b.name.length > 200)
        return send(
          res,
          400,
          { error: { code: "invalid_request", message: "name is required (a string of 1 to 200 characters)" } },
          headers,
        );
      const k = state.issueKey(b.name);
      return send(
        res,
        201,
        { id: k.id, name: k.name, key: k.key, created_at: new Date(k.createdAt).toISOString() },
        headers,
      );
    }
    if (method === "GET" && path === "/api/v1/api-keys/") {
      const page = listPage(state, cursor, pageSize);
      if (!page)
        return send(res, 400, { error: { code: "invalid_request", message: "The cursor is not valid" } }, headers);
      return send(res, 200, page, headers);
    }
    const id = KEY_PATH.exec(path)?.[1];
    if (method === "DELETE" && id) {
      if (!state.revoke(decodeURIComponent(id))) return send(res, 404, CALLCOV_ERRORS.keyNotFound, headers);
      res.writeHead(204, headers);
      res.end();
      return;
    }
    send(res, 405, { error: { code: "method_not_allowed", message: `${method} is not allowed on ${path}` } }, headers);
  }

  function control(method: string, path: string, body: string, res: ServerResponse): void {
    try {
      if (method === "GET" && path === "/__sim/stats")
        return send(res, 200, {
          ...state.counters,
          activeKeys: [...state.keys.values()].filter((k) => k.active).length,
          faultHits: faults.hits,
        });
      if (method === "POST" && path === "/__sim/faults")
        return send(res, 200, { rules: faults.add(parseFaultRule(JSON.parse(body))).rules });
      if (method === "DELETE" && path === "/__sim/faults") return send(res, 200, (faults.reset(), { rules: [] }));
      if (method === "POST" && path === "/__sim/release") return send(res, 200, (faults.release(), { released: true }));
      if (method === "POST" && path === "/__sim/keys") {
        const name = (parseJson(body)?.name as string | undefined) ?? "seeded in the dashboard";
        const k = state.issueKey(name);
        return send(res, 201, { id: k.id, name: k.name, key: k.key });
      }
      // Every key ever made, revoked ones too, with creation and revocation times (ms and ISO), for checks from outside.
      if (method === "GET" && path === "/__sim/keys") {
        return send(res, 200, {
          data: [...state.keys.values()].map((k) => ({
            ...listed(k),
            active: k.active,
            created_at_ms: k.createdAt,
            revoked_at: k.revokedAt === undefined ? null : new Date(k.revokedAt).toISOString(),
            revoked_at_ms: k.revokedAt ?? null,
          })),
        });
      }
      send(res, 404, { message: `no control route ${method} ${path}` });
    } catch (err) {
      send(res, 400, { message: err instanceof Error ? err.message : "bad control request" });
    }
  }

  const local = await serveLocally(server, options);
  return {
    url: local.url,
    faults,
    state,
    issueKey: (name) => {
      const k = state.issueKey(name);
      return { id: k.id, key: k.key };
    },
    isKeyActive: (id) => state.keys.get(id)?.active ?? false,
    keyHistory: () => state.keyHistory(),
    useKey: (key, n) => {
      const k = state.findActive(key);
      if (!k) return;
      state.spend(k.id, { perMinute: Number.MAX_SAFE_INTEGER, perDay: Number.MAX_SAFE_INTEGER }, n);
      state.count(k.id, "consumer", n);
    },
    setClock: (clock) => void (state.clock = clock),
    close: async () => {
      faults.reset();
      await local.close();
    },
  };
}

const KEY_PATH = /^\/api\/v1\/api-keys\/([^/]+)\/?$/;

/**
 * One page of the active keys, in creation order, after the key the cursor names (an opaque
 * token of the last key's position). `next_cursor` is null on the last page. undefined: a cursor
 * this simulator did not make.
 */
function listPage(
  state: CallCovState,
  cursor: string | null,
  size: number,
): { data: ReturnType<typeof listed>[]; next_cursor?: string | null } | undefined {
  const all = [...state.keys.values()];
  let start = 0;
  if (cursor !== null) {
    const m = /^p:(\d{1,9})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!m || Number(m[1]) > all.length) return undefined;
    start = Number(m[1]);
  }
  const data: ReturnType<typeof listed>[] = [];
  let i = start;
  for (; i < all.length && data.length < size; i++) {
    const k = all[i] as SimKey;
    if (k.active) data.push(listed(k));
  }
  if (size === Number.POSITIVE_INFINITY) return { data };
  return { data, next_cursor: i < all.length ? Buffer.from(`p:${i}`).toString("base64url") : null };
}

/** The key id as the DELETE handler decodes it, or the raw segment when it is not valid percent-encoding. */
function decodeKeyId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function listed(k: SimKey) {
  return { id: k.id, name: k.name, prefix: k.key.slice(0, 12), created_at: new Date(k.createdAt).toISOString() };
}

function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers["x-api-key"];
  if (typeof header === "string" && header !== "") return header;
  return /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
}

function rateHeaders(r: RateVerdict): Record<string, string> {
  return {
    "x-ratelimit-limit": String(r.limit),
    "x-ratelimit-remaining": String(r.remaining),
    "x-ratelimit-reset": String(r.reset),
  };
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}
