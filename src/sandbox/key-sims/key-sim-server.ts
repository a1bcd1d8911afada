/**
 * What the Twilio, SendGrid and Datadog simulators share as servers: read the body (bounded),
 * answer `/__sim/*` controls, count each request by route on arrival, apply the fault knobs, then
 * hand the request to the vendor's own handler. Faults that need the vendor's dialect (error,
 * rate-limit) are answered by the vendor's `fault` callback; `malformed` is a 200 that is not JSON.
 * Must not: put a secret in a control answer (only `POST /__sim/keys`, which plays the dashboard,
 * returns the new key once; `DELETE /__sim/keys/{id}` plays deleting one there).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type FaultRule, Faults, parseFaultRule } from "../faults.js";
import { BodyTooLargeError, readBody, serveLocally } from "../local-server.js";
import type { KeyLedger } from "./key-ledger.js";

export interface SimRequest {
  method: string;
  path: string;
  url: URL;
  body: string;
  req: IncomingMessage;
}

export interface KeySimHandlers {
  /** The route a request counts under, ids replaced by a placeholder ("DELETE /v3/api_keys/{id}"). */
  route(method: string, path: string): string;
  handle(r: SimRequest, res: ServerResponse): Promise<void> | void;
  /** Answers an armed `error` or `rate-limit` fault in the vendor's shape. */
  fault(rule: FaultRule, res: ServerResponse): void;
  /** The vendor's answer to a body over MAX_BODY_BYTES (413) and to an unexpected failure (500). */
  failure(status: 413 | 500, res: ServerResponse): void;
}

export interface KeySimServer {
  url: string;
  faults: Faults;
  /** Every request received, by route, counted on arrival (before faults and auth decide its answer). */
  requestsByRoute: Record<string, number>;
  close(): Promise<void>;
}

export async function serveKeySim(
  options: { port?: number; host?: string },
  ledger: KeyLedger<unknown>,
  issue: (name: string) => { id: string; key: string },
  handlers: KeySimHandlers,
): Promise<KeySimServer> {
  const faults = new Faults();
  const requestsByRoute: Record<string, number> = {};

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://sim");
    const method = req.method ?? "GET";
    const path = url.pathname;
    if (path.startsWith("/__sim/")) return control(method, path, body, res);
    const route = handlers.route(method, path);
    requestsByRoute[route] = (requestsByRoute[route] ?? 0) + 1;
    const fault = await faults.apply(`${method} ${path}`, req, res);
    if (fault === "handled") return;
    if (fault?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data": [truncated');
      return;
    }
    if (fault) return handlers.fault(fault, res);
    await handlers.handle({ method, path, url, body, req }, res);
  }

  function control(method: string, path: string, body: string, res: ServerResponse): void {
    try {
      if (method === "GET" && path === "/__sim/stats")
        return send(res, 200, { requestsByRoute, activeKeys: ledger.active().length, faultHits: faults.hits });
      if (method === "POST" && path === "/__sim/faults")
        return send(res, 200, { rules: faults.add(parseFaultRule(JSON.parse(body))).rules });
      if (method === "DELETE" && path === "/__sim/faults") return send(res, 200, (faults.reset(), { rules: [] }));
      if (method === "POST" && path === "/__sim/release") return send(res, 200, (faults.release(), { released: true }));
      if (method === "POST" && path === "/__sim/keys") {
        const name = parseJson(body)?.name;
        const made = issue(typeof name === "string" ? name : "seeded in the dashboard");
        return send(res, 201, { id: made.id, key: made.key });
      }
      // Plays a person deleting a key in the vendor's dashboard (what an operator-flow rotation waits for).
      const revoke = /^\/__sim\/keys\/([^/]+)$/.exec(path);
      if (method === "DELETE" && revoke)
        return ledger.revoke(decodeSegment(revoke[1] ?? "") ?? "")
          ? send(res, 200, { revoked: true })
          : send(res, 404, { message: "no active key with that id" });
      if (method === "GET" && path === "/__sim/keys")
        return send(res, 200, {
          data: ledger.history().map((k) => ({
            id: k.id,
            name: k.name,
            active: k.active,
            created_at: new Date(k.createdAt).toISOString(),
            created_at_ms: k.createdAt,
            revoked_at: k.revokedAt === undefined ? null : new Date(k.revokedAt).toISOString(),
            revoked_at_ms: k.revokedAt ?? null,
          })),
        });
      send(res, 404, { message: `no control route ${method} ${path}` });
    } catch (err) {
      send(res, 400, { message: err instanceof Error ? err.message : "bad control request" });
    }
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => handlers.failure(err instanceof BodyTooLargeError ? 413 : 500, res));
  });
  const local = await serveLocally(server, options);
  return {
    url: local.url,
    faults,
    requestsByRoute,
    close: async () => {
      faults.reset();
      await local.close();
    },
  };
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, headers);
  res.end();
}

/** The body as a JSON object, or undefined when it is not one. */
export function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A path segment decoded, or undefined when it is not valid percent-encoding. */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
