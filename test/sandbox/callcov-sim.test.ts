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
  fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
const login = async () =>
  (await (await post("/api/v1/auth/login", account)).json()) as {
    access_token: string;
    refresh_token: string;
    token_type: string;
    expires_in: number;
  };
/** The three X-RateLimit-* headers as numbers (NaN when absent), and the status. */
const rate = (res: Response) => ({
  status: res.status,
  limit: Number(res.headers.get("x-ratelimit-limit") ?? Number.NaN),
  remaining: Number(res.headers.get("x-ratelimit-remaining") ?? Number.NaN),
  reset: Number(res.headers.get("x-ratelimit-reset") ?? Number.NaN),
});
const minuteEnd = () => Math.floor(now / 60_000) * 60 + 60;
const dayEnd = () => Math.floor(now / 86_400_000) * 86_400 + 86_400;

describe("CallCov simulator: API keys on data endpoints (seed 001)", () => {
  it.each(["/api/v1/health", "/api/v1/calls", "/api/v1/analysis/"])(
    "accepts X-API-Key on %s and Bearer sk_live_ too",
    async (path) => {
      const { key } = sim.issueKey("Production Server Key");
      expect(key).toMatch(/^sk_live_/);
      expect((await get(path, { "X-API-Key": key })).status).toBe(200);
      expect((await get(path, { Authorization: `Bearer ${key}` })).status).toBe(200);
    },
  );

  it("answers a missing or invalid key with the documented 401 body", async () => {
    for (const headers of <Array<Record<string, string>>>[
      {},
      { "X-API-Key": "sk_live_nope" },
      { "X-API-Key": `${sim.issueKey("k").key}x` },
      { "X-Api-Key": "" },
    ]) {
      const res = await get("/api/v1/health", headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "Invalid or missing API key" } });
      // No key, so no per-key budget: a 401 carries no X-RateLimit-* header (a documented choice of the simulator).
      for (const h of ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"])
        expect(res.headers.get(h)).toBeNull();
    }
  });

  it("answers a valid key without permission with the documented 403 body", async () => {
    const k = sim.issueKey("k");
    const stored = sim.state.keys.get(k.id);
    if (stored) stored.forbidden = true;
    const res = await get("/api/v1/calls", { "X-API-Key": k.key });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: { code: "forbidden", message: "Insufficient permissions for this resource" },
    });
    expect(rate(res)).toEqual({ status: 403, limit: 10, remaining: 9, reset: minuteEnd() });
    expect(rate(await get("/api/v1/calls", { "X-API-Key": k.key }))).toEqual({
      status: 403,
      limit: 10,
      remaining: 8,
      reset: minuteEnd(),
    });
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
    expect(rate(limited)).toEqual({ status: 429, limit: 10, remaining: 0, reset: minuteEnd() });
    expect(await limited.json()).toEqual({
      error: { code: "rate_limited", message: "Rate limit exceeded; retry after X-RateLimit-Reset" },
    });
    now += 60_000;
    expect(rate(await get("/api/v1/health", { "X-API-Key": key }))).toEqual({
      status: 200,
      limit: 10,
      remaining: 9,
      reset: minuteEnd(),
    });
  });

  const plans = [
    ["free", 10, 1_000],
    ["starter", 60, 10_000],
    ["business", 300, 100_000],
  ] as const;

  it.each(plans)(
    "the %s plan allows %d a minute: the last one 200, then 429 until the next minute",
    async (plan, perMinute) => {
      sim.state.plan = plan;
      const k = sim.issueKey("k");
      sim.state.preCount(k.id, { minute: perMinute - 1, day: perMinute - 1 });
      const h = { "X-API-Key": k.key };
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perMinute,
        remaining: 0,
        reset: minuteEnd(),
      });
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 429,
        limit: perMinute,
        remaining: 0,
        reset: minuteEnd(),
      });
      now = minuteEnd() * 1000 - 1;
      expect((await get("/api/v1/health", h)).status).toBe(429);
      now += 1;
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perMinute,
        remaining: perMinute - 1,
        reset: minuteEnd(),
      });
    },
  );

  it.each(plans)(
    "the %s plan (%d a minute) allows %d a day: headers switch to the day when it binds, 429 until the UTC day's end",
    async (plan, perMinute, perDay) => {
      sim.state.plan = plan;
      const k = sim.issueKey("k");
      const h = { "X-API-Key": k.key };
      const endOfDay = dayEnd();
      sim.state.preCount(k.id, { day: perDay - 3 });
      // 3 left today, fewer than the minute's: the day binds.
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perDay,
        remaining: 2,
        reset: endOfDay,
      });
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perDay,
        remaining: 1,
        reset: endOfDay,
      });
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perDay,
        remaining: 0,
        reset: endOfDay,
      });
      const spent = await get("/api/v1/health", h);
      expect(rate(spent)).toEqual({ status: 429, limit: perDay, remaining: 0, reset: endOfDay });
      expect(((await spent.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
      // A new minute does not help: still the day's 429 with the day's reset.
      now += 60_000;
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 429,
        limit: perDay,
        remaining: 0,
        reset: endOfDay,
      });
      now = endOfDay * 1000 - 1;
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 429,
        limit: perDay,
        remaining: 0,
        reset: endOfDay,
      });
      now += 1;
      expect(rate(await get("/api/v1/health", h))).toEqual({
        status: 200,
        limit: perMinute,
        remaining: perMinute - 1,
        reset: minuteEnd(),
      });
    },
  );

  it("enforces the free plan's 1,000 a day across real minutes of consumer use", async () => {
    const { key } = sim.issueKey("k");
    for (let minute = 0; minute < 100; minute++) {
      sim.useKey(key, 10);
      now += 60_000;
    }
    expect(rate(await get("/api/v1/health", { "X-API-Key": key }))).toEqual({
      status: 429,
      limit: 1_000,
      remaining: 0,
      reset: dayEnd(),
    });
  });

  it("accepts sk_test_ keys on a test-mode account, made in the dashboard or over the API", async () => {
    const testSim = await startCallCovSimulator({ clock: () => now, accounts: [account], plan: "free", mode: "test" });
    try {
      const seeded = testSim.issueKey("Staging");
      expect(seeded.key).toMatch(/^sk_test_/);
      expect(rate(await fetch(`${testSim.url}/api/v1/calls`, { headers: { "X-API-Key": seeded.key } }))).toMatchObject({
        status: 200,
        limit: 10,
        remaining: 9,
      });
      expect(
        (await fetch(`${testSim.url}/api/v1/analysis/`, { headers: { Authorization: `Bearer ${seeded.key}` } })).status,
      ).toBe(200);
      const { access_token } = (await (
        await fetch(`${testSim.url}/api/v1/auth/login`, { method: "POST", body: JSON.stringify(account) })
      ).json()) as { access_token: string };
      const created = (await (
        await fetch(`${testSim.url}/api/v1/api-keys/`, {
          method: "POST",
          headers: { Authorization: `Bearer ${access_token}` },
          body: JSON.stringify({ name: "ci" }),
        })
      ).json()) as { key: string };
      expect(created.key).toMatch(/^sk_test_/);
      expect((await fetch(`${testSim.url}/api/v1/health`, { headers: { "X-API-Key": created.key } })).status).toBe(200);
    } finally {
      await testSim.close();
    }
  });

  it("an API key does not expire (seed 002): still accepted 400 days later", async () => {
    const { key } = sim.issueKey("k");
    now += 400 * 86_400_000;
    expect(rate(await get("/api/v1/calls", { "X-API-Key": key }))).toEqual({
      status: 200,
      limit: 10,
      remaining: 9,
      reset: minuteEnd(),
    });
  });
});

