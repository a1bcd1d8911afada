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
import { buildAlerter } from "./compose-alerter.js";
import { type RuntimeConfig, type RuntimeCredential, vendorCredential } from "../config/runtime-config.js";
import { pino } from "pino";

export interface Services {
  store: CachedSecretStore;
  vendorFor(credential: RuntimeCredential): KeyApiVendor;
  /** The vendor's key check for any credential (a key API's adapter, or the vendor's verifier). */
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
  const adapterContext = (c: RuntimeCredential) => ({
    store,
    onRequest: (operation: string, status: number | "error") =>
      metrics.vendorRequestsTotal.labels({ vendor: c.vendor, operation, status: String(status) }).inc(),
  });
  // One adapter per vendor account, so credentials of one account share its management session.
  const keyApis = new Map<string, KeyApiVendor>();
  const vendorFor = (c: RuntimeCredential): KeyApiVendor => {
    const module = c.module;
    if (module.flow !== "key-api")
      throw new Error(`${c.id}: ${module.name} has no key API (its keys are made by a person)`);
    const vc = vendorCredential(c);
    const account = `${c.vendor}|${module.accountOf(vc)}`;
    let adapter = keyApis.get(account);
    if (!adapter) {
      adapter = module.keyApi(vc, adapterContext(c));
      keyApis.set(account, adapter);
    }
    return adapter;
  };
  const verifiers = new Map<string, KeyVerifier>();
  const verifierFor = (c: RuntimeCredential): KeyVerifier => {
    const module = c.module;
    if (module.flow === "key-api") return vendorFor(c);
    const key = `${c.vendor}|${c.baseUrl}`;
    let verifier = verifiers.get(key);
    if (!verifier) {
      verifier = module.verifier(vendorCredential(c), adapterContext(c));
      verifiers.set(key, verifier);
    }
    return verifier;
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
