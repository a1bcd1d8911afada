/**
 * A JustCall API simulator per seed 000: `GET /v2/account` and `GET /v2/calls` authenticated by
 * `Authorization: {api_key}:{api_secret}`, the documented success and 401 bodies, 403 when the
 * plan has no API access or a non-admin pair asks for an admin endpoint. Pairs never expire.
 * Pairs are made and revoked only through the dashboard surface (`/__dashboard/pairs`), which
 * plays the person at the dashboard; the product never calls it. `singlePair` models accounts
 * that allow one active pair at a time. Must not: trim the Authorization header, invent
 * rate-limit headers (the seed shows none), or ever list a secret.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Faults, parseFaultRule } from "./faults.js";
import { BodyTooLargeError, readBody, serveLocally } from "./local-server.js";

export const JUSTCALL_ACCOUNT: JustCallAccount = { account_id: 12345, email: "admin@yourcompany.com", plan: "Pro" };
export const JUSTCALL_401 = { status: "error", message: "Invalid API key or secret." };
// The seed shows no 403 body; this follows the 401's shape with the seed's troubleshooting words.
// Which endpoints need Admin-level credentials the seed does not say: account details do, here.
export const JUSTCALL_403 = {
  status: "error",
  message: "Your account plan does not include API access, or the endpoint requires Admin-level credentials.",
};

export const JUSTCALL_409 =
  "This account allows one active API key; revoke it in Settings → API & Webhooks before generating another.";
const ADMIN_PATHS = new Set(["/v2/account"]);

export interface JustCallAccount {
  account_id: number;
  email: string;
  plan: string;
}
export interface JustCallPair {
  apiKey: string;
  apiSecret: string;
  createdAt: number;
  active: boolean;
  admin: boolean;
}
export interface JustCallStats {
  generated: number;
  revoked: number;
  /** Requests per api_key that named a pair this account made. */
  requests: Record<string, { accepted: number; refused: number }>;
  /** Refused requests whose api_key the account never made (or no header at all). */
  refusedUnknown: number;
}

/** The dashboard refused to make a pair (single-pair account with one active). HTTP 409. */
export class PairLimitError extends Error {}

export interface JustCallSimulator {
  url: string;
  faults: Faults;
  /** Plays "Generate API Key": the secret is returned here only. `admin: false` makes a non-admin pair. */
  generatePair(options?: { admin?: boolean }): { apiKey: string; apiSecret: string };
  /** Plays "Revoke": false when no active pair has this key. */
  revokePair(apiKey: string): boolean;
  listPairs(): Array<{ apiKey: string; createdAt: string; active: boolean; admin: boolean }>;
  stats(): JustCallStats;
  setPlanHasApi(has: boolean): void;
  close(): Promise<void>;
}

export interface JustCallSimulatorOptions {
  port?: number;
  host?: string;
  singlePair?: boolean;
  clock?: () => number;
  /** Overrides the account details `/v2/account` answers with. */
  account?: Partial<JustCallAccount>;
}

