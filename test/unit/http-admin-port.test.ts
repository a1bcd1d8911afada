/**
 * The admin API on a port of its own: the probe port answers only /healthz, /readyz and /metrics,
 * the admin port only the admin API, each on its bind address; /readyz says what kind of check
 * failed, never the error's text (secret names, role ARNs).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { readyFailure, startHttpServer } from "../../src/http/http-server.js";

const TOKEN = "admin-token-0123456789abcdef";
let server: Awaited<ReturnType<typeof startHttpServer>>;
let failure: Error | undefined;

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    adminPort: 0,
    adminHost: "127.0.0.1",
    registry: createMetrics({ defaultMetrics: false }).registry,
    adminToken: TOKEN,
    readyChecks: [
      {
        name: "secrets-manager",
        check: async () => {
          if (failure) throw failure;
        },
      },
    ],
    admin: {
      has: (id) => id === "cc-prod",
      rotate: async () => ({ jobId: "rotation-1", rotationId: "r-1", joined: false }),
    },
  });
});
afterAll(async () => server.close());

const rotate = (base: string) =>
  fetch(`${base}/v1/credentials/cc-prod/rotate`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "test" }),
  });

describe("admin API on its own port", () => {
  it("serves the admin API on the admin port only, and the probes on theirs only", async () => {
    expect(server.adminUrl).toBeDefined();
    const admin = server.adminUrl ?? "";
    expect(admin).not.toBe(server.url);
    expect((await rotate(admin)).status).toBe(202);
    expect((await rotate(server.url)).status).toBe(404);
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      expect((await fetch(`${server.url}${path}`)).status).toBe(200);
      expect((await fetch(`${admin}${path}`)).status).toBe(404);
    }
  });

  it("/readyz names the failing check's kind, not the secret or role its message names", async () => {
    failure = Object.assign(
      new Error("User: arn:aws:sts::123456789012:assumed-role/kr/x is not authorized on secret prod/cc"),
      { name: "AccessDeniedException" },
    );
    const res = await fetch(`${server.url}/readyz`);
    const text = await res.text();
    failure = undefined;
    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      status: "not ready",
      checks: [{ name: "secrets-manager", ok: false, error: "AccessDeniedException" }],
    });
    expect(text).not.toMatch(/arn:aws|prod\/cc/);
  });

  it("classifies a failure by code or name, and a plain error as failed", () => {
    expect(readyFailure(Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:6379"), { code: "ECONNREFUSED" }))).toBe(
      "ECONNREFUSED",
    );
    expect(readyFailure(new Error("secret prod/cc not found"))).toBe("failed");
    expect(readyFailure("a string")).toBe("failed");
  });
});

describe("one port, as before", () => {
  it("serves probes and the admin API together when no admin port is given", async () => {
    const one = await startHttpServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics({ defaultMetrics: false }).registry,
      adminToken: TOKEN,
      readyChecks: [],
      admin: { has: () => true, rotate: async () => ({ jobId: "j", rotationId: "r", joined: false }) },
    });
    try {
      expect(one.adminUrl).toBeUndefined();
      expect((await rotate(one.url)).status).toBe(202);
      expect((await fetch(`${one.url}/healthz`)).status).toBe(200);
    } finally {
      await one.close();
    }
  });
});
