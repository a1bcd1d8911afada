/**
 * Builds the alert router from the inventory: resolves each route's secret references
 * ({ env } or { file }) once at start, and maps credentials to their routes. A reference that
 * cannot be resolved is a ConfigError naming the route and the variable or file.
 */
import type { Inventory, SecretRef } from "../config/inventory-schema.js";
import { ConfigError, describeError } from "../core/errors.js";
import { readBoundedFileSync } from "../config/bounded-read.js";
import { SecretValue } from "../core/secret.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { AlertRouter, type CredentialRoutes } from "../alerts/alert-router.js";
import { shared } from "../config/load-runtime.js";
import { IdTable } from "../config/id-table.js";
import { type AlertSink, pagerDutySink, slackSink, webhookSink } from "../alerts/alert-sinks.js";

export async function buildAlerter(
  inventory: Inventory,
  o: { log: Logger; metrics?: Metrics; env: NodeJS.ProcessEnv },
): Promise<AlertRouter> {
  const problems: string[] = [];
  const resolve = (route: string, field: string, ref: SecretRef): SecretValue | undefined => {
    if ("env" in ref) {
      const v = o.env[ref.env];
      if (v === undefined || v === "")
        problems.push(`alertRoutes.${route}.${field}: environment variable ${ref.env} is not set`);
      return v ? new SecretValue(v.trim()) : undefined;
    }
    try {
      // A regular file of at most 64 KiB: a FIFO or /dev/zero fails at once instead of hanging start-up.
      return new SecretValue(readBoundedFileSync(ref.file, { what: "the file", maxBytes: 65_536 }).trim());
    } catch (err) {
      problems.push(`alertRoutes.${route}.${field}: ${describeError(err)}`);
      return undefined;
    }
  };
  const sinks = new Map<string, AlertSink>();
  for (const [name, route] of Object.entries(inventory.alertRoutes)) {
    if (route.type === "webhook") {
      const secret = route.hmacSecret ? resolve(name, "hmacSecret", route.hmacSecret) : undefined;
      sinks.set(name, webhookSink(name, route.url, secret));
    } else if (route.type === "slack") {
      const url = resolve(name, "webhookUrl", route.webhookUrl);
      if (url) sinks.set(name, slackSink(name, url));
    } else {
      const key = resolve(name, "routingKey", route.routingKey);
      if (key) sinks.set(name, pagerDutySink(name, key, route.url));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Credentials with the same routes share one entry (most do; a worker holds them all).
  const distinct = new Map<string, CredentialRoutes>();
  const routes = new IdTable<CredentialRoutes>(
    inventory.credentials.map((c) => [
      c.id,
      shared(distinct, {
        warning: c.alerts.warning,
        critical: c.alerts.critical,
        ...(c.operator ? { escalate: c.operator.escalateTo } : {}),
      }),
    ]),
  );
  return new AlertRouter({ sinks, routes, log: o.log, ...(o.metrics ? { metrics: o.metrics } : {}) });
}
