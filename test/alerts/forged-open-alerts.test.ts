/**
 * Forged open-alert entries (DESIGN.md rule 8: Redis content cannot silence an alert for longer
 * than its stated bound). Real Redis, a fresh prefix per test, an injected clock: whatever sits in
 * `<prefix>:alerts:open:*`, a raised alert is delivered within the re-notify window (plus the clock
 * skew allowance), a resolve still reaches the incident, and the router never throws.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AlertRouter } from "../../src/alerts/alert-router.js";
import type { AlertSink } from "../../src/alerts/alert-sinks.js";
import { CLOCK_SKEW_MS } from "../../src/alerts/open-alert-policy.js";
import { RedisOpenAlertStore } from "../../src/alerts/redis-open-alert-store.js";
import type { Alert } from "../../src/core/ports.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const alert: Alert = {
  credentialId: "cc-prod",
  severity: "critical",
  kind: "rotation-failed",
  summary: "rotation failed at step verify: 503",
  step: "verify",
  rotationId: "5d0c1f2e-aaaa",
};

let redis: Redis;
let prefix: string;
let now: number;
const sent: string[] = [];
const logs: Array<{ event?: string; reason?: string }> = [];

beforeAll(() => void (redis = testRedis()));
afterAll(() => redis.disconnect());
beforeEach(() => {
  prefix = testPrefix("forged-alerts");
  now = T0;
  sent.length = 0;
  logs.length = 0;
});
afterEach(async () => dropPrefix(redis, prefix));

const recording = (name: string, type: AlertSink["type"]): AlertSink => ({
  name,
  type,
  send: async (a, action) => void sent.push(`${name}:${action}:${a.credentialId}/${a.kind}`),
});

function router(): AlertRouter {
  const sinks = [recording("pager", "pagerduty"), recording("chat", "slack")];
  const log = {
    info: (o: object) => void logs.push(o),
    warn: (o: object) => void logs.push(o),
    error: (o: object) => void logs.push(o),
  };
  return new AlertRouter({
    sinks: new Map(sinks.map((s) => [s.name, s])),
    routes: new Map([
      ["cc-prod", { warning: ["chat"], critical: ["pager", "chat"] }],
      ["cc-other", { warning: ["chat"], critical: ["pager", "chat"] }],
    ]),
    log,
    now: () => now,
    sleep: async () => undefined,
    renotifyMs: HOUR,
    openAlerts: new RedisOpenAlertStore(redis, prefix),
  });
}

const entryKey = (key = "cc-prod/rotation-failed") => `${prefix}:alerts:open:${key}`;
const forge = (value: unknown, key?: string) =>
  redis.set(entryKey(key), typeof value === "string" ? value : JSON.stringify(value));

/** Raises the alert every 15 minutes (a health tick) until a trigger is sent; returns how long that took. */
async function deliveredAfter(r: AlertRouter, before?: () => Promise<unknown>): Promise<number> {
  const start = now;
  for (;;) {
    await before?.();
    await r.raise(alert);
    await r.flush();
    if (sent.some((s) => s.startsWith("pager:trigger"))) return now - start;
    if (now - start > 30 * 24 * HOUR) return Number.POSITIVE_INFINITY;
    now += 15 * 60_000;
  }
}

