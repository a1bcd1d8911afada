/** The Anthropic simulator over real HTTP: what Anthropic's API docs say, as docs/vendors.md lists it. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ANTHROPIC_MODELS,
  ANTHROPIC_VERSION,
  type AnthropicSimulator,
  startAnthropicSimulator,
} from "../../src/sandbox/anthropic-sim.js";

let sim: AnthropicSimulator;
let now: number;
beforeEach(async () => {
  now = Date.UTC(2026, 2, 3, 4, 5, 30);
  sim = await startAnthropicSimulator({ clock: () => now, rateLimit: 4, ratePeriodS: 60 });
});
afterEach(async () => sim.close());

const call = (path: string, headers: Record<string, string> = {}, method = "GET", body?: string) =>
  fetch(`${sim.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
const withKey = (key: string) => ({ "x-api-key": key, "anthropic-version": ANTHROPIC_VERSION });
const errorBody = (type: string, message: string) => ({
  type: "error",
  error: { type, message },
  request_id: expect.stringMatching(/^req_011C[A-Za-z0-9]{20}$/),
});

describe("Anthropic simulator: keys made in the Console, checked on the models list", () => {
  it("a key made in the Console lists the models (200), with request-id and the requests rate-limit headers", async () => {
    const k = sim.issueKey("made by a person");
    expect(k.key).toMatch(/^sk-ant-api03-[A-Za-z0-9_-]{96}AA$/);
    expect(k.id).toMatch(/^apikey_01[A-Za-z0-9]{22}$/);
    const res = await call("/v1/models", withKey(k.key));
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    expect(res.headers.get("anthropic-ratelimit-requests-limit")).toBe("4");
    expect(res.headers.get("anthropic-ratelimit-requests-remaining")).toBe("3");
    expect(res.headers.get("anthropic-ratelimit-requests-reset")).toBe("2026-03-03T04:06:00Z");
    expect(await res.json()).toEqual({
      data: ANTHROPIC_MODELS,
      has_more: false,
      first_id: ANTHROPIC_MODELS[0].id,
      last_id: ANTHROPIC_MODELS[2].id,
    });
  });

  it("pages by limit, after_id and before_id; gets one model; 404 not_found_error for an unknown one", async () => {
    await sim.close();
    sim = await startAnthropicSimulator({ clock: () => now });
    const { key } = sim.issueKey("paging");
    const first = (await (await call("/v1/models?limit=2", withKey(key))).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ has_more: true, first_id: "claude-opus-4-6", last_id: "claude-sonnet-4-5" });
    const next = await (await call("/v1/models?limit=2&after_id=claude-sonnet-4-5", withKey(key))).json();
    expect(next).toMatchObject({ has_more: false, first_id: "claude-haiku-4-5", last_id: "claude-haiku-4-5" });
    const back = await (await call("/v1/models?limit=1&before_id=claude-haiku-4-5", withKey(key))).json();
    expect(back).toMatchObject({ has_more: true, first_id: "claude-sonnet-4-5" });
    expect((await call("/v1/models?limit=0", withKey(key))).status).toBe(400);
    expect(await (await call("/v1/models/claude-opus-4-6", withKey(key))).json()).toEqual(ANTHROPIC_MODELS[0]);
    const missing = await call("/v1/models/claude-nope", withKey(key));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual(errorBody("not_found_error", "model: claude-nope"));
  });

  it("refuses a missing, unknown or deleted key with 401 authentication_error, never echoing the key", async () => {
    const k = sim.issueKey("to delete");
    const missing = await call("/v1/models", { "anthropic-version": ANTHROPIC_VERSION });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual(errorBody("authentication_error", "x-api-key header is required"));
    const forged = await call("/v1/models", withKey(`${k.key.slice(0, -6)}zzzzAA`));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual(errorBody("authentication_error", "invalid x-api-key"));

    const deleted = await call(`/__sim/keys/${k.id}`, {}, "DELETE");
    expect(await deleted.json()).toEqual({ revoked: true });
    expect(sim.isKeyActive(k.id)).toBe(false);
    const after = await call("/v1/models", withKey(k.key));
    expect(after.status).toBe(401);
    expect(await after.text()).not.toContain(k.key.slice(13, 40));
    expect((await call(`/__sim/keys/${k.id}`, {}, "DELETE")).status).toBe(404);
  });

  it("needs anthropic-version (400 invalid_request_error); a forbidden key is 403 permission_error", async () => {
    const k = sim.issueKey("versionless");
    const res = await call("/v1/models", { "x-api-key": k.key });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(errorBody("invalid_request_error", "anthropic-version: header is required"));
    sim.setKeyForbidden(k.id, true);
    const forbidden = await call("/v1/models", withKey(k.key));
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json()) as unknown).toMatchObject({ error: { type: "permission_error" } });
  });

  it("answers 429 rate_limit_error with retry-after once the organization's requests are spent", async () => {
    const { key } = sim.issueKey("busy");
    for (let i = 0; i < 4; i++) expect((await call("/v1/models", withKey(key))).status).toBe(200);
    const limited = await call("/v1/models", withKey(key));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("30");
    expect(limited.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    expect((await limited.json()) as unknown).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
  });

  it("has the shared fault knobs in Anthropic's error shape: 529 overloaded_error, 500 api_error, 429, 413", async () => {
    const { key } = sim.issueKey("faults");
    sim.faults.add({ kind: "error", status: 529, count: 1 });
    sim.faults.add({ kind: "error", count: 1 });
    sim.faults.add({ kind: "rate-limit", count: 1 });
    const overloaded = await call("/v1/models", withKey(key));
    expect([overloaded.status, await overloaded.json()]).toEqual([529, errorBody("overloaded_error", "Overloaded")]);
    const internal = await call("/v1/models", withKey(key));
    expect([internal.status, ((await internal.json()) as { error: { type: string } }).error.type]).toEqual([
      500,
      "api_error",
    ]);
    const limited = await call("/v1/models", withKey(key));
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "30"]);
    const big = await call("/v1/models", withKey(key), "POST", "x".repeat(1024 * 1024 + 1));
    expect(big.status).toBe(413);
    expect((await big.json()) as unknown).toMatchObject({ error: { type: "request_too_large" } });
  });

  it("plays the Console over HTTP: POST /__sim/keys makes a key once; GET lists lives, never a key", async () => {
    const made = (await (await call("/__sim/keys", {}, "POST", JSON.stringify({ name: "console" }))).json()) as {
      id: string;
      key: string;
    };
    expect((await call("/v1/models", withKey(made.key))).status).toBe(200);
    const listed = await (await call("/__sim/keys")).text();
    expect(listed).toContain(made.id);
    expect(listed).not.toContain("sk-ant-");
    expect(sim.keyHistory().map((k) => k.name)).toEqual(["console"]);
  });
});
