/**
 * The composition root: builds the real ports from the inventory and the environment. The store
 * is the AWS SDK client (AWS_REGION, the credentials chain, AWS_ENDPOINT_URL_SECRETS_MANAGER),
 * wrapped in the version cache; vendors are one client per account (base URL + management login)
 * so the management session is shared; alerts go through the router to the configured sinks.
 */
import type { Inventory } from "../config/inventory-schema.js";
import type { Alerter, Clock, KeyApiVendor, KeyVerifier } from "../core/ports.js";
import { systemClock } from "../core/ports.js";
import { type Logger, createLogger } from "../observability/logger.js";
import { type Metrics, createMetrics } from "../observability/metrics.js";
import { AwsSecretStore, createSecretsManagerClient } from "../store/aws-secret-store.js";
import { CachedSecretStore } from "../store/cached-secret-store.js";
import { CallCovVendor } from "../vendors/callcov/callcov-vendor.js";
import { JustCallVerifier } from "../vendors/justcall/justcall-verifier.js";
import { buildAlerter } from "./compose-alerter.js";
import { loadManagementLogin } from "../vendors/callcov/callcov-login.js";
import type { RuntimeConfig, RuntimeCredential } from "../config/runtime-config.js";
import { pino } from "pino";

export interface Services {
  store: CachedSecretStore;
  vendorFor(credential: RuntimeCredential): KeyApiVendor;
  /** The vendor's key check for any credential (CallCov's adapter, or JustCall's verifier). */
  verifierFor(credential: RuntimeCredential): KeyVerifier;
  alerter: Alerter & { flush?(): Promise<void> };
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  close(): Promise<void>;
}

export async function createServices(
  inventory: Inventory,
  runtime: RuntimeConfig,
  options: {
    logLevel?: string;
    logTo?: "stdout" | "stderr";
    log?: Logger;
    metrics?: Metrics;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<Services> {
  const log =
    options.log ??
    createLogger({
      ...(options.logLevel ? { level: options.logLevel } : {}),
      ...(options.logTo === "stderr" ? { destination: pino.destination(2) } : {}),
    });
  const metrics = options.metrics ?? createMetrics();
  const client = createSecretsManagerClient({});
  const store = new CachedSecretStore(
    new AwsSecretStore(client, {
      onCall: (operation, result) => metrics.storeRequestsTotal.labels({ operation, result }).inc(),
    }),
  );
  const vendors = new Map<string, KeyApiVendor>();
  const vendorFor = (c: RuntimeCredential): KeyApiVendor => {
    const managementSecretId = c.managementSecretId;
    if (!managementSecretId) throw new Error(`${c.id}: a CallCov credential needs managementSecretId`);
    const key = `${c.baseUrl}|${managementSecretId}|${c.mode}`;
    let vendor = vendors.get(key);
    if (!vendor) {
      vendor = new CallCovVendor({
        baseUrl: c.baseUrl,
        mode: c.mode,
        loadLogin: () => loadManagementLogin(store, managementSecretId),
        onRequest: (operation, status) =>
          metrics.vendorRequestsTotal.labels({ vendor: "callcov", operation, status: String(status) }).inc(),
      });
      vendors.set(key, vendor);
    }
    return vendor;
  };
  const justcall = new Map<string, JustCallVerifier>();
  const verifierFor = (c: RuntimeCredential): KeyVerifier => {
    if (c.vendor === "callcov") return vendorFor(c);
    let v = justcall.get(c.baseUrl);
    if (!v) {
      v = new JustCallVerifier({
        baseUrl: c.baseUrl,
        onRequest: (operation, status) =>
          metrics.vendorRequestsTotal.labels({ vendor: "justcall", operation, status: String(status) }).inc(),
      });
      justcall.set(c.baseUrl, v);
    }
    return v;
  };
  const alerter = await buildAlerter(inventory, { log, metrics, env: options.env ?? process.env });
  return {
    store,
    vendorFor,
    verifierFor,
    alerter,
    metrics,
    log,
    clock: systemClock,
    async close() {
      await alerter.flush?.();
      client.destroy();
    },
  };
}
