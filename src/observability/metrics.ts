/**
 * The Prometheus metrics the worker exports. Names and labels here are a contract: the Helm
 * chart's PrometheusRule and the README refer to them, and a test checks both. Labels hold
 * credential ids, steps, results and vendor names only, never a secret.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  /**
   * Unix time the current key (AWSCURRENT) was made, and when it is due: its age is
   * `time() - created`. Timestamps, not ages, so they do not go stale on a replica that has not
   * looked for a while (rules take the max over replicas), and two series per credential, not four.
   */
  keyCreatedTimestamp: Gauge<"credential" | "vendor">;
  keyDueTimestamp: Gauge<"credential" | "vendor">;
  /** What the two gauges above show; written through recordKeyAge. */
  keyTimes: KeyTimes;
  /** Finished rotations by result: completed, rolled-back, failed. */
  rotationsTotal: Counter<"credential" | "vendor" | "result" | "trigger">;
  /** Time each rotation step took. */
  stepDurationSeconds: Histogram<"vendor" | "step">;
  /** Unix time of the last completed rotation. */
  lastSuccessTimestamp: Gauge<"credential" | "vendor">;
  /** Rotations started and not finished (seen by this worker). */
  rotationsInFlight: Gauge<"vendor">;
  /** 1 while a health check of the credential fails, else 0. */
  healthCheckFailing: Gauge<"credential" | "vendor" | "check">;
  /** 1 while the credential's usage is anomalous, else 0. */
  usageAnomaly: Gauge<"credential" | "vendor">;
  /** Alerts sent, by sink and result (sent, failed, suppressed). */
  alertsTotal: Counter<"sink" | "result">;
  /** Vendor HTTP requests by vendor, operation and status (a number, or "error"). */
  vendorRequestsTotal: Counter<"vendor" | "operation" | "status">;
  /** Secrets Manager calls by operation and result (ok or the AWS error type). */
  storeRequestsTotal: Counter<"operation" | "result">;
}

export const METRIC_PREFIX = "key_rotator_";

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    // Event-loop lag sampled once a second: the default 10 ms wakes an idle worker 100 times a
    // second, most of its idle CPU (bench: 1.9% of a core -> 0.8%).
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 1_000 });
  const registers = [registry];
  const credential = ["credential", "vendor"] as const;
  const keyTimes = new KeyTimes();
  return {
    registry,
    keyCreatedTimestamp: new KeyTimeGauge(
      {
        name: "key_rotator_key_created_timestamp_seconds",
        help: "Unix time the current key (AWSCURRENT version) was made",
        registers,
      },
      keyTimes,
      "created",
    ),
    keyDueTimestamp: new KeyTimeGauge(
      {
        name: "key_rotator_key_due_timestamp_seconds",
        help: "Unix time the credential is due for rotation",
        registers,
      },
      keyTimes,
      "due",
    ),
    keyTimes,
    rotationsTotal: new Counter({
      name: "key_rotator_rotations_total",
      help: "Finished rotations by result",
      labelNames: ["credential", "vendor", "result", "trigger"],
      registers,
    }),
    stepDurationSeconds: new Histogram({
      name: "key_rotator_step_duration_seconds",
      help: "Duration of rotation steps",
      labelNames: ["vendor", "step"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    lastSuccessTimestamp: new Gauge({
      name: "key_rotator_last_success_timestamp_seconds",
      help: "Unix time of the last completed rotation",
      labelNames: credential,
      registers,
    }),
    rotationsInFlight: new Gauge({
      name: "key_rotator_rotations_in_flight",
      help: "Rotations started and not finished",
      labelNames: ["vendor"],
      registers,
    }),
    healthCheckFailing: new Gauge({
      name: "key_rotator_health_check_failing",
      help: "1 while a health check fails",
      labelNames: ["credential", "vendor", "check"],
      registers,
    }),
    usageAnomaly: new Gauge({
      name: "key_rotator_usage_anomaly",
      help: "1 while usage is anomalous",
      labelNames: credential,
      registers,
    }),
    alertsTotal: new Counter({
      name: "key_rotator_alerts_total",
      help: "Alerts by sink and result",
      labelNames: ["sink", "result"],
      registers,
    }),
    vendorRequestsTotal: new Counter({
      name: "key_rotator_vendor_requests_total",
      help: "Vendor HTTP requests by status",
      labelNames: ["vendor", "operation", "status"],
      registers,
    }),
    storeRequestsTotal: new Counter({
      name: "key_rotator_store_requests_total",
      help: "Secrets Manager calls by result",
      labelNames: ["operation", "result"],
      registers,
    }),
  };
}

/** What the due check and the health check learn of a key's age, as every gauge that shows it. */
export function recordKeyAge(
  metrics: Metrics | undefined,
  labels: { credential: string; vendor: string },
  createdAt: Date,
  dueAt: number,
): void {
  if (!metrics) return;
  metrics.keyTimes.set(labels.credential, labels.vendor, createdAt.getTime() / 1000, dueAt / 1000);
}

/**
 * The created and due times of every credential's key, one compact entry per credential, shown
 * as the two key-time gauges. A worker may hold 10,000 credentials, and a prom-client series (a
 * key string, a labels object and a value entry, per gauge) costs several times what an entry
 * here does.
 */
export class KeyTimes {
  /** Each credential's slot: its vendor in #vendors, its two times in #times (created, due). */
  readonly #slots = new Map<string, number>();
  readonly #vendors: string[] = [];
  // Two numbers a slot in one typed array: as object fields, each would be a heap number of its own.
  #times = new Float64Array(64);

  set(credential: string, vendor: string, createdSeconds: number, dueSeconds: number): void {
    let slot = this.#slots.get(credential);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(credential, slot);
      if (2 * slot + 2 > this.#times.length) {
        const grown = new Float64Array(this.#times.length * 2);
        grown.set(this.#times);
        this.#times = grown;
      }
    }
    this.#vendors[slot] = vendor;
    this.#times[2 * slot] = createdSeconds;
    this.#times[2 * slot + 1] = dueSeconds;
  }

  series(field: "created" | "due"): { labels: { credential: string; vendor: string }; value: number }[] {
    const offset = field === "created" ? 0 : 1;
    return Array.from(this.#slots, ([credential, slot]) => ({
      labels: { credential, vendor: this.#vendors[slot] ?? "" },
      value: this.#times[2 * slot + offset] ?? 0,
    }));
  }

  clear(): void {
    this.#slots.clear();
    this.#vendors.length = 0;
    this.#times = new Float64Array(64);
  }
}

/** One of the key-time gauges: its series come from KeyTimes (those set through labels() too). */
class KeyTimeGauge extends Gauge<"credential" | "vendor"> {
  readonly #times: KeyTimes;
  readonly #field: "created" | "due";

  constructor(
    config: { name: string; help: string; registers: Registry[] },
    times: KeyTimes,
    field: "created" | "due",
  ) {
    super({ ...config, labelNames: ["credential", "vendor"] });
    this.#times = times;
    this.#field = field;
  }

  override async get(): ReturnType<Gauge<"credential" | "vendor">["get"]> {
    const metric = await super.get();
    return { ...metric, values: [...metric.values, ...this.#times.series(this.#field)] };
  }

  override reset(): void {
    super.reset();
    // Gauge's constructor calls reset() before this class's fields exist.
    if (#times in this) this.#times.clear();
  }
}
