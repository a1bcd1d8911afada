/**
 * The health check's steady cost: each key shown to its vendor once per `verifyEveryMs`, a slice of
 * the fleet a tick; the store read in bulk (one listing, and the values of the slice 20 a call);
 * the management login once a cadence.
 */
import { describe, expect, it } from "vitest";
import { CurrentVersionCache } from "../../src/jobs/fleet-view.js";
import { type HealthCredential, runHealthCheck, verifySlice } from "../../src/jobs/health-check.job.js";
import { createLogger } from "../../src/observability/logger.js";
import { decideDue } from "../../src/schedule/cadence.js";
import { FakeAlerter, FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const MIN = 60_000;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 23, 12);

function fleet(n: number) {
  const calls: string[] = [];
  const store = new FakeStore(calls, undefined, () => NOW - 10 * DAY);
  const vendor = new FakeVendor(calls);
  const schedule = (created: Date, now: number) => decideDue({ everyMs: 90 * DAY }, undefined, created, now);
  const credentials: HealthCredential[] = [];
  for (let i = 0; i < n; i++) {
    const key = `sk_live_key${String(i).padStart(12, "0")}`;
    vendor.seed(`k${i}`, key);
    store.seed(`fleet/c${i}`, `v${i}`, JSON.stringify({ vendor: "callcov", apiKey: key, keyId: `k${i}` }));
    credentials.push({
      id: `c${i}`,
      vendor: "callcov",
      module: { value: KEY_VALUE },
      secretId: `fleet/c${i}`,
      schedule,
    });
  }
  const currentVersions = new CurrentVersionCache();
  const tick = (at: number) =>
    runHealthCheck({
      credentials,
      store,
      alerter: new FakeAlerter(),
      log: createLogger({ level: "silent" }),
      now: () => at,
      overdueAfterMs: DAY,
      verifierFor: () => vendor,
      managementFor: () => vendor,
      tickEveryMs: 15 * MIN,
      verifyEveryMs: 60 * MIN,
      currentVersions,
    });
  return { calls, tick };
}

describe("the health check's cadence", () => {
  it("over one verify cadence (4 ticks) each key is shown to the vendor once; the store is read in bulk", async () => {
    const { calls, tick } = fleet(200);
    const start = Math.ceil(NOW / (60 * MIN)) * 60 * MIN;
    for (let t = 0; t < 4; t++) await tick(start + t * 15 * MIN);
    expect(calls.filter((c) => c === "vendor.verify")).toHaveLength(200);
    expect(calls.filter((c) => c === "vendor.listKeys")).toHaveLength(1);
    expect(calls.filter((c) => c === "store.listSecrets")).toHaveLength(4);
    // The first tick also learns every creation time; the others read only their slice's values.
    expect(calls.filter((c) => c === "store.readCurrent")).toHaveLength(4);
    expect(calls.filter((c) => c === "store.read" || c === "store.listVersions")).toEqual([]);
  });

  it("the slices are even and fixed by the credential's id", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) counts[verifySlice(`cc-${i}`, 4)] = (counts[verifySlice(`cc-${i}`, 4)] ?? 0) + 1;
    for (const n of counts) expect(Math.abs(n - 1_000)).toBeLessThan(120);
    expect(verifySlice("cc-7", 4)).toBe(verifySlice("cc-7", 4));
  });
});
