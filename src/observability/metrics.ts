/**
 * The Prometheus metrics the worker exports. Names and labels here are a contract: the Helm
 * chart's PrometheusRule and dashboard and the README refer to them, and tests check all three.
 * Labels hold credential ids, steps, results, sink and vendor names only, never a secret. The
 * process metrics keep prom-client's standard names (process_*, nodejs_*), which stock Node.js
 * dashboards expect.
 *
 * Per-credential series (KEY_ROTATOR_METRICS_PER_CREDENTIAL): "alerting", the worker's default,
 * keeps only those an alert rule can fire on (an overdue key, a failing check, an anomaly, a failed
 * rotation), so /metrics stays small at 100,000 credentials; "all" keeps every credential's
 * key times, zeros and completed rotations. The by-vendor-and-state counts are there in both.
 */
import { existsSync, readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, type LabelValues, Registry, collectDefaultMetrics } from "prom-client";
import { IdSlots } from "../config/id-table.js";
import { ConfigError } from "../core/errors.js";

/** Which per-credential series exist: every one, or only those an alert rule reads (see the header). */
export type PerCredentialSeries = "all" | "alerting";

export const PER_CREDENTIAL_ENV = "KEY_ROTATOR_METRICS_PER_CREDENTIAL";

/** The worker's choice from its environment; unset or empty: "alerting". */
export function perCredentialSeriesFrom(env: NodeJS.ProcessEnv): PerCredentialSeries {
  const value = env[PER_CREDENTIAL_ENV]?.trim() ?? "";
  if (value === "") return "alerting";
  if (value === "all" || value === "alerting") return value;
  throw new ConfigError([`${PER_CREDENTIAL_ENV}: expected "alerting" or "all", got ${JSON.stringify(value)}`]);
}

export interface Metrics {
  registry: Registry;
  /**
   * Unix time the current key (AWSCURRENT) was made, and when it is due: its age is
   * `time() - created`. Timestamps, not ages, so they do not go stale on a replica that has not
   * looked for a while (rules take the max over replicas), and two series per credential, not four.
   */
  keyCreatedTimestamp: Gauge<"credential" | "vendor">;
  keyDueTimestamp: Gauge<"credential" | "vendor">;
  /**
   * Unix time after which the key counts as overdue: its due time, moved past a maintenance
   * window's hold and an operator's deadline (a legitimate wait is not "overdue").
   */
  keyOverdueTimestamp: Gauge<"credential" | "vendor">;
  /** What the three gauges above show; written through recordKeyAge. */
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
  /** Credentials by vendor and state of their key (current, due, overdue), from the key times. */
  credentials: Gauge<"vendor" | "state">;
  /** Alerts sent, by sink and result (sent, failed, suppressed). */
  alertsTotal: Counter<"sink" | "result">;
  /** Vendor HTTP requests by vendor, operation and status (a number, or "error"). */
  vendorRequestsTotal: Counter<"vendor" | "operation" | "status">;
  /** Secrets Manager calls by operation and result (ok or the AWS error type). */
  storeRequestsTotal: Counter<"operation" | "result">;
  /** Always 1; its labels say which build runs (version from package.json, Node version). */
  buildInfo: Gauge<"version" | "node_version">;
}

export const METRIC_PREFIX = "key_rotator_";

/**
 * Step durations from milliseconds to days: a grace period (minutes to hours, longer while the old
 * key is still in use) and an operator's wait for a new JustCall pair (up to its deadline, 48 h by
 * default) must land in a bucket of their own, not in +Inf.
 */
export const STEP_DURATION_BUCKETS = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  1800,
  3600,
  4 * 3600,
  12 * 3600,
  86_400,
  2 * 86_400,
  4 * 86_400,
];

/** The health checks the health tick reports per credential (health-check.job.ts), primed at 0. */
export const HEALTH_CHECKS = ["store", "key", "age"] as const;

