/**
 * What the emulator and both simulators share as HTTP servers: listening on loopback, reading a
 * request body (at most MAX_BODY_BYTES), and closing without waiting on clients (held, timed-out
 * or keep-alive sockets are destroyed, so a test never hangs on close).
 */
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** The largest request body a local server reads: 1 MiB. Secrets Manager caps a secret at 64 KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** readBody's rejection for a body over the cap; each server answers it 413 in its own error format. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`The request body exceeds ${limit} bytes.`);
  }
}

/**
 * The request's body as UTF-8. Rejects with BodyTooLargeError as soon as a declared
 * Content-Length or the bytes received pass `limit`; the rest is then read and discarded, so the
 * server can still answer on the connection.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => {
      req.removeAllListeners("data");
      req.resume();
      reject(new BodyTooLargeError(limit));
    };
    if (Number(req.headers["content-length"] ?? 0) > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) tooLarge();
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** serveLocally's rejection when the port is taken or cannot be bound; the message names host:port. */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export async function serveLocally(
  server: Server,
  options: { port?: number; host?: string },
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const host = options.host ?? "127.0.0.1";
  const wanted = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host}:${wanted}`;
      reject(
        new ListenError(
          err.code === "EADDRINUSE"
            ? `port ${where} is already in use`
            : `cannot listen on ${where}: ${err.code ?? err.message}`,
          err.code,
        ),
      );
    };
    server.once("error", onError);
    server.listen(wanted, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
