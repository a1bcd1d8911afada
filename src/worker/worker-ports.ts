/**
 * The ports a worker runs on (the composition root builds them; tests build them from fakes):
 * the store, each credential's vendor adapters, alerts, metrics, logs and the clock.
 */
import type { OpenAlertStore } from "../alerts/open-alert-store.js";
import type { RuntimeCredential } from "../config/runtime-config.js";
import type { Alerter, Clock, KeyApiVendor, KeyVerifier, ReplicaWatch, SecretStore } from "../core/ports.js";
import type { ReadyCheck } from "../http/http-server.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

export interface WorkerPorts {
  store: SecretStore;
  vendorFor(credential: RuntimeCredential): KeyApiVendor;
  verifierFor(credential: RuntimeCredential): KeyVerifier;
  /** Where a credential's secret's replicas stand (absent: revocation does not wait for replicas). */
  replicasFor?(credential: RuntimeCredential): ReplicaWatch;
  alerter: Alerter & {
    flush?(): Promise<void>;
    keepOpenAlertsIn?(store: OpenAlertStore): void;
    openKeys?(): Promise<Set<string> | undefined>;
  };
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  readyChecks?: ReadyCheck[];
}
