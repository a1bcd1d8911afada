/**
 * The composition root: builds the real ports from the inventory and the environment. The store
 * is the AWS SDK client (AWS_REGION, the credentials chain, AWS_ENDPOINT_URL_SECRETS_MANAGER),
 * wrapped in the version cache; vendors are one client per account (base URL + management login)
 * so the management session is shared; alerts go through the router to the configured sinks.
 */
import type { Inventory } from "../config/inventory-schema.js";
import type { Alerter, Clock, KeyApiVendor, KeyVerifier, ReplicaWatch, SecretStore } from "../core/ports.js";
import { systemClock } from "../core/ports.js";
import { type Logger, createLogger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { AwsSecretStore, createSecretsManagerClient } from "../store/aws-secret-store.js";
import { CachedSecretStore } from "../store/cached-secret-store.js";
import { RoutedSecretStore } from "../store/routed-secret-store.js";
import { AwsReplicaWatch } from "../store/aws-replica-watch.js";
import { buildAlerter } from "./compose-alerter.js";
import {
  type AwsPlace,
  type RuntimeConfig,
  type RuntimeCredential,
  vendorCredential,
} from "../config/runtime-config.js";
import { pino } from "pino";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";

/**
 * A role's credentials, assumed by the SDK's own provider and refreshed by it before they expire.
 * STS is reached in the secret's region (AWS_ENDPOINT_URL_STS points it elsewhere, as the SDK reads it).
 */
function assumedRole(roleArn: string, externalId: string | undefined, region: string | undefined) {
  return fromTemporaryCredentials({
    params: { RoleArn: roleArn, RoleSessionName: "key-rotator", ...(externalId ? { ExternalId: externalId } : {}) },
    ...(region ? { clientConfig: { region } } : {}),
  });
}

async function workerMetrics(env: NodeJS.ProcessEnv, settings: RuntimeConfig["settings"]): Promise<Metrics> {
  const { createMetrics, perCredentialSeriesFrom } = await import("../observability/metrics.js");
  // A raised health or usage flag is set again by each health tick that still finds it: two
  // ticks without one mean another replica's check has the credential now.
  return createMetrics({
    perCredential: perCredentialSeriesFrom(env),
    flagsFreshForMs: 2 * settings.healthCheckEveryMs,
  });
}

export interface Services {
  store: CachedSecretStore;
  vendorFor(credential: RuntimeCredential): KeyApiVendor;
  /** The vendor's key check for any credential (a key API's adapter, or the vendor's verifier). */
  verifierFor(credential: RuntimeCredential): KeyVerifier;
  /** Where the credential's secret's replicas stand. */
  replicasFor(credential: RuntimeCredential): ReplicaWatch;
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
  // Imported when wanted: a CLI command passes metrics that count nothing, and does not load prom-client.
  const metrics = options.metrics ?? (await workerMetrics(options.env ?? process.env, runtime.settings));
  // One client per region and role: a fleet may span regions and accounts (DESIGN.md "Scale-out").
  const clients = new Map<string, { client: SecretsManagerClient; store: AwsSecretStore }>();
  const storeIn = (place: AwsPlace) => {
    const key = JSON.stringify([place.region ?? "", place.roleArn ?? "", place.externalId ?? ""]);
    let entry = clients.get(key);
    if (!entry) {
      const client = createSecretsManagerClient({
        ...(place.region ? { region: place.region } : {}),
        ...(place.roleArn ? { credentials: assumedRole(place.roleArn, place.externalId, place.region) } : {}),
      });
      const onCall = (operation: string, result: string) =>
        metrics.storeRequestsTotal.labels({ operation, result }).inc();
      entry = { client, store: new AwsSecretStore(client, { onCall }) };
      clients.set(key, entry);
    }
    return entry.store;
  };
  const home = storeIn({});
  const watches = new Map<string, ReplicaWatch>();
  // A secret's replicas are read in their regions with the credentials that reach the primary.
  const replicasFor = (c: RuntimeCredential): ReplicaWatch => {
    const key = JSON.stringify([c.aws.region ?? "", c.aws.roleArn ?? "", c.aws.externalId ?? ""]);
    let watch = watches.get(key);
    if (!watch) {
      storeIn(c.aws);
      const primary = (clients.get(key) as { client: SecretsManagerClient }).client;
      watch = new AwsReplicaWatch(primary, (region) => {
        storeIn({ ...c.aws, region });
        const there = JSON.stringify([region, c.aws.roleArn ?? "", c.aws.externalId ?? ""]);
        return (clients.get(there) as { client: SecretsManagerClient }).client;
      });
      watches.set(key, watch);
    }
    return watch;
  };
  // A vendor's management login lives beside its credential's secret (the first to name it).
  const logins = new Map<string, AwsSecretStore>();
  for (const c of runtime.credentials) {
    for (const id of c.module.secretsRead(vendorCredential(c))) if (!logins.has(id)) logins.set(id, storeIn(c.aws));
  }
  // Only secrets away from home are routed: most fleets live in one place, and a map of every
  // secret id held 3.7 MiB at 100,000 credentials.
  const routes = new Map<string, SecretStore>();
  let homeHolds = false;
  const place = (secretId: string, store: AwsSecretStore) => {
    if (store !== home) routes.set(secretId, store);
    else {
      homeHolds = true;
      routes.delete(secretId);
    }
  };
  for (const c of runtime.credentials) {
    place(c.secretId, storeIn(c.aws));
    logins.delete(c.secretId);
  }
  for (const [id, store] of logins) place(id, store);
  const store = new CachedSecretStore(new RoutedSecretStore(routes, home, homeHolds));
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
    replicasFor,
    alerter,
    metrics,
    log,
    clock: systemClock,
    async close() {
      await alerter.flush?.();
      for (const entry of clients.values()) entry.client.destroy();
    },
  };
}
