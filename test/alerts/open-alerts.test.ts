/**
 * Open alerts shared through Redis: routers on two replicas (and one after a restart) agree on what
 * is open, so a resolve reaches the PagerDuty incident raised elsewhere and repeats are sent once.
 * Real Redis, real HTTP to a local PagerDuty and Slack receiver. Also: a store that fails or hangs
 * never stops an alert, and nothing secret reaches Redis.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AlertRouter, resolvingOnlyOpen } from "../../src/alerts/alert-router.js";
import { type AlertSink, pagerDutySink, slackSink } from "../../src/alerts/alert-sinks.js";
import type { OpenAlertStore } from "../../src/alerts/open-alert-store.js";
import { RedisOpenAlertStore } from "../../src/alerts/redis-open-alert-store.js";
import type { Alert } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { until } from "../support/alert-receiver.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const ROUTING_KEY = "R0UTINGKEY-open-alerts-0000000000";
const SLACK_PATH = "/slack/T000/B000/hooksecretpart";

interface Hit {
  path: string;
  body: Record<string, unknown>;
}
let server: Server;
let base: string;
const hits: Hit[] = [];
let redis: Redis;
let prefix: string;
const replicaConnections: Redis[] = [];

beforeAll(async () => {
  redis = testRedis();
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hits.push({ path: req.url ?? "", body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(req.url === "/pd" ? 202 : 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  redis.disconnect();
});
beforeEach(() => {
  hits.length = 0;
  prefix = testPrefix("alerts");
});
afterEach(async () => {
  for (const c of replicaConnections.splice(0)) c.disconnect();
  await dropPrefix(redis, prefix);
});

const alert: Alert = {
  credentialId: "cc-prod",
  severity: "critical",
  kind: "rotation-failed",
  summary: "rotation failed at step verify: 503",
  step: "verify",
  rotationId: "5d0c1f2e-aaaa",
};
const logs: string[] = [];
const log = {
  info: (o: object) => void logs.push(JSON.stringify(o)),
  warn: (o: object) => void logs.push(JSON.stringify(o)),
  error: (o: object) => void logs.push(JSON.stringify(o)),
};

/** One replica's router: its own Redis connection, the shared prefix. */
function replica(o: { store?: OpenAlertStore; sinks?: AlertSink[]; storeTimeoutMs?: number } = {}): AlertRouter {
  const connection = redis.duplicate();
  replicaConnections.push(connection);
  const sinks = o.sinks ?? [
    pagerDutySink("pager", new SecretValue(ROUTING_KEY), `${base}/pd`),
    slackSink("chat", new SecretValue(`${base}${SLACK_PATH}`)),
  ];
  return new AlertRouter({
    sinks: new Map(sinks.map((s) => [s.name, s])),
    routes: new Map([["cc-prod", { warning: ["chat"], critical: ["pager", "chat"] }]]),
    log,
    sleep: async () => undefined,
    openAlerts: o.store ?? new RedisOpenAlertStore(connection, prefix),
    ...(o.storeTimeoutMs ? { storeTimeoutMs: o.storeTimeoutMs } : {}),
  });
}
const pd = (action: string) => hits.filter((h) => h.path === "/pd" && h.body.event_action === action);

describe("open alerts in Redis", () => {
  it("a resolve decided on another replica closes the PagerDuty incident, once", async () => {
    const [a, b] = [replica(), replica()];
    await a.raise(alert);
    await a.flush();
    await b.resolve("cc-prod", "rotation-failed");
    await b.resolve("cc-prod", "rotation-failed");
    await a.resolve("cc-prod", "rotation-failed");
    await until(() => pd("resolve").length === 1, "the PagerDuty resolve");
    await Promise.all([a.flush(), b.flush()]);
    expect(pd("resolve")).toEqual([
      {
        path: "/pd",
        body: { routing_key: ROUTING_KEY, event_action: "resolve", dedup_key: "key-rotator/cc-prod/rotation-failed" },
      },
    ]);
    expect(hits.filter((h) => h.path === SLACK_PATH).map((h) => h.body.text)).toEqual([
      "[CRITICAL] cc-prod: rotation failed at step verify: 503 (step verify, rotation 5d0c1f2e)",
      "[RESOLVED] cc-prod: rotation-failed resolved (step verify, rotation 5d0c1f2e)",
    ]);
  });

  it("the same alert raised on two replicas within the re-notify window is sent once", async () => {
    const [a, b] = [replica(), replica()];
    await a.raise(alert);
    await b.raise({ ...alert, summary: "rotation failed at step verify: 503 (retry)" });
    await Promise.all([a.flush(), b.flush()]);
    expect(pd("trigger")).toHaveLength(1);
    expect(hits.filter((h) => h.path === SLACK_PATH)).toHaveLength(1);
  });

  it("a router started after a restart still resolves what the old one raised", async () => {
    const before = replica();
    await before.raise(alert);
    await before.flush();
    const after = replica();
    await after.raise(alert);
    await after.resolve("cc-prod", "rotation-failed");
    await after.flush();
    expect(pd("trigger")).toHaveLength(1);
    expect(pd("resolve")).toHaveLength(1);
  });

  it("keeps only the alert, route names and a time, with an expiry; never a sink's secret", async () => {
    await replica().raise({ ...alert, details: { attempts: 3 } });
    const keys = await redis.keys(`${prefix}*`);
    expect(keys).toEqual([`${prefix}:alerts:open:cc-prod/rotation-failed`]);
    const raw = (await redis.get(keys[0] as string)) ?? "";
    expect(JSON.parse(raw)).toEqual({
      alert: { ...alert, details: { attempts: 3 } },
      sentTo: ["pager", "chat"],
      at: expect.any(Number),
    });
    expect(raw).not.toContain(ROUTING_KEY);
    expect(raw).not.toContain("hooksecretpart");
    const ttl = await redis.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(29 * 86_400_000);
    expect(ttl).toBeLessThanOrEqual(30 * 86_400_000);
  });

  it("a value in Redis that does not parse is reported and the alert is sent anyway", async () => {
    await redis.set(
      `${prefix}:alerts:open:cc-prod/rotation-failed`,
      JSON.stringify({ alert: { credentialId: 1 }, sentTo: "pager" }),
    );
    logs.length = 0;
    const r = replica();
    await r.raise(alert);
    await r.flush();
    expect(pd("trigger")).toHaveLength(1);
    expect(logs.some((l) => l.includes('"alert.store-failed"') && l.includes("unexpected shape"))).toBe(true);
  });
});

