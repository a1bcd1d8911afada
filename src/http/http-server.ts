/**
 * The worker's HTTP surface: `GET /healthz` (the process answers), `GET /readyz` (Redis and the
 * store answer), `GET /metrics` (Prometheus), the admin `POST /v1/credentials/{id}/rotate`
 * for incident tooling, behind named bearer tokens compared in constant time (admin-tokens.ts),
 * and `POST /v1/leaks` for secret scanning reports (leak-webhook.ts). The admin call answers
 * within `adminTimeoutMs` whatever Redis does: 202 started or joined, 429 with `Retry-After` past
 * an emergency's bounds, 503 with `Retry-After` while Redis does not answer. The caller is a name
 * and an address in the audit trail (`http:<token name>@<peer address>`). How a rotation request is
 * decided and answered is rotate-answer.ts's, which the worker's local socket (local-socket.ts) shares.
 *
 * Must not: echo a token or a request body back, answer a stack trace, or leave a request unanswered.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";
import { actorString, auditLog } from "../audit/audit-log.js";
import { type AdminToken, singleAdminToken, tokenName } from "./admin-tokens.js";
import { type LeakIntake, leakRoute } from "./leak-webhook.js";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { Registry } from "prom-client";
import { describeError } from "../core/errors.js";
import { type AdminRotate, answerRotate, readJsonBody, send, withTimeout } from "./rotate-answer.js";

export interface ReadyCheck {
  name: string;
  check(): Promise<void>;
}

export type { AdminRotate };

export interface HttpServerOptions {
  /** Probes and /metrics (and, without adminPort, the admin API too). */
  port: number;
  host?: string;
  /** The admin API's own port (0: any), apart from the unauthenticated routes; its bind address. */
  adminPort?: number;
  adminHost?: string;
  registry: Registry;
  readyChecks: ReadyCheck[];
  /** Bearer token for the admin endpoint, named "admin"; without it or adminTokens the endpoint answers 503. */
  adminToken?: string;
  /** Named admin tokens (KEY_ROTATOR_ADMIN_TOKENS_FILE): the caller's name goes to the audit trail. */
  adminTokens?: AdminToken[];
  /** `POST /v1/leaks`; without it the route answers 503. */
  leaks?: LeakIntake;
  admin?: AdminRotate;
  /** The admin call answers 503 when starting the rotation takes longer than this (Redis frozen, say). */
  adminTimeoutMs?: number;
}

const rotateBody = z
  .strictObject({
    emergency: z.boolean().default(false),
    reason: z.string().trim().min(1, "give a reason: it goes to the audit trail").max(500),
    /** Past the credential's emergency cooldown (never past the global cap); audited with the reason. */
    force: z.boolean().default(false),
  })
  .refine((b) => !b.force || b.emergency, {
    message: "force is only for an emergency (send emergency: true)",
    path: ["force"],
  });

export const ADMIN_TIMEOUT_MS = 5_000;

const MAX_BODY = 16 * 1024;

/** Which routes a listener serves: everything, or (with `adminPort`) the probes or the admin API. */
type Role = "all" | "probes" | "admin";

/**
 * Listens on `port` (probes, metrics and, without `adminPort`, the admin API) and, with
 * `adminPort`, on that port for the admin API alone: the unauthenticated routes and the admin API
 * then never share a port, and each has its own bind address.
 */
export async function startHttpServer(
  options: HttpServerOptions,
): Promise<{ server: Server; url: string; adminUrl?: string; close(): Promise<void> }> {
  const split = options.adminPort !== undefined;
  const main = await listen(options, options.port, options.host, split ? "probes" : "all");
  const admin = split
    ? await listen(options, options.adminPort ?? 0, options.adminHost ?? options.host, "admin")
    : undefined;
  return {
    server: main.server,
    url: main.url,
    ...(admin ? { adminUrl: admin.url } : {}),
    close: async () => {
      await Promise.all([main.close(), admin?.close()]);
    },
  };
}