describe("CallCov simulator: JWT and key management (seed 002)", () => {
  it("login answers the documented shape with a 30-minute access token", async () => {
    const tokens = await login();
    expect(tokens).toMatchObject({ token_type: "bearer", expires_in: 1800 });
    expect(tokens.access_token.split(".")).toHaveLength(3);
    expect((await get("/api/v1/users/me", { Authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
    now += 1800 * 1000 - 1000;
    expect((await get("/api/v1/api-keys/", { Authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
    now += 1000;
    const expired = await get("/api/v1/users/me", { Authorization: `Bearer ${tokens.access_token}` });
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: { code: "unauthorized", message: "Token expired" } });
    // Key management answers an expired access token the same way.
    const manage = await get("/api/v1/api-keys/", { Authorization: `Bearer ${tokens.access_token}` });
    expect(manage.status).toBe(401);
    expect(await manage.json()).toEqual({ error: { code: "unauthorized", message: "Token expired" } });
  });

  it("refresh gives a new access token for 7 days, then 401", async () => {
    const tokens = await login();
    now += 7 * 86_400_000 - 1000;
    const refreshed = await post("/api/v1/auth/refresh", { refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ token_type: "bearer", expires_in: 1800 });
    now += 2000;
    const expired = await post("/api/v1/auth/refresh", { refresh_token: tokens.refresh_token });
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: { code: "unauthorized", message: "Token expired" } });
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
    expect((await fetch(`${sim.url}/api/v1/api-keys/${body.id}`, { method: "DELETE", headers: auth })).status).toBe(
      204,
    );
    expect((await fetch(`${sim.url}/api/v1/api-keys/${body.id}`, { method: "DELETE", headers: auth })).status).toBe(
      404,
    );
    expect((await get("/api/v1/health", { "X-API-Key": body.key })).status).toBe(401);
    expect(sim.state.counters).toMatchObject({ created: 1, revoked: 1 });
  });

  it("counts every revoke request per key, whatever the answer, apart from successful revocations", async () => {
    const { access_token } = await login();
    const auth = { Authorization: `Bearer ${access_token}` };
    const del = (id: string, headers: Record<string, string> = auth) =>
      fetch(`${sim.url}/api/v1/api-keys/${encodeURIComponent(id)}`, { method: "DELETE", headers });
    const a = sim.issueKey("a");
    const b = sim.issueKey("b");
    sim.faults.add({ kind: "error", status: 503, match: "DELETE /api/v1/api-keys/", count: 1 });
    expect((await del(a.id)).status).toBe(503);
    expect((await del(a.id)).status).toBe(204);
    expect((await del(a.id)).status).toBe(404);
    expect((await del(a.id, {})).status).toBe(401);
    expect((await del("key_unknown")).status).toBe(404);
    expect(sim.state.counters.revokeRequestsByKey).toEqual({ [a.id]: 4, key_unknown: 1 });
    expect(sim.state.counters.revocationsByKey).toEqual({ [a.id]: 1 });
    expect(sim.state.counters.revoked).toBe(1);
    expect(sim.isKeyActive(b.id)).toBe(true);
    const stats = (await (await get("/__sim/stats")).json()) as {
      revokeRequestsByKey: Record<string, number>;
      revocationsByKey: Record<string, number>;
    };
    expect(stats).toMatchObject({
      revokeRequestsByKey: { [a.id]: 4, key_unknown: 1 },
      revocationsByKey: { [a.id]: 1 },
    });
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
    expect((await fetch(`${sim.url}/api/v1/api-keys/`, { method: "POST", headers: auth, body: "{nope" })).status).toBe(
      400,
    );
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
    await fetch(`${sim.url}/__sim/faults`, {
      method: "POST",
      body: JSON.stringify({ kind: "error", status: 502, count: 1 }),
    });
    expect((await get("/api/v1/calls")).status).toBe(502);
    const stats = (await (await get("/__sim/stats")).json()) as { faultHits: Record<string, number> };
    expect(stats.faultHits.error).toBe(1);
    expect(
      (await fetch(`${sim.url}/__sim/faults`, { method: "POST", body: JSON.stringify({ kind: "melt" }) })).status,
    ).toBe(400);
  });
});