describe("a health tick's snapshot of the open alerts", () => {
  it("lists every open alert of this prefix in one pass, and forgets a resolved one", async () => {
    const r = replica();
    await r.raise(alert);
    await r.raise({ ...alert, credentialId: "cc-other", kind: "health-verify" });
    await redis.set(`${prefix}x:alerts:open:cc-prod/not-ours`, "{}");
    expect(await r.openKeys()).toEqual(new Set(["cc-prod/rotation-failed", "cc-other/health-verify"]));
    await r.resolve("cc-prod", "rotation-failed");
    expect(await r.openKeys()).toEqual(new Set(["cc-other/health-verify"]));
    await redis.del(`${prefix}x:alerts:open:cc-prod/not-ours`);
    await r.flush();
  });

  it("resolves only what the snapshot holds, so a credential that is fine costs no store call; a raise joins it", async () => {
    const calls: string[] = [];
    const inner = new RedisOpenAlertStore(redis, prefix);
    const counting: OpenAlertStore = {
      get: (k) => (calls.push(`get ${k}`), inner.get(k)),
      set: (k, v) => (calls.push(`set ${k}`), inner.set(k, v)),
      take: (k) => (calls.push(`take ${k}`), inner.take(k)),
      keys: () => (calls.push("keys"), inner.keys()),
    };
    const r = replica({ store: counting });
    await r.raise(alert);
    await r.flush();
    calls.length = 0;
    const tick = resolvingOnlyOpen(r, (await r.openKeys()) ?? new Set());
    for (let i = 0; i < 50; i++) await tick.resolve(`cc-${i}`, "health-verify");
    await tick.raise({ ...alert, credentialId: "cc-7", kind: "health-verify" });
    await tick.resolve("cc-7", "health-verify");
    await tick.resolve("cc-prod", "rotation-failed");
    await tick.resolve("cc-prod", "rotation-failed");
    await r.flush();
    expect(calls).toEqual([
      "keys",
      "get cc-7/health-verify",
      "set cc-7/health-verify",
      "take cc-7/health-verify",
      "take cc-prod/rotation-failed",
    ]);
    expect(pd("resolve").map((h) => h.body.dedup_key)).toEqual(["key-rotator/cc-prod/rotation-failed"]);
  });
});

describe("when the open-alert store fails", () => {
  const sent: string[] = [];
  const recording = (name: string, type: AlertSink["type"]): AlertSink => ({
    name,
    type,
    send: async (a, action) => void sent.push(`${name}:${action}:${a.kind}`),
  });
  const sinks = [recording("pager", "pagerduty"), recording("chat", "slack")];
  const broken: OpenAlertStore = {
    get: () => Promise.reject(new Error("Connection is closed.")),
    set: () => Promise.reject(new Error("Connection is closed.")),
    take: () => Promise.reject(new Error("Connection is closed.")),
    keys: () => Promise.reject(new Error("Connection is closed.")),
  };
  const hanging: OpenAlertStore = {
    get: () => new Promise(() => undefined),
    set: () => new Promise(() => undefined),
    take: () => new Promise(() => undefined),
    keys: () => new Promise(() => undefined),
  };
  beforeEach(() => void (sent.length = 0));

  it("cannot list the open alerts: says so (undefined), so a health tick resolves each one the slow way", async () => {
    expect(await replica({ store: broken, sinks }).openKeys()).toBeUndefined();
  });

  it("raises anyway and resolves to the routes that dedupe by key (PagerDuty), not to chat; never throws", async () => {
    const r = replica({ store: broken, sinks });
    await expect(r.raise(alert)).resolves.toBeUndefined();
    await expect(r.resolve("cc-prod", "rotation-failed")).resolves.toBeUndefined();
    await r.flush();
    expect(sent.sort()).toEqual([
      "chat:trigger:rotation-failed",
      "pager:resolve:rotation-failed",
      "pager:trigger:rotation-failed",
    ]);
  });

  it("a store that never answers holds an alert up for storeTimeoutMs at most", async () => {
    const r = replica({ store: hanging, sinks, storeTimeoutMs: 50 });
    const started = Date.now();
    await r.raise(alert);
    await r.resolve("cc-prod", "rotation-failed");
    await r.flush();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(sent.sort()).toEqual([
      "chat:trigger:rotation-failed",
      "pager:resolve:rotation-failed",
      "pager:trigger:rotation-failed",
    ]);
  });
});
