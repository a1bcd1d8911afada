/**
 * Alert sinks: one small function per destination that sends one alert or its resolution and
 * throws on anything but success. Generic webhook (JSON, HMAC-SHA256 signed body), Slack incoming
 * webhook, PagerDuty Events v2 (trigger / resolve with a dedup key). Errors name the sink and the
 * status, never the URL of a Slack hook or a routing key (both are credentials).
 */
import { createHmac } from "node:crypto";
import { HttpCallError, httpCall } from "../core/http-call.js";
import type { Alert } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";

export type AlertAction = "trigger" | "resolve";

export interface AlertSink {
  name: string;
  type: "webhook" | "slack" | "pagerduty" | "log";
  send(alert: Alert, action: AlertAction): Promise<void>;
}

export function dedupKey(alert: Pick<Alert, "credentialId" | "kind">): string {
  return `key-rotator/${alert.credentialId}/${alert.kind}`;
}

export function webhookSink(
  name: string,
  url: string,
  hmacSecret?: SecretValue,
  now: () => number = Date.now,
): AlertSink {
  return {
    name,
    type: "webhook",
    async send(alert, action) {
      const at = new Date(now()).toISOString();
      const body = JSON.stringify({ version: 1, action, ...alert, dedupKey: dedupKey(alert), at });
      const headers: Record<string, string> = { "content-type": "application/json", "x-keyrotator-timestamp": at };
      if (hmacSecret)
        headers["x-keyrotator-signature"] =
          `sha256=${createHmac("sha256", hmacSecret.reveal()).update(body).digest("hex")}`;
      await post(name, url, body, headers, [200, 201, 202, 204]);
    },
  };
}

export function slackSink(name: string, webhookUrl: SecretValue): AlertSink {
  return {
    name,
    type: "slack",
    async send(alert, action) {
      const head = action === "resolve" ? "[RESOLVED]" : `[${alert.severity.toUpperCase()}]`;
      const where = [
        alert.step ? `step ${alert.step}` : undefined,
        alert.rotationId ? `rotation ${alert.rotationId.slice(0, 8)}` : undefined,
      ]
        .filter(Boolean)
        .join(", ");
      const text = `${head} ${alert.credentialId}: ${action === "resolve" ? `${alert.kind} resolved` : alert.summary}${where ? ` (${where})` : ""}`;
      await post(name, webhookUrl.reveal(), JSON.stringify({ text }), { "content-type": "application/json" }, [200]);
    },
  };
}

export function pagerDutySink(name: string, routingKey: SecretValue, url: string): AlertSink {
  return {
    name,
    type: "pagerduty",
    async send(alert, action) {
      const base = { routing_key: routingKey.reveal(), event_action: action, dedup_key: dedupKey(alert) };
      const body =
        action === "resolve"
          ? base
          : {
              ...base,
              payload: {
                summary: `${alert.credentialId}: ${alert.summary}`.slice(0, 1024),
                source: "key-rotator",
                severity:
                  alert.severity === "critical" ? "critical" : alert.severity === "warning" ? "warning" : "info",
                component: alert.credentialId,
                class: alert.kind,
                custom_details: { step: alert.step, rotationId: alert.rotationId, ...alert.details },
              },
            };
      await post(name, url, JSON.stringify(body), { "content-type": "application/json" }, [200, 202]);
    },
  };
}

async function post(
  name: string,
  url: string,
  body: string,
  headers: Record<string, string>,
  ok: number[],
): Promise<void> {
  let status: number;
  try {
    status = (await httpCall(url, { method: "POST", headers, body, timeoutMs: 10_000 })).status;
  } catch (err) {
    throw new Error(
      `alert sink ${name}: ${err instanceof HttpCallError && err.kind === "timeout" ? "no answer within 10s" : "connection failed"}`,
    );
  }
  if (!ok.includes(status)) throw new Error(`alert sink ${name}: answered ${status}`);
}
