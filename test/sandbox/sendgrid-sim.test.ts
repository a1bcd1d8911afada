/** The SendGrid simulator over real HTTP: what SendGrid's API Keys docs say, as docs/vendors.md lists it. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  FULL_ACCESS_SCOPES,
  SANDBOX_SENDGRID,
  type SendGridSimulator,
  startSendGridSimulator,
} from "../../src/sandbox/sendgrid-sim.js";

let sim: SendGridSimulator;
let now: number;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const admin = bearer(SANDBOX_SENDGRID.managementKey);

beforeEach(async () => {
  now = Date.UTC(2026, 2, 3, 4, 5, 30);
  sim = await startSendGridSimulator({ clock: () => now, rateLimit: 4, ratePeriodS: 60 });
});
afterEach(async () => sim.close());

const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  fetch(`${sim.url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const rate = (res: Response) => [
  res.headers.get("x-ratelimit-limit"),
  res.headers.get("x-ratelimit-remaining"),
  res.headers.get("x-ratelimit-reset"),
];
const windowEnd = () => String(Math.floor(now / 60_000) * 60 + 60);

describe("SendGrid simulator: API keys managed by a scoped API key", () => {
  it("creates a 69-character SG key (201) whose scopes /v3/scopes reports, with rate-limit headers", async () => {
    const res = await call("POST", "/v3/api_keys", admin, { name: "rotated", scopes: ["mail.send"] });
    expect(res.status).toBe(201);
    expect(rate(res)).toEqual(["4", "3", windowEnd()]);
    const k = (await res.json()) as { api_key: string; api_key_id: string; name: string; scopes: string[] };
    expect(k).toEqual({
      api_key: expect.stringMatching(/^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/),
      api_key_id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      name: "rotated",
      scopes: ["mail.send"],
    });
    expect(k.api_key).toHaveLength(69);
    expect(k.api_key.split(".")[1]).toBe(k.api_key_id);
    const verify = await call("GET", "/v3/scopes", bearer(k.api_key));
    expect(verify.status).toBe(200);
    expect(await verify.json()).toEqual({ scopes: ["mail.send"] });
  });

  it("gives a key made without scopes Full Access; GET by id answers its scopes in `result`", async () => {
    const k = (await (await call("POST", "/v3/api_keys", admin, { name: "full" })).json()) as {
      api_key_id: string;
      scopes: string[];
    };
    expect(k.scopes).toEqual(FULL_ACCESS_SCOPES);
    const got = await call("GET", `/v3/api_keys/${k.api_key_id}`, admin);
    expect(await got.json()).toEqual({
      result: [{ api_key_id: k.api_key_id, name: "full", scopes: FULL_ACCESS_SCOPES }],
    });
  });

  it("lists ids and names only, at most `limit`", async () => {
    const a = sim.issueKey("a");
    sim.issueKey("b");
    const res = await call("GET", "/v3/api_keys?limit=2", admin);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: Array<Record<string, string>> };
    expect(body.result).toEqual([
      { api_key_id: SANDBOX_SENDGRID.managementKeyId, name: "key-rotator management (sandbox)" },
      { api_key_id: a.id, name: "a" },
    ]);
    expect(JSON.stringify(body)).not.toContain("SG.");
    expect((await call("GET", "/v3/api_keys?limit=0", admin)).status).toBe(400);
  });

  it("deletes with 204; the key is then refused with 401 and a second delete is 404", async () => {
    const k = sim.issueKey("old", ["mail.send"]);
    const del = await call("DELETE", `/v3/api_keys/${k.id}`, admin);
    expect(del.status).toBe(204);
    expect(rate(del)[1]).toBe("3");
    const refused = await call("GET", "/v3/scopes", bearer(k.key));
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      errors: [{ field: null, message: "The provided authorization grant is invalid, expired, or revoked" }],
    });
    expect(refused.headers.get("x-ratelimit-limit")).toBeNull();
    const again = await call("DELETE", `/v3/api_keys/${k.id}`, admin);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ errors: [{ field: "api_key_id", message: "unable to find API Key" }] });
    expect(sim.keyHistory().find((h) => h.id === k.id)).toMatchObject({ active: false, revokedAt: now });
  });

  it("401 without credentials; 403 `access forbidden` for a key without the api_keys scope", async () => {
    const none = await call("GET", "/v3/api_keys");
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ errors: [{ field: null, message: "authorization required" }] });
    const mailOnly = sim.issueKey("mail", ["mail.send"]);
    for (const [method, path] of [
      ["POST", "/v3/api_keys"],
      ["GET", "/v3/api_keys"],
      ["DELETE", `/v3/api_keys/${mailOnly.id}`],
    ] as const) {
      const res = await call(method, path, bearer(mailOnly.key), method === "POST" ? { name: "x" } : undefined);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toEqual({ errors: [{ field: null, message: "access forbidden" }] });
    }
    expect(sim.isKeyActive(mailOnly.id)).toBe(true);
  });

  it("429 `too many requests` with Remaining 0 and Reset (epoch s) once a route's period is spent", async () => {
    for (let i = 3; i >= 0; i--) expect(rate(await call("GET", "/v3/api_keys", admin))[1]).toBe(String(i));
    const limited = await call("GET", "/v3/api_keys", admin);
    expect(limited.status).toBe(429);
    expect(rate(limited)).toEqual(["4", "0", windowEnd()]);
    expect(await limited.json()).toEqual({ errors: [{ field: null, message: "too many requests" }] });
    expect((await call("GET", "/v3/scopes", admin)).status).toBe(200);
    now += 60_000;
    expect((await call("GET", "/v3/api_keys", admin)).status).toBe(200);
  });

  it("fault knobs: an armed rate-limit answers SendGrid's 429 without spending the budget", async () => {
    const armed = await fetch(`${sim.url}/__sim/faults`, {
      method: "POST",
      body: JSON.stringify({ kind: "rate-limit", match: "POST /v3/api_keys", count: 1 }),
    });
    expect(armed.status).toBe(200);
    const hit = await call("POST", "/v3/api_keys", admin, { name: "x" });
    expect(hit.status).toBe(429);
    expect(rate(hit)).toEqual(["4", "0", windowEnd()]);
    expect(sim.keyHistory()).toHaveLength(1);
    expect((await call("POST", "/v3/api_keys", admin, { name: "x" })).status).toBe(201);
    expect(sim.faults.hits["rate-limit"]).toBe(1);
  });
});
