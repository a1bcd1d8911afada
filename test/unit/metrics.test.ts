/**
 * The metrics contract: every metric the worker exports is in the README and every metric the
 * README names is exported; the key-age gauges carry the values the alert rules read.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  STEP_DURATION_BUCKETS,
  createMetrics,
  packageVersion,
  perCredentialSeriesFrom,
  primeMetrics,
  recordKeyAge,
} from "../../src/observability/metrics.js";

describe("metrics", () => {
  it("the README names exactly the metrics the worker exports (process metrics aside)", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const documented = new Set(
      [...readme.matchAll(/`(key_rotator_[a-z_]+)/g)]
        .map((m) => m[1] ?? "")
        .filter((n) => !n.startsWith("key_rotator_process")),
    );
    expect([...documented].sort()).toEqual([...exported].sort());
  });

  it("recordKeyAge sets the created and due times of one credential", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const now = Date.UTC(2026, 10, 23);
    recordKeyAge(metrics, { credential: "cc", vendor: "callcov" }, new Date(now - 10_000), now + 5_000);
    const value = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values[0];
    expect(await value("key_rotator_key_created_timestamp_seconds")).toMatchObject({
      value: (now - 10_000) / 1000,
      labels: { credential: "cc", vendor: "callcov" },
    });
    expect(await value("key_rotator_key_due_timestamp_seconds")).toMatchObject({ value: (now + 5_000) / 1000 });
  });

  it("a credential's key-age series is replaced, not repeated, and reset clears it", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const labels = (credential: string) => ({ credential, vendor: "callcov" });
    recordKeyAge(metrics, labels("a"), new Date(1_000_000), 2_000_000);
    recordKeyAge(metrics, labels("b"), new Date(3_000_000), 4_000_000);
    recordKeyAge(metrics, labels("a"), new Date(5_000_000), 6_000_000);
    const text = await metrics.registry.getSingleMetricAsString("key_rotator_key_created_timestamp_seconds");
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      'key_rotator_key_created_timestamp_seconds{credential="a",vendor="callcov"} 5000',
      'key_rotator_key_created_timestamp_seconds{credential="b",vendor="callcov"} 3000',
    ]);
    metrics.registry.resetMetrics();
    expect((await metrics.keyDueTimestamp.get()).values).toEqual([]);
  });

  it("keeps every credential's two times apart as the store grows, and after a reset", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const record = (n: number) => {
      for (let i = 0; i < n; i++)
        recordKeyAge(
          metrics,
          { credential: `c${i}`, vendor: i % 2 ? "justcall" : "callcov" },
          new Date(i * 1000),
          1_000_000 + i * 1000,
        );
    };
    const series = async () => ({
      created: (await metrics.keyCreatedTimestamp.get()).values.map(
        (v) => `${v.labels.credential}/${v.labels.vendor}=${v.value}`,
      ),
      due: (await metrics.keyDueTimestamp.get()).values.map((v) => `${v.labels.credential}=${v.value}`),
    });
    const expected = (n: number) => ({
      created: Array.from({ length: n }, (_, i) => `c${i}/${i % 2 ? "justcall" : "callcov"}=${i}`),
      due: Array.from({ length: n }, (_, i) => `c${i}=${1000 + i}`),
    });
    record(100);
    expect(await series()).toEqual(expected(100));
    metrics.registry.resetMetrics();
    record(3);
    expect(await series()).toEqual(expected(3));
  });

  it("with the fleet numbered up front, shows only the keys set, an id outside the fleet too, and none after a reset", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const fleet = Array.from({ length: 200 }, (_, i) => `c${(i * 7919) % 200}`);
    primeMetrics(metrics, { credentials: fleet.map((id) => ({ id, vendor: "callcov" })), sinks: [] });
    const shown = async () =>
      (await metrics.keyCreatedTimestamp.get()).values
        .map((v) => `${v.labels.credential}/${v.labels.vendor}=${v.value}`)
        .sort();
    expect(await shown()).toEqual([]);
    recordKeyAge(metrics, { credential: "c150", vendor: "callcov" }, new Date(1_000), 9_000_000);
    recordKeyAge(metrics, { credential: "c7", vendor: "callcov" }, new Date(2_000), 9_000_000);
    recordKeyAge(metrics, { credential: "late-comer", vendor: "justcall" }, new Date(3_000), 9_000_000);
    recordKeyAge(metrics, { credential: "c7", vendor: "callcov" }, new Date(4_000), 9_000_000);
    expect(await shown()).toEqual(["c150/callcov=1", "c7/callcov=4", "late-comer/justcall=3"]);
    expect(metrics.keyTimes.states(0)).toEqual([
      { vendor: "callcov", state: "current", count: 2 },
      { vendor: "justcall", state: "current", count: 1 },
    ]);
    metrics.registry.resetMetrics();
    expect(await shown()).toEqual([]);
    recordKeyAge(metrics, { credential: "late-comer", vendor: "justcall" }, new Date(5_000), 9_000_000);
    expect(await shown()).toEqual(["late-comer/justcall=5"]);
  });
});

describe("metrics for dashboards and alert rules", () => {
  const value = async (metrics: ReturnType<typeof createMetrics>, name: string) =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];

  it("keeps the standard process metric names and says which build runs", async () => {
    const metrics = createMetrics();
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(["process_resident_memory_bytes", "nodejs_eventloop_lag_seconds"]));
    expect(names.filter((n) => n.startsWith("key_rotator_process") || n.startsWith("key_rotator_nodejs"))).toEqual([]);
    const version = (
      JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
    expect(await value(metrics, "key_rotator_build_info")).toEqual([
      { value: 1, labels: { version, node_version: process.versions.node } },
    ]);
    expect(packageVersion(new URL("file:///nowhere/at/all/"))).toBe("unknown");
  });

  it("has step-duration buckets for a grace period and an operator's two-day wait", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.stepDurationSeconds.labels({ vendor: "justcall", step: "create" }).observe(36 * 3600);
    const text = await metrics.registry.getSingleMetricAsString("key_rotator_step_duration_seconds");
    expect(text).toContain('key_rotator_step_duration_seconds_bucket{le="172800",vendor="justcall",step="create"} 1');
    expect(text).toContain('key_rotator_step_duration_seconds_bucket{le="86400",vendor="justcall",step="create"} 0');
    expect(Math.max(...STEP_DURATION_BUCKETS)).toBeGreaterThanOrEqual(2 * 86_400);
  });

  it("primes the health, usage and alert-failure series at start", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    primeMetrics(metrics, {
      credentials: [
        { id: "cc", vendor: "callcov", usage: { factor: 3 } },
        { id: "jc", vendor: "justcall", operator: { deadlineMs: 1000 } },
      ],
      sinks: ["ops-slack"],
    });
    const health = await value(metrics, "key_rotator_health_check_failing");
    expect(health.map((v) => `${v.labels.credential}/${v.labels.check}=${v.value}`).sort()).toEqual([
      "cc/age=0",
      "cc/key=0",
      "cc/store=0",
      "jc/age=0",
      "jc/key=0",
      "jc/store=0",
    ]);
    expect((await value(metrics, "key_rotator_usage_anomaly")).map((v) => v.labels.credential)).toEqual(["cc"]);
    expect(await value(metrics, "key_rotator_alerts_total")).toEqual([
      { value: 0, labels: { sink: "ops-slack", result: "failed" } },
    ]);
  });

  it("an overdue time past a window's hold and an operator's deadline, kept once the window opens", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    primeMetrics(metrics, {
      credentials: [{ id: "jc", vendor: "justcall", operator: { deadlineMs: 48 * 3_600_000 } }],
      sinks: [],
    });
    const overdue = async () =>
      Object.fromEntries(
        (await value(metrics, "key_rotator_key_overdue_timestamp_seconds")).map((v) => [v.labels.credential, v.value]),
      );
    const created = new Date(0);
    recordKeyAge(metrics, { credential: "cc", vendor: "callcov" }, created, 1_000_000);
    recordKeyAge(metrics, { credential: "held", vendor: "callcov" }, created, {
      dueAt: 1_000_000,
      heldUntil: 5_000_000,
    });
    recordKeyAge(metrics, { credential: "jc", vendor: "justcall" }, created, { dueAt: 1_000_000 });
    expect(await overdue()).toEqual({ cc: 1000, held: 5000, jc: 1000 + 48 * 3600 });
    // The window is open now: the verdict no longer holds, the overdue time stays at its opening.
    recordKeyAge(metrics, { credential: "held", vendor: "callcov" }, created, { dueAt: 1_000_000 });
    expect((await overdue()).held).toBe(5000);
    // A rotation made a new key: its own due time, nothing carried over.
    recordKeyAge(metrics, { credential: "held", vendor: "callcov" }, new Date(6_000_000), { dueAt: 9_000_000 });
    expect((await overdue()).held).toBe(9000);
  });
});

describe("per-credential series: alerting", () => {
  const lines = async (metrics: ReturnType<typeof createMetrics>) =>
    (await metrics.registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));

  it("keeps only the series a rule fires on, and the counts by vendor and state", async () => {
    const metrics = createMetrics({ defaultMetrics: false, perCredential: "alerting" });
    primeMetrics(metrics, {
      credentials: [{ id: "ok", vendor: "callcov", usage: {} }],
      sinks: [],
      lookEveryMs: 3_600_000,
    });
    const now = Date.now();
    recordKeyAge(metrics, { credential: "ok", vendor: "callcov" }, new Date(now - 1000), now + 86_400_000);
    recordKeyAge(metrics, { credential: "late", vendor: "callcov" }, new Date(now - 9e9), now - 1000);
    metrics.healthCheckFailing.labels({ credential: "late", vendor: "callcov", check: "age" }).set(1);
    metrics.healthCheckFailing.labels({ credential: "ok", vendor: "callcov", check: "age" }).set(0);
    metrics.rotationsTotal
      .labels({ credential: "ok", vendor: "callcov", result: "completed", trigger: "schedule" })
      .inc();
    metrics.rotationsTotal
      .labels({ credential: "late", vendor: "callcov", result: "failed", trigger: "schedule" })
      .inc();
    metrics.lastSuccessTimestamp.labels({ credential: "ok", vendor: "callcov" }).set(5);
    expect((await lines(metrics)).filter((l) => !l.startsWith("key_rotator_build_info"))).toEqual([
      `key_rotator_key_overdue_timestamp_seconds{credential="late",vendor="callcov"} ${(now - 1000) / 1000}`,
      'key_rotator_rotations_total{vendor="callcov",result="completed",trigger="schedule"} 1',
      'key_rotator_rotations_total{credential="late",vendor="callcov",result="failed",trigger="schedule"} 1',
      'key_rotator_last_success_timestamp_seconds{vendor="callcov"} 5',
      'key_rotator_health_check_failing{credential="late",vendor="callcov",check="age"} 1',
      'key_rotator_credentials{vendor="callcov",state="current"} 1',
      'key_rotator_credentials{vendor="callcov",state="overdue"} 1',
    ]);
    // A check that passes again is no series; a key this worker has not looked at lately is not shown.
    metrics.healthCheckFailing.labels({ credential: "late", vendor: "callcov", check: "age" }).set(0);
    metrics.keyTimes.freshFor(0);
    await new Promise((r) => setTimeout(r, 5));
    expect((await lines(metrics)).filter((l) => /overdue_timestamp|health_check/.test(l))).toEqual([]);
  });

  // Ticks are cut into shards any replica may run, and the rules take the largest value over
  // replicas: a flag one replica raised must not outlive a later check of the credential elsewhere.
  it.each(["all", "alerting"] as const)(
    "a raised flag ends when no check of this replica raises it again for its freshness (%s series)",
    async (perCredential) => {
      let now = 0;
      const replica = () =>
        createMetrics({ defaultMetrics: false, perCredential, flagsFreshForMs: 1_000, now: () => now });
      const [a, b] = [replica(), replica()];
      /** The value the alert rule reads: the largest over replicas, by series; a 0 as no line. */
      const raised = async () => {
        const on = new Set<string>();
        for (const m of [a, b])
          for (const name of ["key_rotator_health_check_failing", "key_rotator_usage_anomaly"])
            for (const v of (await m.registry.getSingleMetric(name)?.get())?.values ?? [])
              if (v.value === 1) on.add(`${name}:${String(v.labels.credential)}:${String(v.labels.check ?? "")}`);
        return [...on].sort();
      };
      const failing = (m: typeof a, credential: string, value: number) => {
        m.healthCheckFailing.labels({ credential, vendor: "callcov", check: "key" }).set(value);
        m.usageAnomaly.labels({ credential, vendor: "callcov" }).set(value);
      };
      failing(a, "x", 1); // replica a's shard finds x failing
      failing(a, "y", 1); // and y
      now = 600;
      failing(b, "x", 0); // the next tick's shard of x runs on b, and x passes
      failing(a, "y", 1); // y's shard runs on a again, still failing
      expect(await raised()).toEqual([
        "key_rotator_health_check_failing:x:key",
        "key_rotator_health_check_failing:y:key",
        "key_rotator_usage_anomaly:x:",
        "key_rotator_usage_anomaly:y:",
      ]);
      now = 1_001; // a's 1 for x was set 1,001 ms ago and not since: it ends; y's was set again at 600
      expect(await raised()).toEqual(["key_rotator_health_check_failing:y:key", "key_rotator_usage_anomaly:y:"]);
      now = 1_601;
      expect(await raised()).toEqual([]);
      failing(b, "x", 1); // a new failure is raised at once
      expect(await raised()).toEqual(["key_rotator_health_check_failing:x:key", "key_rotator_usage_anomaly:x:"]);
    },
  );

  it("reads KEY_ROTATOR_METRICS_PER_CREDENTIAL", () => {
    expect(perCredentialSeriesFrom({})).toBe("alerting");
    expect(perCredentialSeriesFrom({ KEY_ROTATOR_METRICS_PER_CREDENTIAL: "all" })).toBe("all");
    expect(() => perCredentialSeriesFrom({ KEY_ROTATOR_METRICS_PER_CREDENTIAL: "some" })).toThrow(/alerting/);
  });
});
