/** Each sink against a local HTTP receiver, and the router's routing, suppression, reminders, resolve and retry. */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AlertRouter } from "../../src/alerts/alert-router.js";
import { type AlertSink, pagerDutySink, slackSink, webhookSink } from "../../src/alerts/alert-sinks.js";
import type { Alert } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { createMetrics } from "../../src/observability/metrics.js";

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
let server: Server;
let base: string;
const hits: Hit[] = [];
let failNext = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hits.push({ path: req.url ?? "", headers: req.headers, body });
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(503).end();
      } else res.writeHead(req.url?.startsWith("/pd") ? 202 : 200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => void server.close());
beforeEach(() => {
  hits.length = 0;
  failNext = 0;
});

const alert: Alert = {
  credentialId: "cc-prod",
  severity: "critical",
  kind: "rotation-failed",
  summary: "rotation failed at step verify: 503",
  step: "verify",
  rotationId: "5d0c1f2e-aaaa",
  details: { attempts: 3 },
};

describe("sinks", () => {
  it("webhook: the JSON body is signed with HMAC-SHA256 of the exact bytes", async () => {
    const secret = "hook-secret-123456";
    await webhookSink("hook", `${base}/hook`, new SecretValue(secret), () => 0).send(alert, "trigger");
    const hit = hits[0];
    if (!hit) throw new Error("no request");
    const expected = `sha256=${createHmac("sha256", secret).update(hit.body).digest("hex")}`;
    expect(hit.headers["x-keyrotator-signature"]).toBe(expected);
    expect(JSON.parse(hit.body)).toMatchObject({
      version: 1,
      action: "trigger",
      credentialId: "cc-prod",
      severity: "critical",
      kind: "rotation-failed",
      step: "verify",
      dedupKey: "key-rotator/cc-prod/rotation-failed",
      at: "1970-01-01T00:00:00.000Z",
    });
    expect(hit.body).not.toContain(secret);
  });

  it("slack: one tidy line, and [RESOLVED] on resolve", async () => {
    const sink = slackSink("slack", new SecretValue(`${base}/slack/T000/B000/xyz`));
    await sink.send(alert, "trigger");
    await sink.send(alert, "resolve");
    expect(hits.map((h) => (JSON.parse(h.body) as { text: string }).text)).toEqual([
      "[CRITICAL] cc-prod: rotation failed at step verify: 503 (step verify, rotation 5d0c1f2e)",
      "[RESOLVED] cc-prod: rotation-failed resolved (step verify, rotation 5d0c1f2e)",
    ]);
  });

  it("pagerduty: Events v2 trigger with a dedup key, and a resolve with only the key fields", async () => {
    const sink = pagerDutySink("pd", new SecretValue("R0UTINGKEY0000000000000000000000"), `${base}/pd`);
    await sink.send(alert, "trigger");
    await sink.send(alert, "resolve");
    expect(JSON.parse(hits[0]?.body ?? "")).toEqual({
      routing_key: "R0UTINGKEY0000000000000000000000",
      event_action: "trigger",
      dedup_key: "key-rotator/cc-prod/rotation-failed",
      payload: {
        summary: "cc-prod: rotation failed at step verify: 503",
        source: "key-rotator",
        severity: "critical",
        component: "cc-prod",
        class: "rotation-failed",
        custom_details: { step: "verify", rotationId: "5d0c1f2e-aaaa", attempts: 3 },
      },
    });
    expect(JSON.parse(hits[1]?.body ?? "")).toEqual({
      routing_key: "R0UTINGKEY0000000000000000000000",
      event_action: "resolve",
      dedup_key: "key-rotator/cc-prod/rotation-failed",
    });
  });

  it("a sink's error names the sink and status, never the Slack URL", async () => {
    failNext = 1;
    const err = await slackSink("ops-slack", new SecretValue(`${base}/slack/T000/B000/secretpart`))
      .send(alert, "trigger")
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe("alert sink ops-slack: answered 503");
  });
});

