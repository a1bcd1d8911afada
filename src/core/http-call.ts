/**
 * One outbound HTTP call over node:http(s) with keep-alive: the vendors' adapters and the alert
 * sinks use it instead of fetch. fetch loads undici (its parser is WebAssembly), which costs an
 * idle worker some 20 MiB of memory and a busy one about twice the CPU per call of node:http,
 * whose parser the AWS SDK has loaded anyway.
 *
 * Semantics the callers rely on: a redirect is an answer like any other (never followed: a key in
 * the headers would travel with it); the deadline covers the whole call, body included; a call
 * that gets no complete answer rejects with HttpCallError saying which (timeout or connection),
 * without the request's headers or body in it.
 */
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface HttpReply {
  status: number;
  /** Response headers by lower-case name; a repeated header is joined with ", ". */
  headers: Record<string, string>;
  text: string;
}

export interface HttpCall {
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** No complete answer: "timeout" when the deadline passed, "connection" for anything else. */
export class HttpCallError extends Error {
  readonly kind: "timeout" | "connection";
  constructor(kind: "timeout" | "connection", message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "HttpCallError";
    this.kind = kind;
  }
}

/** Larger answers are refused: nothing a vendor or an alert sink says to us comes near it. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * Idle connections are closed after 4 s (undici's default) or a second before the server's own
 * `Keep-Alive: timeout=` hint, whichever is sooner, so a call rarely meets a connection the
 * server has just closed.
 */
const agents = {
  http: new HttpAgent({ keepAlive: true, timeout: 4_000 }),
  https: new HttpsAgent({ keepAlive: true, timeout: 4_000 }),
};

export function httpCall(url: string, call: HttpCall): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (kind: "timeout" | "connection", message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new HttpCallError(kind, message, cause));
    };
    const target = new URL(url);
    const headers =
      call.body === undefined
        ? call.headers
        : { ...call.headers, "content-length": String(Buffer.byteLength(call.body)) };
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const agent = target.protocol === "https:" ? agents.https : agents.http;
    let req: ReturnType<typeof httpRequest>;
    try {
      req = send(target, { method: call.method, headers, agent });
    } catch (err) {
      // A header value node refuses (a control character, say): nothing was sent.
      settled = true;
      reject(
        new HttpCallError(
          "connection",
          `the request could not be sent (${err instanceof Error ? err.message : "invalid request"})`,
          err,
        ),
      );
      return;
    }
    const timer = setTimeout(() => fail("timeout", `no answer within ${call.timeoutMs} ms`), call.timeoutMs);
    req.on("error", (err) => fail("connection", "the connection failed", err));
    req.on("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) fail("connection", `the answer exceeds ${MAX_ANSWER_BYTES} bytes`);
        else chunks.push(chunk);
      });
      res.on("error", (err) => fail("connection", "the connection closed before the answer was complete", err));
      res.on("close", () => fail("connection", "the connection closed before the answer was complete"));
      res.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: joinHeaders(res),
          text: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    req.end(call.body);
  });
}

function joinHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