export async function startJustCallSimulator(options: JustCallSimulatorOptions = {}): Promise<JustCallSimulator> {
  const clock = options.clock ?? Date.now;
  const account = { ...JUSTCALL_ACCOUNT, ...options.account };
  const pairs = new Map<string, JustCallPair>();
  const counters: JustCallStats = { generated: 0, revoked: 0, requests: {}, refusedUnknown: 0 };
  const faults = new Faults();
  let planHasApi = true;

  const generatePair = (opts: { admin?: boolean } = {}) => {
    if (options.singlePair && [...pairs.values()].some((p) => p.active)) throw new PairLimitError(JUSTCALL_409);
    const pair = {
      apiKey: randomBytes(12).toString("hex"),
      apiSecret: randomBytes(18).toString("hex"),
      createdAt: clock(),
      active: true,
      admin: opts.admin ?? true,
    };
    pairs.set(pair.apiKey, pair);
    counters.generated += 1;
    return { apiKey: pair.apiKey, apiSecret: pair.apiSecret };
  };
  const revokePair = (apiKey: string) => {
    const p = pairs.get(apiKey);
    if (!p?.active) return false;
    p.active = false;
    counters.revoked += 1;
    return true;
  };
  const listPairs = () =>
    [...pairs.values()].map((p) => ({
      apiKey: p.apiKey,
      createdAt: new Date(p.createdAt).toISOString(),
      active: p.active,
      admin: p.admin,
    }));

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError)
        return send(res, 413, { status: "error", message: "Request body too large." });
      send(res, 500, { status: "error", message: "Internal server error." });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://sim").pathname;
    if (path.startsWith("/__dashboard/") || path.startsWith("/__sim/")) return control(method, path, body, res);
    const fault = await faults.apply(`${method} ${path}`, req, res);
    if (fault === "handled") return;
    if (fault?.kind === "error")
      return send(res, fault.status ?? 500, { status: "error", message: "Internal server error." });
    if (fault?.kind === "rate-limit") return send(res, 429, { status: "error", message: "Too many requests." });
    if (fault?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status": "succ');
      return;
    }
    if (method !== "GET" || (path !== "/v2/account" && path !== "/v2/calls"))
      return send(res, 404, { status: "error", message: "Not found." });
    // The raw header: the seed says trailing spaces make a pair invalid, so nothing is trimmed.
    const header = rawHeader(req, "authorization");
    const sep = header?.indexOf(":") ?? -1;
    const pair = header && sep > 0 ? pairs.get(header.slice(0, sep)) : undefined;
    if (!pair || !pair.active || !safeEqual(pair.apiSecret, header?.slice(sep + 1) ?? "")) {
      if (pair) (counters.requests[pair.apiKey] ??= { accepted: 0, refused: 0 }).refused += 1;
      else counters.refusedUnknown += 1;
      return send(res, 401, JUSTCALL_401);
    }
    const count = (counters.requests[pair.apiKey] ??= { accepted: 0, refused: 0 });
    if (!planHasApi || (!pair.admin && ADMIN_PATHS.has(path))) {
      count.refused += 1;
      return send(res, 403, JUSTCALL_403);
    }
    count.accepted += 1;
    send(res, 200, { status: "success", data: path === "/v2/account" ? account : [] });
  }

  function control(method: string, path: string, body: string, res: ServerResponse): void {
    try {
      if (method === "POST" && path === "/__dashboard/pairs") {
        const admin = body.trim() === "" ? undefined : (JSON.parse(body) as { admin?: unknown }).admin;
        if (admin !== undefined && typeof admin !== "boolean")
          return send(res, 400, { status: "error", message: "admin: expected true or false" });
        try {
          return send(res, 201, generatePair(admin === undefined ? {} : { admin }));
        } catch (err) {
          if (err instanceof PairLimitError) return send(res, 409, { status: "error", message: err.message });
          throw err;
        }
      }
      const revoke = /^\/__dashboard\/pairs\/([^/]+)$/.exec(path);
      if (method === "DELETE" && revoke)
        return revokePair(decodeURIComponent(revoke[1] ?? ""))
          ? send(res, 200, { revoked: true })
          : send(res, 404, { status: "error", message: "No active pair with that key." });
      if (method === "GET" && path === "/__dashboard/pairs") return send(res, 200, { data: listPairs() });
      if (method === "GET" && path === "/__sim/stats") return send(res, 200, { ...counters, faultHits: faults.hits });
      if (method === "POST" && path === "/__sim/faults")
        return send(res, 200, { rules: faults.add(parseFaultRule(JSON.parse(body))).rules });
      if (method === "DELETE" && path === "/__sim/faults") return send(res, 200, (faults.reset(), { rules: [] }));
      if (method === "POST" && path === "/__sim/release") return send(res, 200, (faults.release(), { released: true }));
      send(res, 404, { message: `no control route ${method} ${path}` });
    } catch (err) {
      send(res, 400, { message: err instanceof Error ? err.message : "bad control request" });
    }
  }

  const local = await serveLocally(server, options);
  return {
    url: local.url,
    faults,
    generatePair,
    revokePair,
    listPairs,
    stats: () => structuredClone(counters),
    setPlanHasApi: (has) => void (planHasApi = has),
    close: async () => {
      faults.reset();
      await local.close();
    },
  };
}

function rawHeader(req: IncomingMessage, name: string): string | undefined {
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if (req.rawHeaders[i]?.toLowerCase() === name) return req.rawHeaders[i + 1];
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
