/**
 * `rotate <credential> --emergency` asked of the worker over its local socket, when
 * `KEY_ROTATOR_SOCKET` names one (the image and the chart set it: `kubectl exec … rotate`). The
 * worker decides it as its admin API does (the emergency lane, its cooldown, cap and --force) and
 * starts it at once, so this process reads no inventory and opens no Redis: node:http and nothing
 * heavy (issue 21: the CLI's emergency spent 441 ms of its 460 loading the queue's path).
 *
 * Only an answer this process can trust ends the command here: started (or joined), refused by
 * the emergency's bounds, or an unknown credential, each said as the queued path says it. Anything
 * else (no socket, nobody listening, no answer within ASK_TIMEOUT_MS, a worker of another
 * inventory, an answer malformed or past MAX_ANSWER bytes, Redis unavailable to the worker) returns
 * undefined, and the caller takes the queued path as if there were no worker: a debug line at most.
 * Where the ask may have reached a worker that acted on it (Redis slow at the worker, no answer in
 * time, a 202 it cannot read) it returns "unconfirmed" instead, so that the queued path, which
 * may then find the credential in its cooldown, can say that this emergency may be the one running.
 *
 * Must not: import the queue, Redis, the inventory's parser or schemas, or the AWS SDK; wait
 * unbounded; or print what the worker answered without escaping it (Out does).
 */
import { request } from "node:http";
import { resolve } from "node:path";
import { EXIT_OK, EXIT_USAGE, type Out, emergencyRefused } from "./output.js";

/** The worker answers within its admin timeout (5 s) whatever Redis does; a second more for the rest. */
export const ASK_TIMEOUT_MS = 6_000;
const MAX_ANSWER = 16 * 1024;
/** Connecting failed: the ask reached no worker. */
const NOBODY_THERE = new Set(["ENOENT", "ECONNREFUSED", "ENOTSOCK", "EACCES", "EPERM", "ENOTDIR", "ENAMETOOLONG"]);

export interface SocketAsk {
  config: string;
  reason?: string;
  force?: boolean;
  json?: boolean;
}

type Answer =
  | { kind: "started"; jobId: string; rotationId: string; joined: boolean }
  | { kind: "refused"; refusedFor: string; retryAfterSeconds: number; message: string }
  | { kind: "unknown-credential" }
  /** `maybeStarted`: the ask may have reached a worker that started it (it did not say it did not). */
  | { kind: "not-here"; why: string; maybeStarted: boolean };

/**
 * The command's exit code when the worker answered it; undefined to go through the queue instead,
 * or "unconfirmed" when the worker may have started it all the same.
 */
export async function emergencyViaWorker(
  socketPath: string,
  credentialId: string,
  o: SocketAsk,
  actor: string,
  out: Out,
): Promise<number | "unconfirmed" | undefined> {
  const answer = await ask(socketPath, credentialId, {
    emergency: true,
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.force ? { force: true } : {}),
    actor,
    inventory: resolve(o.config),
  });
  switch (answer.kind) {
    case "started":
      out.stdout(
        o.json
          ? JSON.stringify({
              credential: credentialId,
              jobId: answer.jobId,
              rotationId: answer.rotationId,
              joined: answer.joined,
              emergency: true,
              actor,
              socket: true,
            })
          : `${answer.joined ? "joined the rotation in flight" : "rotation queued"}: ${answer.rotationId} (job ${answer.jobId}), through the worker's socket`,
      );
      return EXIT_OK;
    case "refused":
      return emergencyRefused(out, o.json, answer);
    case "unknown-credential":
      out.stderr(`key-rotator rotate: no credential "${credentialId}" in ${o.config}`);
      return EXIT_USAGE;
    case "not-here":
      if (process.env.LOG_LEVEL === "debug" || process.env.LOG_LEVEL === "trace")
        out.stderr(
          `key-rotator rotate: not through the worker's socket ${socketPath} (${answer.why}); through the queue`,
        );
      return answer.maybeStarted ? "unconfirmed" : undefined;
  }
}

function ask(socketPath: string, credentialId: string, body: Record<string, unknown>): Promise<Answer> {
  const text = JSON.stringify(body);
  return new Promise((done) => {
    let settled = false;
    const settle = (a: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      done(a);
    };
    const req = request(
      {
        socketPath,
        method: "POST",
        path: `/v1/credentials/${encodeURIComponent(credentialId)}/rotate`,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text), connection: "close" },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER)
            settle({ kind: "not-here", why: `an answer past ${MAX_ANSWER} bytes`, maybeStarted: true });
          else chunks.push(c);
        });
        res.on("end", () => settle(read(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), credentialId)));
        res.on("error", (err) =>
          settle({ kind: "not-here", why: (err as NodeJS.ErrnoException).code ?? err.message, maybeStarted: true }),
        );
      },
    );
    const timer = setTimeout(
      () => settle({ kind: "not-here", why: `no answer within ${ASK_TIMEOUT_MS / 1000}s`, maybeStarted: true }),
      ASK_TIMEOUT_MS,
    );
    // Nobody there (no file, nobody listening, not a socket, no access) is certain; a connection
    // lost once made is not: the worker may have read the ask.
    req.on("error", (err: NodeJS.ErrnoException) =>
      settle({ kind: "not-here", why: err.code ?? err.message, maybeStarted: !NOBODY_THERE.has(err.code ?? "") }),
    );
    req.end(text);
  });
}

/** The worker's answer, if it is one of the three this command can end with and well formed. */
function read(status: number, text: string, credentialId: string): Answer {
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    body = parsed as Record<string, unknown>;
  } catch {
    return {
      kind: "not-here",
      why: `a ${status} answer that is not a JSON object`,
      maybeStarted: mayHaveStarted(status),
    };
  }
  const id = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 200;
  if (status === 202 && body.credentialId === credentialId && id(body.jobId) && id(body.rotationId))
    if (typeof body.joined === "boolean")
      return {
        kind: "started",
        jobId: body.jobId as string,
        rotationId: body.rotationId as string,
        joined: body.joined,
      };
  const seconds = body.retryAfterSeconds;
  if (
    status === 429 &&
    body.error === "emergency_refused" &&
    (body.refusedFor === "cooldown" || body.refusedFor === "global-cap") &&
    typeof seconds === "number" &&
    Number.isInteger(seconds) &&
    seconds > 0 &&
    typeof body.message === "string" &&
    body.message.length > 0 &&
    body.message.length <= 1_000
  )
    return { kind: "refused", refusedFor: body.refusedFor, retryAfterSeconds: seconds, message: body.message };
  if (status === 404 && body.error === "unknown_credential") return { kind: "unknown-credential" };
  const said = typeof body.error === "string" ? body.error.slice(0, 40) : "no error code";
  return { kind: "not-here", why: `answered ${status} (${said})`, maybeStarted: mayHaveStarted(status) };
}

/** A 202 it cannot read, or a 5xx (Redis slow at the worker: it may have queued it after all); not a 4xx, which refuses the ask. */
function mayHaveStarted(status: number): boolean {
  return status === 202 || status >= 500;
}