export function createMetrics(
  options: {
    defaultMetrics?: boolean;
    perCredential?: PerCredentialSeries;
    /**
     * How long a raised health or usage flag stands without its check setting it again: twice the
     * health tick's interval, so that a replica's 1 ends when another replica's check has taken
     * over the credential (ticks are cut into shards any replica may run). Absent: for ever.
     */
    flagsFreshForMs?: number;
    /** The clock flags are aged by (tests). */
    now?: () => number;
  } = {},
): Metrics {
  const sparse = (options.perCredential ?? "all") === "alerting";
  const fresh = { forMs: options.flagsFreshForMs ?? Number.POSITIVE_INFINITY, now: options.now ?? Date.now };
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    // Event-loop lag sampled once a second: the default 10 ms wakes an idle worker 100 times a
    // second, most of its idle CPU (bench: 1.9% of a core -> 0.8%).
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1_000 });
  const registers = [registry];
  const credential = ["credential", "vendor"] as const;
  const keyTimes = new KeyTimes(sparse);
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
    keyOverdueTimestamp: new KeyTimeGauge(
      {
        name: "key_rotator_key_overdue_timestamp_seconds",
        help: "Unix time after which the key is overdue: due, past any window hold and operator deadline",
        registers,
      },
      keyTimes,
      "overdue",
    ),
    keyTimes,
    rotationsTotal: new RotationsCounter(sparse, {
      name: "key_rotator_rotations_total",
      help: "Finished rotations by result",
      labelNames: ["credential", "vendor", "result", "trigger"],
      registers,
    }),
    stepDurationSeconds: new Histogram({
      name: "key_rotator_step_duration_seconds",
      help: "Duration of rotation steps",
      labelNames: ["vendor", "step"],
      buckets: STEP_DURATION_BUCKETS,
      registers,
    }),
    lastSuccessTimestamp: new LastSuccessGauge(sparse, {
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
    healthCheckFailing: new FlagGauge(sparse, fresh, {
      name: "key_rotator_health_check_failing",
      help: "1 while a health check fails",
      labelNames: ["credential", "vendor", "check"],
      registers,
    }),
    usageAnomaly: new FlagGauge(sparse, fresh, {
      name: "key_rotator_usage_anomaly",
      help: "1 while usage is anomalous",
      labelNames: credential,
      registers,
    }),
    credentials: new Gauge({
      name: "key_rotator_credentials",
      help: "Credentials by vendor and the state of their key (current, due, overdue), as this worker last saw them",
      labelNames: ["vendor", "state"],
      registers,
      collect() {
        this.reset();
        for (const { vendor, state, count } of keyTimes.states(Date.now() / 1000)) this.set({ vendor, state }, count);
      },
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
    buildInfo: buildInfoGauge(registers),
  };
}

function buildInfoGauge(registers: Registry[]): Gauge<"version" | "node_version"> {
  const gauge = new Gauge({
    name: "key_rotator_build_info",
    help: "Always 1: the version of key-rotator and of Node.js that run",
    labelNames: ["version", "node_version"],
    registers,
  });
  gauge.labels({ version: packageVersion(), node_version: process.versions.node }).set(1);
  return gauge;
}

/** The version in the nearest package.json above this file (src/ in development, dist/src/ in the image). */
export function packageVersion(from: URL = new URL(".", import.meta.url)): string {
  for (let dir = from; ; dir = new URL("..", dir)) {
    const file = new URL("package.json", dir);
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
        if (pkg.name === "key-rotator" && typeof pkg.version === "string") return pkg.version;
      } catch {
        // not ours, or not JSON: look further up
      }
    }
    if (new URL("..", dir).pathname === dir.pathname) return "unknown";
  }
}

/**
 * Series that must exist from the worker's start, not from the first tick that touches them: the
 * health gauges (0 until a check fails; a health tick comes every 15 minutes), the usage gauge of
 * credentials with a usage signal, and each alert sink's failed-delivery counter (at 0, so the
 * first failure is a rise the alert rule sees), and every credential's overdue allowance.
 */
