/**
 * The worker's local socket (`KEY_ROTATOR_SOCKET`): HTTP over a Unix socket, for the CLI run
 * beside the worker (`kubectl exec … rotate <id> --emergency`). It serves one route, the admin
 * API's `POST /v1/credentials/{id}/rotate`, for emergencies only, and decides them where the admin
 * API does (rotate-answer.ts: the emergency lane, its cooldown, cap and --force). The CLI then
 * needs no Redis client, queue or inventory parser of its own, and its emergency starts in the
 * worker's lane at once.
 *
 * Who may ask is decided by the socket file's mode, 0600: only the worker's own user can connect
 * (as with docker's socket), so the request names its actor itself (`cli:<name>@<host>`, the
 * CLI's own). The request also names the inventory the CLI was given; one naming another file than
 * this worker's is refused (409), and the CLI then goes through the queue as without a worker.
 * Audited as the CLI's queued path audits: `rotation.requested` with the CLI's actor and reason
 * (and `socket: true`), the gate's refusals and forced emergencies.
 *
 * The file is bound in a private folder, set to 0600 and only then renamed to the path, so it is
 * never reachable with a wider mode. A socket left at the path by a dead worker is replaced;
 * anything else there (a file, a folder, a live worker's socket) stops the start, naming the path.
 * A clean stop removes the file (if it is still this worker's).
 *
 * Must not: accept an actor of another shape than the CLI's, act for another inventory, read an
 * unbounded body, or remove a path that is not its own socket.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { chmodSync, lstatSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError, describeError } from "../core/errors.js";
import type { AuditRecord } from "../queue/rotation-history-store.js";
import { type AdminRotate, answerRotate, readJsonBody, send, withTimeout } from "./rotate-answer.js";

export interface LocalSocketOptions {
  /** Absolute path of the socket file. */
  path: string;
  admin: AdminRotate;
  /** The inventory file this worker loaded: a request naming another is refused. */
  inventory: string;
  /** The CLI's own audit entry for a request it started (RotationHistory.audit). */
  audit(entry: AuditRecord): Promise<void>;
  /** The answer comes within this, whatever Redis does (503 past it). */
  timeoutMs: number;
  warn(message: string): void;
}

export interface LocalSocket {
  path: string;
  close(): Promise<void>;
}

/** Linux's limit for a socket's path (sun_path, 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;
const MAX_BODY = 16 * 1024;

/** `cli:<name>@<host>`, as actor.ts makes it: a socket request speaks for a CLI, never for the admin API. */
const CLI_ACTOR = /^cli:[A-Za-z0-9][A-Za-z0-9._+-]{0,63}@[A-Za-z0-9.-]{1,253}$/;

const socketBody = z
  .strictObject({
    emergency: z.literal(true, "the worker's socket takes emergencies only"),
    reason: z.string().trim().min(1).max(500).optional(),
    force: z.boolean().default(false),
    actor: z.string().regex(CLI_ACTOR, "a CLI actor, cli:<name>@<host>"),
    inventory: z.string().min(1).max(4096).refine(isAbsolute, "an absolute path"),
  })
  .refine((b) => !b.force || b.reason !== undefined, {
    message: "force needs a reason: forcing past the cooldown goes to the audit trail",
    path: ["force"],
  });

/**
 * Checks the path before the worker starts anything: absolute, short enough, and free or held by a
 * dead worker's socket. Throws ConfigError naming the path otherwise.
 */
export async function checkSocketPath(path: string): Promise<void> {
  const problem = (what: string) => new ConfigError([`KEY_ROTATOR_SOCKET ${path}: ${what}`]);
  if (!isAbsolute(path)) throw problem("must be an absolute path");
  // The file is bound first in a folder of its own beside the path (listenOnSocket): 10 bytes longer.
  if (Buffer.byteLength(`${bindFolderPrefix(path)}XXXXXX/s`) > MAX_SOCKET_PATH)
    throw problem(`too long for a Unix socket (at most ${MAX_SOCKET_PATH - 10} bytes)`);
  let kind: string;
  try {
    const st = lstatSync(path);
    kind = st.isSocket() ? "socket" : st.isDirectory() ? "folder" : st.isSymbolicLink() ? "symbolic link" : "file";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw problem(`cannot be checked (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`);
  }
  if (kind !== "socket") throw problem(`a ${kind} is there, not a socket; remove it or choose another path`);
  const live = await answers(path);
  if (live) throw problem(`another process listens on it (${live}); stop it or choose another path`);
}

