/**
 * The metrics contract: every metric the worker exports is in the README and every metric the
 * README names is exported; the key-age gauges carry the values the alert rules read.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMetrics, recordKeyAge } from "../../src/observability/metrics.js";

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
});
