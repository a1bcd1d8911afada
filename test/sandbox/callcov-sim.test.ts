/** Every statement of seeds 001/002 about codes, bodies, headers and token lifetimes, over HTTP. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CallCovSimulator, startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";

let sim: CallCovSimulator;
let now: number;
const account = { email: "user@example.com", password: "SecurePassword123!" };

beforeEach(async () => {
  now = Date.UTC(2026, 10, 23, 10, 0, 30);
  sim = await startCallCovSimulator({ clock: () => now, accounts: [account], plan: "free" });
});
afterEach(async () => sim.close());

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${sim.url}${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${sim.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
const login = async () => (await (await post("/api/v1/auth/login", account)).json()) as { access_token: string; refresh_token: string; token_type: string; expires_in: number };

describe("CallCov simulator: API keys on data endpoints (seed 001)", () => {
  it.each(["/api/v1/health", "/api/v1/calls", "/api/v1/analysis/"])("accepts X-API-Key on %s and Bearer sk_live_ too", async (path) => {
    const { key } = sim.issueKey("Production Server Key");
    expect(key).toMatch(/^sk_live_/);
    expect((await get(path, { "X-API-Key": key })).status).toBe(200);
    expect((await get(path, { Authorization: `Bearer ${key}` })).status).toBe(200);
  });

  it("answers a missing or invalid key with the documented 401 body", async () => {
    for (const headers of <Array<Record<string, string>>>[{}, { "X-API-Key": "sk_live_nope" }, { "X-API-Key": `${sim.issueKey("k").key}x` }, { "X-Api-Key": "" }]) {
      const res = await get("/api/v1/health", headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "Invalid or missing API key" } });
    }
  });

  it("answers a valid key without permission with the documented 403 body", async () => {
    const k = sim.issueKey("k");
    const stored = sim.state.keys.get(k.id);
    if (stored) stored.forbidden = true;
    const res = await get("/api/v1/calls", { "X-API-Key": k.key });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: "forbidden", message: "Insufficient permissions for this resource" } });
  });

  it("puts X-RateLimit-Limit/Remaining/Reset on every response and 429s past the plan's minute", async () => {
    const { key } = sim.issueKey("k");
    for (let i = 1; i <= 10; i++) {
      const res = await get("/api/v1/health", { "X-API-Key": key });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-ratelimit-limit")).toBe("10");
      expect(res.headers.get("x-ratelimit-remaining")).toBe(String(10 - i));
      expect(res.headers.get("x-ratelimit-reset")).toBe(String(Math.ceil(now / 60_000) * 60));
    }
    const limited = await get("/api/v1/health", { "X-API-Key": key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    now += 60_000;
    expect((await get("/api/v1/health", { "X-API-Key": key })).status).toBe(200);
  });

  it.each([["starter", 60], ["business", 300]] as const)("the %s plan allows %d per minute", async (plan, perMinute) => {
    sim.state.plan = plan;
    const { key } = sim.issueKey("k");
    const res = await get("/api/v1/health", { "X-API-Key": key });
    expect(res.headers.get("x-ratelimit-limit")).toBe(String(perMinute));
  });

  it("enforces the free plan's 1,000 a day", async () => {
    const { key } = sim.issueKey("k");
    for (let minute = 0; minute < 100; minute++) {
      sim.useKey(key, 10);
      now += 60_000;
    }
    expect((await get("/api/v1/health", { "X-API-Key": key })).status).toBe(429);
  });
});

describe("CallCov simulator: JWT and key management (seed 002)", () => {
  it("login answers the documented shape with a 30-minute access token", async () => {
    const tokens = await login();
    expect(tokens).toMatchObject({ token_type: "bearer", expires_in: 1800 });
    expect(tokens.access_token.split(".")).toHaveLength(3);
    expect((await get("/api/v1/users/me", { Authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
    now += 1800 * 1000;
    const expired = await get("/api/v1/users/me", { Authorization: `Bearer ${tokens.access_token}` });
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: { code: "unauthorized", message: "Token expired" } });
  });

  it("refresh gives a new access token for 7 days, then 401", async () => {
    const tokens = await login();
    now += 7 * 86_400_000 - 1000;
    const refreshed = await post("/api/v1/auth/refresh", { refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ token_type: "bearer", expires_in: 1800 });
    now += 2000;
    expect((await post("/api/v1/auth/refresh", { refresh_token: tokens.refresh_token })).status).toBe(401);
  });

  it("a wrong password is 401", async () => {
    expect((await post("/api/v1/auth/login", { ...account, password: "nope" })).status).toBe(401);
  });

  it("creates a key (201, key shown once), lists without the key, deletes (204) and 404s after", async () => {
    const { access_token } = await login();
    const auth = { Authorization: `Bearer ${access_token}` };
    const created = await post("/api/v1/api-keys/", { name: "Production Server Key" }, auth);
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; name: string; key: string; created_at: string };
    expect(Object.keys(body).sort()).toEqual(["created_at", "id", "key", "name"]);
    const listText = await (await get("/api/v1/api-keys/", auth)).text();
    expect(listText).toContain(body.id);
    expect(listText).not.toContain(body.key);
    expect((await fetch(`${sim.url}/api/v1/api-keys/${body.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await fetch(`${sim.url}/api/v1/api-keys/${body.id}`, { method: "DELETE", headers: auth })).status).toBe(404);
    expect((await get("/api/v1/health", { "X-API-Key": body.key })).status).toBe(401);
    expect(sim.state.counters).toMatchObject({ created: 1, revoked: 1 });
  });

  it("key management needs a valid access token", async () => {
    const res = await post("/api/v1/api-keys/", { name: "x" }, { Authorization: `Bearer ${sim.issueKey("k").key}` });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "Invalid or missing token" } });
  });

  it("rejects a create without a name or with a broken body", async () => {
    const { access_token } = await login();
    const auth = { Authorization: `Bearer ${access_token}`, "content-type": "application/json" };
    expect((await post("/api/v1/api-keys/", {}, auth)).status).toBe(400);
    expect((await fetch(`${sim.url}/api/v1/api-keys/`, { method: "POST", headers: auth, body: "{nope" })).status).toBe(400);
  });
});

describe("CallCov simulator: fault knobs", () => {
  it.each([
    ["error", 503],
    ["rate-limit", 429],
  ] as const)("%s answers %d once, then normal service", async (kind, status) => {
    sim.faults.add({ kind, status, match: "GET /api/v1/health", count: 1 });
    const { key } = sim.issueKey("k");
    expect((await get("/api/v1/health", { "X-API-Key": key })).status).toBe(status);
    expect((await get("/api/v1/health", { "X-API-Key": key })).status).toBe(200);
  });

  it("malformed answers 200 with a body that is not JSON", async () => {
    sim.faults.add({ kind: "malformed", count: 1 });
    const text = await (await get("/api/v1/health")).text();
    expect(() => JSON.parse(text) as unknown).toThrow();
  });

  it("reset drops the connection", async () => {
    sim.faults.add({ kind: "reset", count: 1 });
    await expect(get("/api/v1/health")).rejects.toThrow();
  });

  it("faults and stats are reachable over HTTP for other processes", async () => {
    await fetch(`${sim.url}/__sim/faults`, { method: "POST", body: JSON.stringify({ kind: "error", status: 502, count: 1 }) });
    expect((await get("/api/v1/calls")).status).toBe(502);
    const stats = (await (await get("/__sim/stats")).json()) as { faultHits: Record<string, number> };
    expect(stats.faultHits.error).toBe(1);
    expect((await fetch(`${sim.url}/__sim/faults`, { method: "POST", body: JSON.stringify({ kind: "melt" }) })).status).toBe(400);
  });
});
