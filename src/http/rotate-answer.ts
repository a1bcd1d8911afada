/**
 * How the worker answers a request to rotate, whoever asks: the admin API (a bearer token) and the
 * worker's local socket (the CLI beside it, trusted by the socket's file mode) both hand the
 * request to `AdminRotate.rotate` (the emergency lane: its gate of cooldown, cap and --force) and
 * answer here, so there is one path for deciding an emergency and one mapping of its outcomes to
 * HTTP: 202 started or joined, 429 with `Retry-After` past an emergency's bounds, 503 with
 * `Retry-After` while Redis does not answer (or does not within `timeoutMs`).
 *
 * Must not: echo a request body back, or leave a request unanswered.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ZodType } from "zod";
import { EmergencyRefusedError } from "../queue/emergency-limits.js";
import { RedisUnavailableError } from "../queue/redis.js";

export interface AdminRotate {
  /** Known credential ids; others answer 404. */
  has(credentialId: string): boolean;
  /**
   * Starts (or joins) the rotation. Throws EmergencyRefusedError past an emergency's bounds (429)
   * and RedisUnavailableError while Redis is down (503).
   */
  rotate(request: RotateAsked): Promise<Started>;
}

// A type, not an interface: callers keep requests as plain records.
export type RotateAsked = {
  credentialId: string;
  emergency: boolean;
  /** The admin API requires one; the CLI's is optional, as on its queued path. */
  reason?: string;
  /** `via:name@address` (audit-log.ts actorString). */
  actor: string;
  force?: boolean;
};

export interface Started {
  jobId: string;
  rotationId: string;
  joined: boolean;
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** What a 503 asks the caller to wait before trying again: about one reconnect of the worker's. */
const REDIS_RETRY_AFTER_S = 5;

/** Starts the rotation within `timeoutMs` and says how it went; any other error is thrown (500). */
export async function answerRotate(
  admin: AdminRotate,
  request: RotateAsked,
  timeoutMs: number,
): Promise<Reply & { started?: Started }> {
  try {
    const started = await withTimeout(
      admin.rotate(request),
      timeoutMs,
      new RedisUnavailableError(
        `Redis did not answer within ${timeoutMs / 1000}s: the rotation may or may not have been queued; see key-rotator status before asking again`,
      ),
    );
    return { status: 202, body: { credentialId: request.credentialId, ...started }, started };
  } catch (err) {
    if (err instanceof EmergencyRefusedError)
      return {
        status: 429,
        body: {
          error: "emergency_refused",
          refusedFor: err.refusedFor,
          retryAfterSeconds: err.retryAfterSeconds,
          message: err.message,
        },
        headers: { "retry-after": String(err.retryAfterSeconds) },
      };
    if (err instanceof RedisUnavailableError)
      return {
        status: 503,
        body: { error: "redis_unavailable", message: err.message },
        headers: { "retry-after": String(REDIS_RETRY_AFTER_S) },
      };
    throw err;
  }
}

/**
 * The body read (at most `max` bytes), parsed as JSON and checked by `schema`; anything wrong is
 * answered here (413 past `max`, 400 naming what is wrong) and gives undefined. `empty`, when
 * given, stands for an empty body; `hint` follows "the body is not JSON".
 */
export async function readJsonBody<T>(
  req: IncomingMessage,
  res: ServerResponse,
  max: number,
  schema: ZodType<T>,
  o: { empty?: unknown; hint?: string } = {},
): Promise<T | undefined> {
  const raw = (await readBytes(req, max))?.toString("utf8");
  if (raw === undefined)
    return void send(
      res,
      413,
      { error: "too_large", message: `the body is larger than ${max} bytes` },
      { connection: "close" },
    );
  let json: unknown;
  try {
    json = raw.length === 0 && "empty" in o ? o.empty : JSON.parse(raw);
  } catch {
    return void send(res, 400, { error: "bad_request", message: `the body is not JSON${o.hint ? `; ${o.hint}` : ""}` });
  }
  const body = schema.safeParse(json);
  if (body.success) return body.data;
  return void send(res, 400, {
    error: "bad_request",
    message: body.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
  });
}

/** The body's bytes whole, or undefined once they pass `max` (the rest is read and thrown away). */
export function readBytes(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // Answer 413 (the caller sees a clear error) and throw the rest of the upload away.
        resolve(undefined);
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function withTimeout<T>(p: Promise<T>, ms: number, error: Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // A late rejection of the abandoned promise must not become an unhandled one.
  p.catch(() => undefined);
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error), ms)))]).finally(
    () => clearTimeout(timer),
  );
}