/** Listens on the path (see the header for how); the path was checked by checkSocketPath. */
export async function listenOnSocket(o: LocalSocketOptions): Promise<LocalSocket> {
  const own = resolveInventory(o.inventory);
  const server = createServer((req, res) => {
    handle(o, own, req, res).catch((err: unknown) =>
      send(res, 500, { error: "internal", message: describeError(err) }),
    );
  });
  // Slow or idle clients are cut: the CLI sends one small request and waits for one small answer.
  server.requestTimeout = o.timeoutMs + 2_000;
  server.headersTimeout = 2_000;
  server.keepAliveTimeout = 1_000;
  let folder: string | undefined;
  let inode: number;
  try {
    folder = mkdtempSync(bindFolderPrefix(o.path));
    const bound = join(folder, "s");
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(bound, () => res());
    });
    chmodSync(bound, 0o600);
    await checkSocketPath(o.path);
    renameSync(bound, o.path);
    inode = statSync(o.path).ino;
  } catch (err) {
    server.close();
    throw err instanceof ConfigError
      ? err
      : new ConfigError([
          `KEY_ROTATOR_SOCKET ${o.path}: cannot listen there (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`,
        ]);
  } finally {
    if (folder) rmSync(folder, { recursive: true, force: true });
  }
  return {
    path: o.path,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
        try {
          // Only our own: a worker started since may have put its socket there.
          if (statSync(o.path).ino === inode) unlinkSync(o.path);
        } catch {
          // gone already
        }
      }),
  };
}

async function handle(o: LocalSocketOptions, own: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = (req.url ?? "/").split("?")[0] ?? "/";
  const route = /^\/v1\/credentials\/([^/]+)\/rotate$/.exec(pathname);
  if (!route) return send(res, 404, { error: "not_found", message: `no route for ${req.method ?? "?"} ${pathname}` });
  if (req.method !== "POST") return send(res, 405, { error: "method_not_allowed", message: "use POST" });
  let credentialId: string;
  try {
    credentialId = decodeURIComponent(route[1] ?? "");
  } catch {
    return send(res, 400, {
      error: "bad_request",
      message: "the credential id in the path is not valid percent-encoding",
    });
  }
  const body = await readJsonBody(req, res, MAX_BODY, socketBody);
  if (!body) return;
  const { reason, force, actor, inventory } = body;
  if (resolveInventory(inventory) !== own)
    return send(res, 409, {
      error: "other_inventory",
      message: `this worker runs the inventory ${o.inventory}, not ${inventory}`,
    });
  if (!o.admin.has(credentialId))
    return send(res, 404, {
      error: "unknown_credential",
      message: `no credential "${credentialId}" in ${o.inventory}`,
    });
  const request = { credentialId, emergency: true, actor, ...(reason ? { reason } : {}), ...(force ? { force } : {}) };
  const reply = await answerRotate(o.admin, request, o.timeoutMs);
  if (reply.started) {
    // The request itself is audited, as the CLI's queued path audits it: joined, too.
    await withTimeout(
      o.audit({
        at: Date.now(),
        credentialId,
        event: "rotation.requested",
        actor,
        ...(reason ? { reason } : {}),
        emergency: true,
        rotationId: reply.started.rotationId,
        joined: reply.started.joined,
        socket: true,
      }),
      1_000,
      new Error("Redis did not take the audit entry within 1s"),
    ).catch((err: unknown) => o.warn(`local socket: the audit entry of ${credentialId}: ${describeError(err)}`));
  }
  send(res, reply.status, reply.body, reply.headers);
}

/** `<folder>/.<name>-`: mkdtemp's prefix for the private folder the socket is bound in, beside the path. */
function bindFolderPrefix(path: string): string {
  return join(dirname(path), `.${basename(path)}-`);
}

/** One file by either name: the resolved path, through its links where it exists. */
function resolveInventory(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Why the path answers a connection (then a live process holds it), or undefined for a dead socket. */
function answers(path: string): Promise<string | undefined> {
  return new Promise((done) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      done("it accepts connections but does not answer within 1s");
    }, 1_000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      done("it accepts connections");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? undefined : (err.code ?? err.message));
    });
  });
}