describe("AlertRouter", () => {
  const logs: string[] = [];
  const log = {
    info: (o: object) => void logs.push(JSON.stringify(o)),
    warn: (o: object) => void logs.push(JSON.stringify(o)),
    error: (o: object) => void logs.push(JSON.stringify(o)),
  };
  const slept: number[] = [];
  const recording = (name: string, sent: string[], failures = 0): AlertSink => ({
    name,
    type: "webhook",
    async send(a, action) {
      if (failures-- > 0) throw new Error(`alert sink ${name}: answered 503`);
      sent.push(`${name}:${action}:${a.kind}:${a.severity}`);
    },
  });
  const router = (sinks: AlertSink[], now = () => 0) =>
    new AlertRouter({
      sinks: new Map(sinks.map((s) => [s.name, s])),
      routes: new Map([["cc-prod", { warning: ["chat"], critical: ["pager", "chat"], escalate: ["boss"] }]]),
      log,
      now,
      sleep: async (ms) => void slept.push(ms),
      metrics: createMetrics({ defaultMetrics: false }),
    });

  it("routes by severity, suppresses repeats while open, resolves only what was sent", async () => {
    const sent: string[] = [];
    const r = router([recording("pager", sent), recording("chat", sent), recording("boss", sent)]);
    await r.raise(alert);
    await r.raise(alert);
    await r.raise({ ...alert, kind: "old-key-in-use", severity: "warning" });
    await r.resolve("cc-prod", "rotation-failed");
    await r.resolve("cc-prod", "never-raised");
    await r.flush();
    expect(sent.sort()).toEqual([
      "chat:resolve:rotation-failed:critical",
      "chat:trigger:old-key-in-use:warning",
      "chat:trigger:rotation-failed:critical",
      "pager:resolve:rotation-failed:critical",
      "pager:trigger:rotation-failed:critical",
    ]);
  });

  it("re-notifies an open alert after the re-notify interval", async () => {
    const sent: string[] = [];
    let t = 0;
    const r = router([recording("pager", sent), recording("chat", sent)], () => t);
    await r.raise(alert);
    t = 3_600_001;
    await r.raise(alert);
    await r.flush();
    expect(sent.filter((s) => s.startsWith("pager:trigger"))).toHaveLength(2);
  });

  it("a reminder repeated after its own, shorter interval is sent; a plain repeat is still suppressed", async () => {
    const sent: string[] = [];
    let t = 0;
    const r = router([recording("pager", sent), recording("chat", sent)], () => t);
    const reminder: Alert = { ...alert, kind: "pair-needed", severity: "warning", reminder: true };
    await r.raise(reminder);
    await r.raise(alert);
    t = 600_000; // operator.remindEvery: 10m, well inside the router's hour
    await r.raise(reminder);
    await r.raise(alert);
    await r.resolve("cc-prod", "pair-needed");
    await r.flush();
    // The resolve also goes to the deduplicating pager route (a no-op there): the open entry, which
    // Redis holds and anyone there could forge, is not trusted to say the pager never got a trigger.
    expect(sent.filter((s) => s.includes("pair-needed")).sort()).toEqual([
      "chat:resolve:pair-needed:warning",
      "chat:trigger:pair-needed:warning",
      "chat:trigger:pair-needed:warning",
      "pager:resolve:pair-needed:warning",
    ]);
    expect(sent.filter((s) => s.startsWith("pager:trigger:rotation-failed"))).toHaveLength(1);
  });

  it("a critical that drops to a warning still resolves at every sink that got a trigger", async () => {
    const sent: string[] = [];
    const r = router([recording("pager", sent), recording("chat", sent)]);
    await r.raise(alert);
    await r.raise({ ...alert, severity: "warning" });
    await r.resolve("cc-prod", "rotation-failed");
    await r.flush();
    expect(sent.filter((s) => s.includes(":resolve:")).sort()).toEqual([
      "chat:resolve:rotation-failed:warning",
      "pager:resolve:rotation-failed:warning",
    ]);
  });

  it("retries a failing sink with backoff and delivers once; a sink that keeps failing is logged, never thrown", async () => {
    const sent: string[] = [];
    slept.length = 0;
    const r = router([recording("pager", sent, 2), recording("chat", sent, 99)]);
    await expect(r.raise(alert)).resolves.toBeUndefined();
    await r.flush();
    expect(sent).toEqual(["pager:trigger:rotation-failed:critical"]);
    expect(slept.sort()).toEqual([1000, 1000, 2000, 2000]);
    expect(logs.some((l) => l.includes('"alert.failed"') && l.includes('"chat"'))).toBe(true);
  });

  it("escalates to the credential's escalation routes", async () => {
    const sent: string[] = [];
    const r = router([recording("boss", sent)]);
    await r.escalate({ ...alert, kind: "operator-overdue" });
    await r.flush();
    expect(sent).toEqual(["boss:trigger:operator-overdue:critical"]);
  });
});