describe("a forged open-alert entry holds an alert for one re-notify window at most", () => {
  it("a time far in the future holds nothing: delivered at once, the entry overwritten, a warning logged", async () => {
    await forge({ alert, sentTo: ["pager", "chat"], at: T0 + 365 * 24 * HOUR });
    const r = router();
    expect(await deliveredAfter(r)).toBe(0);
    expect(logs.some((l) => l.event === "alert.open-entry-ignored" && l.reason === "its time is in the future")).toBe(
      true,
    );
    expect(JSON.parse((await redis.get(entryKey())) ?? "{}")).toMatchObject({ at: T0 });
    // The entry is the router's own again: the next repeat is held as usual.
    sent.length = 0;
    now += 60_000;
    await r.raise(alert);
    await r.flush();
    expect(sent).toEqual([]);
  });

  it("a time just inside the skew allowance holds for the window plus the skew, no longer", async () => {
    await forge({ alert, sentTo: ["pager", "chat"], at: T0 + CLOCK_SKEW_MS });
    expect(await deliveredAfter(router())).toBeLessThanOrEqual(HOUR + CLOCK_SKEW_MS + 15 * 60_000);
    expect(sent).toContain("pager:trigger:cc-prod/rotation-failed");
  });

  it.each([
    ["not JSON", "{{{ not json"],
    ["JSON null", "null"],
    ["the wrong shape", JSON.stringify({ alert: { credentialId: 1 }, sentTo: "pager", at: "soon" })],
    ["a huge route list", JSON.stringify({ alert, sentTo: Array.from({ length: 5_000 }, (_, i) => `r${i}`), at: T0 })],
  ])(
    "a value that does not parse (%s) holds nothing, is logged, and is overwritten by the send",
    async (_name, value) => {
      await forge(value);
      const r = router();
      await expect(r.raise(alert)).resolves.toBeUndefined();
      await r.flush();
      expect(sent.sort()).toEqual(["chat:trigger:cc-prod/rotation-failed", "pager:trigger:cc-prod/rotation-failed"]);
      expect(logs.some((l) => l.event === "alert.store-failed")).toBe(true);
      expect(JSON.parse((await redis.get(entryKey())) ?? "{}")).toEqual({ alert, sentTo: ["pager", "chat"], at: T0 });
    },
  );

  it("a sentTo that leaves a route out holds nothing from that route; one that claims every route holds for the window only", async () => {
    await forge({ alert, sentTo: ["chat"], at: T0 });
    expect(await deliveredAfter(router())).toBe(0);
    sent.length = 0;
    now = T0 + 24 * HOUR;
    await forge({ alert, sentTo: ["pager", "chat", "pager"], at: now });
    expect(await deliveredAfter(router())).toBeLessThanOrEqual(HOUR);
  });

  it("an entry filed under this alert but naming another holds nothing", async () => {
    await forge({ alert: { ...alert, credentialId: "cc-other" }, sentTo: ["pager", "chat"], at: T0 });
    expect(await deliveredAfter(router())).toBe(0);
    expect(logs.some((l) => l.event === "alert.open-entry-ignored" && l.reason === "it names another alert")).toBe(
      true,
    );
  });

  it("an entry rewritten fresh before every raise still cannot hold the alert past the process's backstop (24 h)", async () => {
    const r = router();
    const after = await deliveredAfter(r, () => forge({ alert, sentTo: ["pager", "chat"], at: now }));
    expect(after).toBeGreaterThanOrEqual(HOUR);
    expect(after).toBeLessThanOrEqual(24 * HOUR);
  });
});

describe("a forged open-alert entry cannot stop or redirect a resolve", () => {
  it("an entry that claims no route was sent: the PagerDuty incident is resolved all the same", async () => {
    const r = router();
    await r.raise(alert);
    await r.flush();
    await forge({ alert: { ...alert, severity: "warning" }, sentTo: [], at: now });
    await r.resolve("cc-prod", "rotation-failed");
    await r.flush();
    expect(sent.filter((s) => s.includes(":resolve:"))).toEqual(["pager:resolve:cc-prod/rotation-failed"]);
  });

  it("an entry with a time in the future or naming another credential resolves this alert, never the other's incident", async () => {
    const r = router();
    await forge({
      alert: { ...alert, credentialId: "cc-other" },
      sentTo: ["pager", "chat", "elsewhere"],
      at: now + 365 * 24 * HOUR,
    });
    await r.resolve("cc-prod", "rotation-failed");
    await r.flush();
    expect(sent).toEqual(["pager:resolve:cc-prod/rotation-failed"]);
    expect(await redis.exists(entryKey())).toBe(0);
  });

  it("garbage under the key: the resolve still goes to every deduplicating route and the garbage is gone", async () => {
    const r = router();
    await forge("\u0000garbage");
    await expect(r.resolve("cc-prod", "rotation-failed")).resolves.toBeUndefined();
    await r.flush();
    expect(sent).toEqual(["pager:resolve:cc-prod/rotation-failed"]);
    expect(await redis.exists(entryKey())).toBe(0);
  });
});
