/** Seed 000's statements about the JustCall API, over real HTTP, plus the dashboard surface. */
import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type JustCallSimulator, startJustCallSimulator } from "../../src/sandbox/justcall-sim.js";

let sim: JustCallSimulator;
beforeEach(async () => {
  sim = await startJustCallSimulator();
});
afterEach(async () => sim.close());

const get = (path: string, authorization?: string) =>
  fetch(`${sim.url}${path}`, {
    headers: { "content-type": "application/json", ...(authorization !== undefined ? { authorization } : {}) },
  });

/** Sends the Authorization header byte for byte (fetch would trim a trailing space). */
function rawGet(path: string, authorization: string): Promise<number> {
  const url = new URL(path, sim.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, headers: { Authorization: authorization } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("JustCall simulator (seed 000)", () => {
  it("verifies a pair on /v2/account with the documented success body", async () => {
    const pair = sim.generatePair();
    const res = await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "success",
      data: { account_id: 12345, email: "admin@yourcompany.com", plan: "Pro" },
    });
    expect((await get("/v2/calls", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(200);
  });

  it.each([
    ["no header", undefined],
    ["the key alone", "KEY"],
    ["a wrong secret", "KEY:wrong"],
    ["the secret first", "SECRET:KEY"],
  ])("answers %s with the documented 401 body", async (_what, auth) => {
    const pair = sim.generatePair();
    const header = auth?.replace("KEY", pair.apiKey).replace("SECRET", pair.apiSecret);
    const res = await get("/v2/account", header);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ status: "error", message: "Invalid API key or secret." });
  });

  // HTTP drops whitespace at the ends of a header value before any server sees it, so the seed's
  // "no trailing spaces" is checked where it can matter: around the colon.
  it("refuses a pair with spaces around the colon", async () => {
    const pair = sim.generatePair();
    expect(await rawGet("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).toBe(200);
    expect(await rawGet("/v2/account", `${pair.apiKey} :${pair.apiSecret}`)).toBe(401);
    expect(await rawGet("/v2/account", `${pair.apiKey}: ${pair.apiSecret}`)).toBe(401);
  });

  it("answers 403 when the plan has no API access", async () => {
    const pair = sim.generatePair();
    sim.setPlanHasApi(false);
    const res = await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { status: string }).status).toBe("error");
  });

  it("pairs do not expire; a pair revoked in the dashboard is refused", async () => {
    const pair = sim.generatePair();
    const res = await fetch(`${sim.url}/__dashboard/pairs/${pair.apiKey}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(401);
    expect(sim.stats()).toMatchObject({ generated: 1, revoked: 1 });
  });

  it("the dashboard over HTTP generates a pair and lists pairs without secrets", async () => {
    const made = (await (await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST" })).json()) as {
      apiKey: string;
      apiSecret: string;
    };
    const list = await (await fetch(`${sim.url}/__dashboard/pairs`)).text();
    expect(list).toContain(made.apiKey);
    expect(list).not.toContain(made.apiSecret);
  });

  it("a single-pair account refuses a second pair until the first is revoked", async () => {
    await sim.close();
    sim = await startJustCallSimulator({ singlePair: true });
    const first = sim.generatePair();
    expect((await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST" })).status).toBe(409);
    sim.revokePair(first.apiKey);
    expect((await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST" })).status).toBe(201);
  });

  it("sends the documented request shape: Authorization {api_key}:{api_secret}, and /v2/calls answers a data list", async () => {
    const pair = sim.generatePair();
    const res = await get("/v2/calls", `${pair.apiKey}:${pair.apiSecret}`);
    expect(await res.json()).toEqual({ status: "success", data: [] });
    // A Bearer prefix or Basic auth is not the seed's format.
    expect((await get("/v2/account", `Bearer ${pair.apiKey}:${pair.apiSecret}`)).status).toBe(401);
    expect(
      (await get("/v2/account", `Basic ${Buffer.from(`${pair.apiKey}:${pair.apiSecret}`).toString("base64")}`)).status,
    ).toBe(401);
  });

  it("answers account details from the options", async () => {
    await sim.close();
    sim = await startJustCallSimulator({ account: { account_id: 777, plan: "Team" } });
    const pair = sim.generatePair();
    expect(await (await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).json()).toEqual({
      status: "success",
      data: { account_id: 777, email: "admin@yourcompany.com", plan: "Team" },
    });
  });

  it("answers 403 with an error body in the 401's style, and 401 still wins for a bad pair", async () => {
    const pair = sim.generatePair();
    sim.setPlanHasApi(false);
    const res = await get("/v2/calls", `${pair.apiKey}:${pair.apiSecret}`);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ status: "error", message: expect.stringMatching(/API access/) as unknown });
    expect((await get("/v2/calls", `${pair.apiKey}:nope`)).status).toBe(401);
    sim.setPlanHasApi(true);
    expect((await get("/v2/calls", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(200);
  });

  it("a non-admin pair is forbidden on the admin endpoint (account details) but works elsewhere", async () => {
    const pair = sim.generatePair({ admin: false });
    expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(403);
    expect((await get("/v2/calls", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(200);
    const made = (await (
      await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST", body: JSON.stringify({ admin: false }) })
    ).json()) as { apiKey: string; apiSecret: string };
    expect((await get("/v2/account", `${made.apiKey}:${made.apiSecret}`)).status).toBe(403);
  });

  it("refuses a trailing space on the secret where HTTP lets one through (before a tab)", async () => {
    const pair = sim.generatePair();
    // Node and fetch strip whitespace at either end of a header value; a space followed by
    // another character survives, and must make the pair invalid, not be trimmed away.
    expect(await rawGet("/v2/account", `${pair.apiKey}:${pair.apiSecret} x`)).toBe(401);
    expect(await rawGet("/v2/account", ` ${pair.apiKey}:${pair.apiSecret}`)).toBe(200);
  });

  it("pairs never expire by themselves", async () => {
    let now = Date.UTC(2026, 0, 1);
    await sim.close();
    sim = await startJustCallSimulator({ clock: () => now });
    const pair = sim.generatePair();
    now += 5 * 365 * 86_400_000;
    expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(200);
    expect(sim.listPairs()).toEqual([
      { apiKey: pair.apiKey, createdAt: "2026-01-01T00:00:00.000Z", active: true, admin: true },
    ]);
  });

  it("counts requests per api_key, refusals of unknown keys, pairs generated and revoked; over HTTP too", async () => {
    const a = sim.generatePair();
    const b = sim.generatePair();
    await get("/v2/account", `${a.apiKey}:${a.apiSecret}`);
    await get("/v2/calls", `${a.apiKey}:${a.apiSecret}`);
    await get("/v2/account", `${a.apiKey}:wrong-secret`);
    await get("/v2/account", "unknown:pair");
    await get("/v2/account");
    sim.revokePair(b.apiKey);
    await get("/v2/account", `${b.apiKey}:${b.apiSecret}`);
    const expected = {
      generated: 2,
      revoked: 1,
      refusedUnknown: 2,
      requests: { [a.apiKey]: { accepted: 2, refused: 1 }, [b.apiKey]: { accepted: 0, refused: 1 } },
    };
    expect(sim.stats()).toEqual(expected);
    const overHttp = await (await fetch(`${sim.url}/__sim/stats`)).text();
    expect(JSON.parse(overHttp)).toMatchObject(expected);
    expect(overHttp).not.toContain(a.apiSecret);
    expect(overHttp).not.toContain(b.apiSecret);
  });

  it("revoking over HTTP: an unknown or already revoked key is 404; the list shows it inactive", async () => {
    const pair = sim.generatePair();
    expect((await fetch(`${sim.url}/__dashboard/pairs/${pair.apiKey}`, { method: "DELETE" })).status).toBe(200);
    expect((await fetch(`${sim.url}/__dashboard/pairs/${pair.apiKey}`, { method: "DELETE" })).status).toBe(404);
    expect((await fetch(`${sim.url}/__dashboard/pairs/nobody`, { method: "DELETE" })).status).toBe(404);
    const list = (await (await fetch(`${sim.url}/__dashboard/pairs`)).json()) as {
      data: Array<{ apiKey: string; active: boolean }>;
    };
    expect(list.data).toMatchObject([{ apiKey: pair.apiKey, active: false }]);
  });

  it("a single-pair account refuses in process too, with a message that says what to do", async () => {
    await sim.close();
    sim = await startJustCallSimulator({ singlePair: true });
    const first = sim.generatePair();
    expect(() => sim.generatePair()).toThrow(/revoke/i);
    const res = await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST" });
    expect(await res.json()).toEqual({
      status: "error",
      message: expect.stringMatching(/one active API key/) as unknown,
    });
    expect(sim.revokePair(first.apiKey)).toBe(true);
    expect(sim.generatePair().apiKey).not.toBe(first.apiKey);
  });

  it("fault knobs over HTTP: armed by POST /__sim/faults with a METHOD /path match, cleared by DELETE", async () => {
    const pair = sim.generatePair();
    const auth = `${pair.apiKey}:${pair.apiSecret}`;
    expect(
      (
        await fetch(`${sim.url}/__sim/faults`, {
          method: "POST",
          body: JSON.stringify({ kind: "rate-limit", match: "GET /v2/calls" }),
        })
      ).status,
    ).toBe(200);
    expect((await get("/v2/account", auth)).status).toBe(200);
    const limited = await get("/v2/calls", auth);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("x-ratelimit-limit")).toBeNull();
    expect(((await limited.json()) as { status: string }).status).toBe("error");
    expect((await fetch(`${sim.url}/__sim/faults`, { method: "DELETE" })).status).toBe(200);
    expect((await get("/v2/calls", auth)).status).toBe(200);
    expect(
      (await fetch(`${sim.url}/__sim/faults`, { method: "POST", body: JSON.stringify({ kind: "nope" }) })).status,
    ).toBe(400);
  });

  it("a held request waits for POST /__sim/release, and close() ends held sockets", async () => {
    const pair = sim.generatePair();
    sim.faults.add({ kind: "hold", match: "/v2/account", count: 1 });
    const pending = get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`);
    await vi.waitFor(() => expect(sim.faults.heldCount).toBe(1));
    expect((await fetch(`${sim.url}/__sim/release`, { method: "POST" })).status).toBe(200);
    expect((await pending).status).toBe(200);
    sim.faults.add({ kind: "timeout", count: 1 });
    const silent = get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`).then(
      () => "answered",
      () => "closed",
    );
    await vi.waitFor(() => expect(sim.faults.hits.timeout).toBe(1));
    await sim.close();
    expect(await silent).toBe("closed");
    sim = await startJustCallSimulator();
  });

  it("fault knobs: 5xx, malformed JSON", async () => {
    const pair = sim.generatePair();
    sim.faults.add({ kind: "error", status: 502, count: 1 });
    expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(502);
    sim.faults.add({ kind: "malformed", count: 1 });
    await expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).json()).rejects.toThrow();
  });
});
