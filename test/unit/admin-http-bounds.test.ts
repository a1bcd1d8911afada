/**
 * The admin endpoint always answers (http-server.ts): an emergency past its bounds is 429 with
 * Retry-After and a body naming why; Redis down (RedisUnavailableError) or a start that never
 * finishes (a Redis that accepts but does not answer) is 503 within `adminTimeoutMs`; `force`
 * is for emergencies and reaches the admin port only when asked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { EmergencyRefusedError } from "../../src/queue/emergency-limits.js";
import { startHttpServer } from "../../src/http/http-server.js";
import { RedisUnavailableError } from "../../src/queue/redis.js";

const TOKEN = "admin-token-0123456789abcdef";
type Behaviour = "refuse" | "redis-down" | "hang" | "ok";
let behaviour: Behaviour = "ok";
const calls: unknown[] = [];
let server: Awaited<ReturnType<typeof startHttpServer>>;

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    registry: createMetrics({ defaultMetrics: false }).registry,
    adminToken: TOKEN,
    readyChecks: [],
    adminTimeoutMs: 300,
    admin: {
      has: () => true,
      rotate: async (r) => {
        calls.push(r);
        if (behaviour === "refuse")
          throw new EmergencyRefusedError("emergency for cc refused: cooldown; retry in 42s", "cooldown", 42);
        if (behaviour === "redis-down")
          throw new RedisUnavailableError("Redis does not answer (connection reconnecting)");
        if (behaviour === "hang") return new Promise(() => undefined);
        return { jobId: "rotation-1", rotationId: "r-1", joined: false };
      },
    },
  });
});
afterAll(async () => server.close());

const post = (body: unknown) =>
  fetch(`${server.url}/v1/credentials/cc/rotate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });

describe("admin HTTP bounds", () => {
  it("past an emergency's bounds: 429, Retry-After, and why", async () => {
    behaviour = "refuse";
    const res = await post({ emergency: true, reason: "leaked" });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("42");
    expect(await res.json()).toEqual({
      error: "emergency_refused",
      refusedFor: "cooldown",
      retryAfterSeconds: 42,
      message: "emergency for cc refused: cooldown; retry in 42s",
    });
  });

  it.each([
    ["Redis down", "redis-down" as const],
    ["a start that never finishes", "hang" as const],
  ])("%s: 503 with Retry-After, in bounded time", async (_what, b) => {
    behaviour = b;
    const began = Date.now();
    const res = await post({ emergency: true, reason: "leaked" });
    expect(res.status).toBe(503);
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({ error: "redis_unavailable", message: expect.stringMatching(/Redis/) });
  });

  it("force: only with an emergency, passed on only when asked", async () => {
    behaviour = "ok";
    expect((await post({ force: true, reason: "x" })).status).toBe(400);
    expect((await post({ emergency: true, force: true, reason: "the new key leaked too" })).status).toBe(202);
    expect(calls.at(-1)).toEqual({
      credentialId: "cc",
      emergency: true,
      reason: "the new key leaked too",
      actor: "http:admin@127.0.0.1",
      force: true,
    });
    expect((await post({ emergency: true, reason: "x" })).status).toBe(202);
    expect(calls.at(-1)).toEqual({ credentialId: "cc", emergency: true, reason: "x", actor: "http:admin@127.0.0.1" });
  });
});
