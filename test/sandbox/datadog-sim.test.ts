/** The Datadog simulator over real HTTP: what Datadog's Key Management docs say, as docs/vendors.md lists it. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type DatadogSimulator, SANDBOX_DATADOG, startDatadogSimulator } from "../../src/sandbox/datadog-sim.js";

let sim: DatadogSimulator;
let now: number;
const admin = { "DD-API-KEY": SANDBOX_DATADOG.apiKey, "DD-APPLICATION-KEY": SANDBOX_DATADOG.appKey };

beforeEach(async () => {
  now = Date.UTC(2026, 2, 3, 4, 5, 45);
  sim = await startDatadogSimulator({ clock: () => now, rateLimit: 4, ratePeriodS: 60 });
});
afterEach(async () => sim.close());

const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  fetch(`${sim.url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const createBody = (name: string) => ({ data: { type: "api_keys", attributes: { name } } });
const rate = (res: Response) =>
  ["limit", "period", "remaining", "reset", "name"].map((h) => res.headers.get(`x-ratelimit-${h}`));

describe("Datadog simulator: API keys managed with an API key plus an application key", () => {
  it("creates a key (201, JSON:API, key only here) that /api/v1/validate accepts", async () => {
    const res = await call("POST", "/api/v2/api_keys", admin, createBody("rotated"));
    expect(res.status).toBe(201);
    expect(rate(res)).toEqual(["4", "60", "3", "15", "api_keys"]);
    const { data } = (await res.json()) as { data: { id: string; type: string; attributes: Record<string, unknown> } };
    expect(data).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: "api_keys",
      attributes: expect.objectContaining({
        key: expect.stringMatching(/^[0-9a-f]{32}$/),
        name: "rotated",
        created_at: new Date(now).toISOString(),
      }),
    });
    const key = data.attributes.key as string;
    expect(data.attributes.last4).toBe(key.slice(-4));
    const ok = await call("GET", "/api/v1/validate", { "DD-API-KEY": key });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ valid: true });
  });

  it("lists pages by page[size]/page[number] with total_filtered_count, never the key", async () => {
    const made = [sim.issueKey("a"), sim.issueKey("b"), sim.issueKey("c")];
    const page = async (n: number) =>
      (await (await call("GET", `/api/v2/api_keys?page[size]=2&page[number]=${n}`, admin)).json()) as {
        data: Array<{ id: string; attributes: Record<string, unknown> }>;
        meta: { page: { total_filtered_count: number } };
      };
    const [p0, p1] = [await page(0), await page(1)];
    expect(p0.meta.page.total_filtered_count).toBe(4);
    expect([...p0.data, ...p1.data].map((k) => k.id).slice(1)).toEqual(made.map((k) => k.id));
    expect(p1.data).toHaveLength(2);
    for (const k of [...p0.data, ...p1.data]) expect(k.attributes).not.toHaveProperty("key");
    expect((await call("GET", "/api/v2/api_keys?page[size]=101", admin)).status).toBe(400);
  });

  it("deletes with 204; the key then fails validate (403 Forbidden) and a second delete is 404", async () => {
    const k = sim.issueKey("old");
    expect((await call("DELETE", `/api/v2/api_keys/${k.id}`, admin)).status).toBe(204);
    const refused = await call("GET", "/api/v1/validate", { "DD-API-KEY": k.key });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ errors: ["Forbidden"] });
    const again = await call("DELETE", `/api/v2/api_keys/${k.id}`, admin);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ errors: ["Not found"] });
    expect(sim.isKeyActive(k.id)).toBe(false);
  });

  it("refuses management without both keys, or with a bad one: 403 {errors: [Forbidden]}", async () => {
    const other = sim.issueKey("other");
    for (const headers of <Array<Record<string, string>>>[
      {},
      { "DD-API-KEY": SANDBOX_DATADOG.apiKey },
      { "DD-APPLICATION-KEY": SANDBOX_DATADOG.appKey },
      { ...admin, "DD-APPLICATION-KEY": `${SANDBOX_DATADOG.appKey.slice(0, -1)}0` },
      { ...admin, "DD-API-KEY": "0".repeat(32) },
    ]) {
      now += 60_000; // a fresh period each time: refusals count against the budget too
      const res = await call("DELETE", `/api/v2/api_keys/${other.id}`, headers);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ errors: ["Forbidden"] });
    }
    expect(sim.isKeyActive(other.id)).toBe(true);
    expect((await call("POST", "/api/v2/api_keys", admin, { data: { type: "users" } })).status).toBe(400);
  });

  it("429 past the limit with X-RateLimit-* (Reset in seconds, calendar aligned), per rate-limit name", async () => {
    for (let i = 0; i < 4; i++) expect((await call("GET", "/api/v2/api_keys", admin)).status).toBe(200);
    const limited = await call("GET", "/api/v2/api_keys", admin);
    expect(limited.status).toBe(429);
    expect(rate(limited)).toEqual(["4", "60", "0", "15", "api_keys"]);
    expect(await limited.json()).toEqual({ errors: ["Too many requests"] });
    expect(rate(await call("GET", "/api/v1/validate", admin))).toEqual(["4", "60", "3", "15", "validate"]);
    now += 15_000;
    expect((await call("GET", "/api/v2/api_keys", admin)).status).toBe(200);
  });

  it("fault knobs: a held request waits for release; malformed answers 200 that is not JSON", async () => {
    sim.faults.add({ kind: "malformed", match: "GET /api/v1/validate", count: 1 });
    const bad = await call("GET", "/api/v1/validate", admin);
    expect(bad.status).toBe(200);
    await expect(bad.json()).rejects.toThrow();
    sim.faults.add({ kind: "hold", match: "DELETE", count: 1 });
    const k = sim.issueKey("held");
    const pending = call("DELETE", `/api/v2/api_keys/${k.id}`, admin);
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.faults.heldCount).toBe(1);
    expect(sim.isKeyActive(k.id)).toBe(true);
    await fetch(`${sim.url}/__sim/release`, { method: "POST" });
    expect((await pending).status).toBe(204);
    const history = (await (await fetch(`${sim.url}/__sim/keys`)).json()) as {
      data: Array<{ id: string; active: boolean }>;
    };
    expect(history.data.find((h) => h.id === k.id)?.active).toBe(false);
    expect(JSON.stringify(history)).not.toContain(k.key);
  });
});