export function primeMetrics(
  metrics: Metrics,
  o: {
    credentials: Array<{ id: string; vendor: string; usage?: unknown; operator?: { deadlineMs: number } | undefined }>;
    sinks: string[];
    /** How often a tick looks at every key (the due check's interval): knowledge older than twice that is stale. */
    lookEveryMs?: number;
  },
): void {
  if (o.lookEveryMs !== undefined) metrics.keyTimes.freshFor(2 * o.lookEveryMs);
  metrics.keyTimes.expect(o.credentials.map((c) => c.id));
  for (const c of o.credentials) {
    const labels = { credential: c.id, vendor: c.vendor };
    // A FlagGauge of "alerting" drops a 0: nothing to prime.
    for (const check of HEALTH_CHECKS) metrics.healthCheckFailing.labels({ ...labels, check }).set(0);
    if (c.usage !== undefined) metrics.usageAnomaly.labels(labels).set(0);
    metrics.keyTimes.allow(c.id, c.operator?.deadlineMs ?? 0);
  }
  for (const sink of o.sinks) metrics.alertsTotal.labels({ sink, result: "failed" }).inc(0);
}

/**
 * What the due check and the health check learn of a key's age, as every gauge that shows it.
 * `due` is the due time, or the schedule's whole verdict: a due key held for a maintenance window
 * (`heldUntil`) is not overdue before that window opens.
 */
export function recordKeyAge(
  metrics: Metrics | undefined,
  labels: { credential: string; vendor: string },
  createdAt: Date,
  due: number | { dueAt: number; heldUntil?: number | undefined },
): void {
  if (!metrics) return;
  const { dueAt, heldUntil } = typeof due === "number" ? { dueAt: due, heldUntil: undefined } : due;
  metrics.keyTimes.set(
    labels.credential,
    labels.vendor,
    createdAt.getTime() / 1000,
    dueAt / 1000,
    heldUntil === undefined ? undefined : heldUntil / 1000,
  );
}

const FIELDS = { created: 0, due: 1, overdue: 2 } as const;
const PER_SLOT = 3;

/**
 * The created, due and overdue times of every credential's key, one compact entry per credential,
 * shown as the three key-time gauges. A worker may hold 10,000 credentials, and a prom-client
 * series (a key string, a labels object and a value entry, per gauge) costs several times what an
 * entry here does.
 */
export class KeyTimes {
  /** Only overdue keys as series ("alerting"), and only those this worker looked at lately. */
  readonly #sparse: boolean;
  /** Each credential's slot: its vendor in #vendors, its three times in #times (created, due, overdue). */
  #slots = new IdSlots();
  #vendors: Array<string | undefined> = [];
  /** Per credential, how long past due (or past a window's opening) a wait is legitimate: an operator's deadline. */
  readonly #allowanceSeconds = new Map<string, number>();
  // Three numbers a slot in one typed array: as object fields, each would be a heap number of its own.
  #times = new Float64Array(64 * PER_SLOT);
  /** When this worker last looked at each slot's key (Unix seconds); 0: never, the slot is not shown. */
  #seenAt = new Float64Array(64);
  #freshSeconds = 2 * 3600;

  constructor(sparse = false) {
    this.#sparse = sparse;
  }