async function listen(
  options: HttpServerOptions,
  port: number,
  bind: string | undefined,
  role: Role,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    handle(options, req, res, role).catch((err: unknown) =>
      send(res, 500, { error: "internal", message: describeError(err) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, bind ?? "0.0.0.0", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  options: HttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  role: Role = "all",
): Promise<void> {
  // The request target is taken as a path, never parsed as a URL: "//host/..." is not a host.
  const pathname = (req.url ?? "/").split("?")[0] ?? "/";
  const url = { pathname };
  if (role !== "admin" && req.method === "GET") {
    if (url.pathname === "/healthz") return send(res, 200, { status: "ok" });
    if (url.pathname === "/readyz") return ready(options.readyChecks, res);
    if (url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": options.registry.contentType });
      res.end(await options.registry.metrics());
      return;
    }
  }
  if (role === "probes")
    return send(res, 404, {
      error: "not_found",
      message: `no route for ${req.method ?? "?"} ${url.pathname} on this port`,
    });
  if (url.pathname === "/v1/leaks") {
    if (req.method !== "POST") return send(res, 405, { error: "method_not_allowed", message: "use POST" });
    const reply = await leakRoute(
      options.leaks,
      options.admin,
      req,
      peer(req),
      options.adminTimeoutMs ?? ADMIN_TIMEOUT_MS,
    );
    return send(res, reply.status, reply.body, reply.headers);
  }
  const rotate = /^\/v1\/credentials\/([^/]+)\/rotate$/.exec(url.pathname);
  if (rotate) {
    if (req.method !== "POST") return send(res, 405, { error: "method_not_allowed", message: "use POST" });
    let credentialId: string;
    try {
      credentialId = decodeURIComponent(rotate[1] ?? "");
    } catch {
      return send(res, 400, {
        error: "bad_request",
        message: "the credential id in the path is not valid percent-encoding",
      });
    }
    return adminRotate(options, credentialId, req, res);
  }
  send(res, 404, { error: "not_found", message: `no route for ${req.method ?? "?"} ${url.pathname}` });
}

async function ready(checks: ReadyCheck[], res: ServerResponse): Promise<void> {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        await withTimeout(c.check(), 3_000, new ReadyTimeout(`${c.name} did not answer within 3s`));
        return { name: c.name, ok: true };
      } catch (err) {
        // What kind of failure, never its text: a store error names secrets, an AccessDenied the role.
        return { name: c.name, ok: false, error: readyFailure(err) };
      }
    }),
  );
  const ok = results.every((r) => r.ok);
  send(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", checks: results });
}

/** A failed ready check as a kind: its error's name or code (AccessDeniedException, ECONNREFUSED), or a timeout. */
export function readyFailure(err: unknown): string {
  if (err instanceof ReadyTimeout) return "did not answer within 3s";
  const e = err as { name?: unknown; code?: unknown };
  if (typeof e.code === "string" && /^[A-Z][A-Z0-9_]+$/.test(e.code)) return e.code;
  if (typeof e.name === "string" && e.name !== "Error" && /^[A-Za-z]+$/.test(e.name)) return e.name;
  return "failed";
}

class ReadyTimeout extends Error {}

async function adminRotate(
  options: HttpServerOptions,
  credentialId: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const tokens = [
    ...(options.adminTokens ?? []),
    ...(options.adminToken ? [singleAdminToken(options.adminToken)] : []),
  ];
  if (tokens.length === 0 || !options.admin)
    return send(res, 503, {
      error: "admin_disabled",
      message: "no admin token is configured (KEY_ROTATOR_ADMIN_TOKENS_FILE or KEY_ROTATOR_ADMIN_TOKEN_FILE)",
    });
  const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const name = presented ? tokenName(presented, tokens) : undefined;
  if (!name) {
    return send(
      res,
      401,
      { error: "unauthorized", message: "missing or wrong bearer token" },
      { "www-authenticate": "Bearer" },
    );
  }
  if (!options.admin.has(credentialId))
    return send(res, 404, { error: "not_found", message: `no credential "${credentialId}" in the inventory` });
  const body = await readJsonBody(req, res, MAX_BODY, rotateBody, {
    empty: {},
    hint: 'send {"emergency": true, "reason": "..."}',
  });
  if (!body) return;
  const { emergency, reason, force } = body;
  const timeoutMs = options.adminTimeoutMs ?? ADMIN_TIMEOUT_MS;
  const actor = { name, via: "http" as const, ...(peer(req) ? { address: peer(req) } : {}) };
  auditLog().emit({ event: "rotation.requested", credentialId, actor, reason, emergency, force });
  const reply = await answerRotate(
    options.admin,
    { credentialId, emergency, reason, actor: actorString(actor), ...(force ? { force: true } : {}) },
    timeoutMs,
  );
  send(res, reply.status, reply.body, reply.headers);
}

/** The peer's address as the socket saw it (a proxy's, behind one; X-Forwarded-For is anyone's to write). */
function peer(req: IncomingMessage): string | undefined {
  const a = req.socket.remoteAddress;
  return a?.startsWith("::ffff:") ? a.slice(7) : a;
}

/** Constant-time comparison of two tokens of any length (hash first so lengths do not leak). */
export function sameToken(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}
