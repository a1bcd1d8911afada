import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { sameToken, startHttpServer } from "../../src/http/http-server.js";

const TOKEN = "admin-token-0123456789abcdef";
const calls: unknown[] = [];
let server: Awaited<ReturnType<typeof startHttpServer>>;
let readyFails = false;

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    registry: createMetrics({ defaultMetrics: false }).registry,
    adminToken: TOKEN,
    readyChecks: [
      {
        name: "redis",
        check: async () => {
          if (readyFails) throw new Error("connection refused");
        },
      },
    ],
    admin: {
      has: (id) => id === "cc-prod",
      rotate: async (r) => (calls.push(r), { jobId: "rotation-1", rotationId: "r-1", joined: false }),
    },
  });
});
afterAll(async () => server.close());

const post = (path: string, body: string, token: string | null = TOKEN) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token !== null ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });

describe("admin HTTP", () => {
  it("starts an emergency rotation with the right token and a reason: 202", async () => {
    const res = await post(
      "/v1/credentials/cc-prod/rotate",
      JSON.stringify({ emergency: true, reason: "leaked in a log" }),
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      credentialId: "cc-prod",
      jobId: "rotation-1",
      rotationId: "r-1",
      joined: false,
    });
    expect(calls.at(-1)).toEqual({
      credentialId: "cc-prod",
      emergency: true,
      reason: "leaked in a log",
      actor: "http:admin@127.0.0.1",
    });
  });

  it.each([
    ["no token", null, 401, "missing or wrong bearer token"],
    ["a wrong token", "admin-token-0123456789abcdeX", 401, "missing or wrong bearer token"],
  ])("%s: 401 without echoing anything", async (_what, token, status, message) => {
    const n = calls.length;
    const res = await post("/v1/credentials/cc-prod/rotate", JSON.stringify({ reason: "x" }), token);
    expect(res.status).toBe(status);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: "unauthorized", message });
    expect(text).not.toContain(TOKEN.slice(0, 10));
    expect(calls.length).toBe(n);
  });

  it.each([
    [
      "an unknown credential",
      "/v1/credentials/nope/rotate",
      JSON.stringify({ reason: "x" }),
      404,
      /no credential "nope"/,
    ],
    ["a body that is not JSON", "/v1/credentials/cc-prod/rotate", "{emergency", 400, /not JSON/],
    ["no reason", "/v1/credentials/cc-prod/rotate", JSON.stringify({ emergency: true }), 400, /reason: /],
    [
      "a wrong type",
      "/v1/credentials/cc-prod/rotate",
      JSON.stringify({ emergency: "yes", reason: "x" }),
      400,
      /emergency: /,
    ],
    ["an unknown field", "/v1/credentials/cc-prod/rotate", JSON.stringify({ reason: "x", grace: 0 }), 400, /grace/],
    [
      "a huge body",
      "/v1/credentials/cc-prod/rotate",
      JSON.stringify({ reason: "x".repeat(20_000) }),
      413,
      /larger than/,
    ],
  ])("%s: a clear %s", async (_what, path, body, status, message) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { message: string }).message).toMatch(message);
  });

  it("probes: healthz always, readyz names the failing check and the kind of failure, not its text", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    readyFails = true;
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: "not ready",
      checks: [{ name: "redis", ok: false, error: "failed" }],
    });
    readyFails = false;
  });

  it("compares tokens in constant time over their hashes", () => {
    expect(sameToken(TOKEN, TOKEN)).toBe(true);
    expect(sameToken(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(sameToken("", TOKEN)).toBe(false);
  });
});
