import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpCallError, MAX_ANSWER_BYTES, httpCall } from "../../src/core/http-call.js";

let server: Server | undefined;
let connections = 0;

async function serve(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  connections = 0;
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => handle(req, res, body));
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e as HttpCallError,
  );

describe("httpCall", () => {
  it("sends method, headers and body, and answers status, lower-case headers and text", async () => {
    const url = await serve((req, res, body) => {
      res.setHeader(
        "X-Seen",
        `${req.method} ${req.url} ${req.headers["x-api-key"]} ${req.headers["content-length"]} ${body}`,
      );
      res.setHeader("Set-Cookie", ["a=1", "b=2"]);
      res.writeHead(201).end('{"ok":true}');
    });
    const reply = await httpCall(`${url}/path?q=1`, {
      method: "POST",
      headers: { "x-api-key": "k1" },
      body: '{"é":1}',
      timeoutMs: 2_000,
    });
    expect(reply.status).toBe(201);
    expect(reply.text).toBe('{"ok":true}');
    expect(reply.headers["x-seen"]).toBe('POST /path?q=1 k1 8 {"é":1}');
    expect(reply.headers["set-cookie"]).toBe("a=1, b=2");
  });

  it("keeps the connection for the next call", async () => {
    const url = await serve((_req, res) => res.end("x"));
    for (let i = 0; i < 3; i++) await httpCall(url, { method: "GET", headers: {}, timeoutMs: 2_000 });
    expect(connections).toBe(1);
  });

  it("answers a redirect instead of following it", async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      res.writeHead(302, { location: "/elsewhere" }).end();
    });
    const reply = await httpCall(url, { method: "GET", headers: { authorization: "secret" }, timeoutMs: 2_000 });
    expect(reply.status).toBe(302);
    expect(calls).toBe(1);
  });

  it("a deadline covers the body: headers then silence is a timeout", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "10" });
      res.write("12345");
    });
    const err = await failure(httpCall(url, { method: "GET", headers: {}, timeoutMs: 150 }));
    expect(err).toBeInstanceOf(HttpCallError);
    expect(err.kind).toBe("timeout");
    expect(err.message).toBe("no answer within 150 ms");
  });

  it("a connection dropped mid-answer is a connection failure, not a short answer", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "10" });
      res.write("12345", () => res.socket?.destroy());
    });
    const err = await failure(httpCall(url, { method: "GET", headers: {}, timeoutMs: 2_000 }));
    expect(err.kind).toBe("connection");
    expect(err.message).toMatch(/closed before the answer was complete/);
  });

  it("a connection reset before any answer is a connection failure", async () => {
    const url = await serve((req) => req.socket.destroy());
    const err = await failure(httpCall(url, { method: "GET", headers: {}, timeoutMs: 2_000 }));
    expect(err.kind).toBe("connection");
  });

  it("refuses an answer larger than the cap", async () => {
    const url = await serve((_req, res) => res.end(Buffer.alloc(MAX_ANSWER_BYTES + 1, 97)));
    const err = await failure(httpCall(url, { method: "GET", headers: {}, timeoutMs: 5_000 }));
    expect(err.kind).toBe("connection");
    expect(err.message).toMatch(/exceeds/);
  });

  it("a header value that cannot be sent fails before sending, without quoting the value", async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      res.end();
    });
    const err = await failure(
      httpCall(url, { method: "GET", headers: { "x-api-key": "sk_live_secret\nInjected: 1" }, timeoutMs: 2_000 }),
    );
    expect(err.kind).toBe("connection");
    expect(err.message).not.toContain("sk_live_secret");
    expect(calls).toBe(0);
  });
});