  /**
   * Numbers the fleet's credentials up front (IdSlots), before any is set: a Map of 10,000 ids to
   * slots held 448 KiB. Once a key is set, the numbering stays as it is.
   */
  expect(credentials: string[]): void {
    if (this.#slots.size > 0) return;
    this.#slots = new IdSlots(credentials);
    this.#vendors = new Array<string | undefined>(this.#slots.size).fill(undefined);
    this.#times = new Float64Array(Math.max(64, this.#slots.size) * PER_SLOT);
    this.#seenAt = new Float64Array(Math.max(64, this.#slots.size));
  }

  /**
   * Sparse series: a key this worker has not looked at for `ms` is not shown. Another replica may
   * have rotated it since, and the rule's max over replicas no longer sees the newer time (that
   * replica shows nothing for a key that is not overdue).
   */
  freshFor(ms: number): void {
    this.#freshSeconds = ms / 1000;
  }

  /** A credential whose rotation waits for a person: its key is overdue only `ms` after it is due. */
  allow(credential: string, ms: number): void {
    if (ms > 0) this.#allowanceSeconds.set(credential, ms / 1000);
    else this.#allowanceSeconds.delete(credential);
  }

  set(credential: string, vendor: string, createdSeconds: number, dueSeconds: number, heldUntilSeconds?: number): void {
    const slot = this.#slots.add(credential);
    if (slot >= this.#seenAt.length) {
      const grown = new Float64Array(this.#times.length * 2);
      grown.set(this.#times);
      this.#times = grown;
      const seen = new Float64Array(this.#seenAt.length * 2);
      seen.set(this.#seenAt);
      this.#seenAt = seen;
    }
    const known = (this.#seenAt[slot] ?? 0) > 0;
    const at = PER_SLOT * slot;
    let overdue = Math.max(dueSeconds, heldUntilSeconds ?? 0) + (this.#allowanceSeconds.get(credential) ?? 0);
    // Once a window has opened the verdict no longer says it held the key: for the same due time,
    // the overdue time only moves later, so it stays at that opening (plus the allowance).
    if (known && this.#times[at + FIELDS.due] === dueSeconds)
      overdue = Math.max(overdue, this.#times[at + FIELDS.overdue] ?? 0);
    this.#vendors[slot] = vendor;
    this.#times[at + FIELDS.created] = createdSeconds;
    this.#times[at + FIELDS.due] = dueSeconds;
    this.#times[at + FIELDS.overdue] = overdue;
    this.#seenAt[slot] = Date.now() / 1000;
  }

  series(
    field: keyof typeof FIELDS,
    nowSeconds = Date.now() / 1000,
  ): { labels: { credential: string; vendor: string }; value: number }[] {
    const offset = FIELDS[field];
    const out: { labels: { credential: string; vendor: string }; value: number }[] = [];
    if (this.#sparse && field !== "overdue") return out;
    for (const [credential, slot] of this.#slots.entries()) {
      const seenAt = this.#seenAt[slot] ?? 0;
      if (seenAt === 0) continue;
      const value = this.#times[PER_SLOT * slot + offset] ?? 0;
      if (this.#sparse && (value > nowSeconds || seenAt < nowSeconds - this.#freshSeconds)) continue;
      out.push({ labels: { credential, vendor: this.#vendors[slot] ?? "" }, value });
    }
    return out;
  }

  /** How many keys of each vendor are current, due, or overdue at `nowSeconds`. */
  states(nowSeconds: number): { vendor: string; state: "current" | "due" | "overdue"; count: number }[] {
    const counts = new Map<string, number>();
    for (const [, slot] of this.#slots.entries()) {
      if ((this.#seenAt[slot] ?? 0) === 0) continue;
      const at = PER_SLOT * slot;
      const state =
        (this.#times[at + FIELDS.overdue] ?? 0) <= nowSeconds
          ? "overdue"
          : (this.#times[at + FIELDS.due] ?? 0) <= nowSeconds
            ? "due"
            : "current";
      const key = `${this.#vendors[slot] ?? ""}\n${state}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return Array.from(counts, ([key, count]) => {
      const [vendor = "", state] = key.split("\n");
      return { vendor, state: state as "current" | "due" | "overdue", count };
    });
  }

  /** Forgets every key's times; the credentials keep their numbers. */
  clear(): void {
    this.#vendors.fill(undefined);
    this.#times.fill(0);
    this.#seenAt.fill(0);
  }
}

/** One of the key-time gauges: its series come from KeyTimes (those set through labels() too). */
class KeyTimeGauge extends Gauge<"credential" | "vendor"> {
  readonly #times: KeyTimes;
  readonly #field: keyof typeof FIELDS;

  constructor(
    config: { name: string; help: string; registers: Registry[] },
    times: KeyTimes,
    field: keyof typeof FIELDS,
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

type GaugeConfig<L extends string> = { name: string; help: string; labelNames: readonly L[]; registers: Registry[] };

type FlagLabels<L extends string> = Partial<Record<L, string | number>>;

/**
 * A 0/1 gauge per credential; sparse ("alerting"): a 0 is no series (the rules fire on 1 only).
 * A 1 stands while the check that set it is fresh. The next check of a credential may run on
 * another replica (ticks are cut into shards), and the rules take the largest value over replicas:
 * a 1 kept here after that check passed would hold the alert for good. So a 1 not set again
 * within `fresh.forMs` is read as a 0. Only raised flags are timed, so this costs nothing per
 * healthy credential.
 */
class FlagGauge<L extends string> extends Gauge<L> {
  readonly #sparse: boolean;
  readonly #fresh: { forMs: number; now: () => number };
  readonly #labelNames: readonly L[];
  /** Each raised flag's labels and when its check last raised it, by its series. */
  readonly #raised = new Map<string, { labels: FlagLabels<L>; at: number }>();

  constructor(sparse: boolean, fresh: { forMs: number; now: () => number }, config: GaugeConfig<L>) {
    super(config);
    this.#sparse = sparse;
    this.#fresh = fresh;
    this.#labelNames = config.labelNames;
  }

  override set(labels: FlagLabels<L> | number, value?: number): void {
    if (typeof labels === "number") return super.set(labels);
    const series = JSON.stringify(this.#labelNames.map((name) => labels[name] ?? ""));
    if (value === 1) this.#raised.set(series, { labels, at: this.#fresh.now() });
    else this.#raised.delete(series);
    if (this.#sparse && value === 0) this.remove(labels);
    else super.set(labels, value ?? 0);
  }

  /** Run by prom-client before each read of the gauge: stale 1s become 0s. */
  collect(): void {
    const now = this.#fresh.now();
    for (const { labels, at } of [...this.#raised.values()]) if (now - at > this.#fresh.forMs) this.set(labels, 0);
  }
}

/** Finished rotations; sparse ("alerting"): a completed one is counted by vendor, not credential (no rule reads it). */
class RotationsCounter<L extends string> extends Counter<L> {
  readonly #sparse: boolean;

  constructor(sparse: boolean, config: GaugeConfig<L>) {
    super(config);
    this.#sparse = sparse;
  }

  // Counter's constructor sets `inc` on the instance, so the choice is made here, in labels().
  override labels(...values: string[]): Counter.Internal;
  override labels(labels: LabelValues<L>): Counter.Internal;
  override labels(...args: [LabelValues<L>] | string[]): Counter.Internal {
    const [labels] = args;
    if (typeof labels !== "object") return super.labels(...(args as string[]));
    return super.labels(this.#sparse && labels["result" as L] === "completed" ? withoutCredential(labels) : labels);
  }
}

/** The last success; sparse ("alerting"): by vendor, the latest of its credentials. */
class LastSuccessGauge<L extends string> extends Gauge<L> {
  readonly #sparse: boolean;

  constructor(sparse: boolean, config: GaugeConfig<L>) {
    super(config);
    this.#sparse = sparse;
  }

  override set(labels: Partial<Record<L, string | number>> | number, value?: number): void {
    if (typeof labels === "number") super.set(labels);
    else super.set(this.#sparse ? withoutCredential(labels) : labels, value ?? 0);
  }
}

function withoutCredential<T extends object>(labels: T): T {
  const { credential: _, ...rest } = labels as T & { credential?: unknown };
  return rest as T;
}
