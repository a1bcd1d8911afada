/** Seed 000's statements about the JustCall API, over real HTTP, plus the dashboard surface. */
import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type JustCallSimulator, startJustCallSimulator } from "../../src/sandbox/justcall-sim.js";

let sim: JustCallSimulator;
beforeEach(async () => {
  sim = await startJustCallSimulator();
});
afterEach(async () => sim.close());

const get = (path: string, authorization?: string) =>
  fetch(`${sim.url}${path}`, { headers: { "content-type": "application/json", ...(authorization !== undefined ? { authorization } : {}) } });

/** Sends the Authorization header byte for byte (fetch would trim a trailing space). */
function rawGet(path: string, authorization: string): Promise<number> {
  const url = new URL(path, sim.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { Authorization: authorization } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("JustCall simulator (seed 000)", () => {
  it("verifies a pair on /v2/account with the documented success body", async () => {
    const pair = sim.generatePair();
    const res = await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "success", data: { account_id: 12345, email: "admin@yourcompany.com", plan: "Pro" } });
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
    const made = (await (await fetch(`${sim.url}/__dashboard/pairs`, { method: "POST" })).json()) as { apiKey: string; apiSecret: string };
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

  it("fault knobs: 5xx, malformed JSON", async () => {
    const pair = sim.generatePair();
    sim.faults.add({ kind: "error", status: 502, count: 1 });
    expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).status).toBe(502);
    sim.faults.add({ kind: "malformed", count: 1 });
    await expect((await get("/v2/account", `${pair.apiKey}:${pair.apiSecret}`)).json()).rejects.toThrow();
  });
});
