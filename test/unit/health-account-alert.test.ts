/**
 * The management check is the account's (issue 21): an account of 50 credentials whose list call
 * fails raises one alert, under its first credential, naming the vendor, the base URL (without
 * its user, password or query) and the credentials; the others' alerts of that kind are resolved;
 * another account that works raises nothing; the call is made once per account; and when the
 * call works again the alert is resolved. The key's own check stays per credential. The orphan
 * sweep's full list, when it fails, is one alert for the account too.
 */
import { describe, expect, it } from "vitest";
import { accountAlert, publicUrl } from "../../src/jobs/account-alert.js";
import { type HealthCredential, runHealthCheck } from "../../src/jobs/health-check.job.js";
import { runOrphanSweep } from "../../src/jobs/orphan-sweep.job.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { decideDue } from "../../src/schedule/cadence.js";
import { FailurePlan, FakeAlerter, FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 23, 12);
const log = createLogger({ level: "silent" });
const schedule = (created: Date, now: number) => decideDue({ everyMs: 90 * DAY }, undefined, created, now);
const BIG_URL = "https://ops:hunter2@api.callcov.com/v1?token=t0ken#x";
const id = (i: number) => `cc-${String(i).padStart(2, "0")}`;

/** Account A: 50 CallCov credentials at BIG_URL; account B: 2 at another base URL. */
function world() {
  const calls: string[] = [];
  const store = new FakeStore(calls, new FailurePlan(), () => NOW - 10 * DAY);
  const listFailures = new FailurePlan();
  const a = new FakeVendor(calls, listFailures);
  const b = new FakeVendor(calls);
  const credentials: HealthCredential[] = [];
  const add = (vendor: FakeVendor, n: number, baseUrl: string, name: (i: number) => string) => {
    for (let i = 1; i <= n; i++) {
      const key = `sk_live_${name(i)}_000000000000`;
      store.seed(`s/${name(i)}`, `v-${name(i)}`, JSON.stringify({ vendor: "callcov", apiKey: key, keyId: name(i) }));
      vendor.seed(name(i), key);
      credentials.push({
        id: name(i),
        vendor: "callcov",
        module: { value: KEY_VALUE },
        secretId: `s/${name(i)}`,
        baseUrl,
        schedule,
      });
    }
  };
  // Out of order, so "first" means first by id, not first checked.
  add(a, 50, BIG_URL, (i) => id(51 - i));
  add(b, 2, "https://eu.callcov.com", (i) => `eu-${i}`);
  const accountOf = (c: HealthCredential) => (c.id.startsWith("eu-") ? b : a);
  const alerter = new FakeAlerter();
  const metrics = createMetrics({ defaultMetrics: false });
  const run = (shard?: HealthCredential[]) =>
    runHealthCheck({
      credentials: shard ?? credentials,
      ...(shard ? { accountOf: (c: HealthCredential) => wholeAccount(credentials, accountOf, c) } : {}),
      store,
      alerter,
      log,
      metrics,
      now: () => NOW,
      overdueAfterMs: 3_600_000,
      verifierFor: accountOf,
      managementFor: accountOf,
    });
  const failingSeries = async () =>
    (await metrics.healthCheckFailing.get()).values
      .filter((v) => v.labels.check === "management" && v.value === 1)
      .map((v) => v.labels.credential);
  return { calls, listFailures, alerter, run, failingSeries, credentials };
}

/** What the maintenance worker hands a shard: the credential's whole account in the inventory, and its first id. */
function wholeAccount(all: HealthCredential[], accountOf: (c: HealthCredential) => unknown, c: HealthCredential) {
  const credentials = all.filter((o) => accountOf(o) === accountOf(c));
  return { first: credentials.map((o) => o.id).sort()[0] ?? "", credentials };
}

describe("an account's management check", () => {
  it("a list call that fails for an account of 50 credentials raises one alert, then one resolve", async () => {
    const w = world();
    w.listFailures.failOn("listKeys", 1, () => new Error("vendor answered 500"));
    const summary = await w.run();

    expect(w.calls.filter((c) => c === "vendor.listKeys")).toHaveLength(2); // one per account
    expect(w.alerter.raised).toEqual([
      {
        credentialId: "cc-01",
        severity: "critical",
        kind: "health-management",
        summary:
          "callcov at https://api.callcov.com/v1: the management login cannot list keys, so the next rotation of its 50 credentials (cc-01, cc-02, cc-03, cc-04, cc-05 and 45 more) cannot mint a key: vendor answered 500",
        details: {
          vendor: "callcov",
          baseUrl: "https://api.callcov.com/v1",
          credentials: 50,
          affected: "cc-01, cc-02, cc-03, cc-04, cc-05 and 45 more",
        },
      },
    ]);
    const text = JSON.stringify(w.alerter.raised);
    for (const secret of ["hunter2", "t0ken", "sk_live_"]) expect(text).not.toContain(secret);
    expect(summary.failing).toEqual([
      { credentialId: "cc-01", check: "management", reason: w.alerter.raised[0]?.summary },
    ]);
    expect(await w.failingSeries()).toEqual(["cc-01"]);
    // Every other credential's management alert is resolved (one left by an earlier tick, say), the
    // other account's too; the alert raised is not.
    const resolved = w.alerter.resolved.filter((r) => r.endsWith("/health-management")).sort();
    expect(resolved).toEqual(
      [
        ...Array.from({ length: 49 }, (_, i) => `${id(i + 2)}/health-management`),
        "eu-1/health-management",
        "eu-2/health-management",
      ].sort(),
    );

    // The call works again: the account's alert is resolved, nothing is raised.
    w.alerter.raised.length = 0;
    w.alerter.resolved.length = 0;
    await w.run();
    expect(w.alerter.raised).toEqual([]);
    expect(w.alerter.resolved).toContain("cc-01/health-management");
    expect(w.alerter.resolved.filter((r) => r.endsWith("/health-management"))).toHaveLength(52);
    expect(await w.failingSeries()).toEqual([]);
  });

  it("in a tick cut into shards, an account split over them is still checked once and alerted once, for all its credentials", async () => {
    const w = world();
    w.listFailures.failOn("listKeys", 1, () => new Error("vendor answered 500"));
    // Three shards by secret id: account A's 50 credentials land in all three; cc-01 in the first.
    const sorted = [...w.credentials].sort((a, b) => (a.secretId < b.secretId ? -1 : 1));
    const shards = [sorted.slice(0, 20), sorted.slice(20, 40), sorted.slice(40)];
    expect(shards.filter((s) => s.some((c) => c.id.startsWith("cc-"))).length).toBe(3);
    const summaries = [];
    for (const shard of [...shards].reverse()) summaries.push(await w.run(shard));

    expect(w.calls.filter((c) => c === "vendor.listKeys")).toHaveLength(2); // one per account, not per shard
    expect(w.alerter.raised.map((a) => [a.credentialId, a.kind, a.details?.credentials])).toEqual([
      ["cc-01", "health-management", 50],
    ]);
    expect(w.alerter.raised[0]?.summary).toContain(
      "its 50 credentials (cc-01, cc-02, cc-03, cc-04, cc-05 and 45 more)",
    );
    expect(summaries.flatMap((s) => s.failing.map((f) => f.credentialId))).toEqual(["cc-01"]);
    expect(await w.failingSeries()).toEqual(["cc-01"]);
    expect(w.alerter.resolved.filter((r) => r.endsWith("/health-management"))).toHaveLength(51);
    // Every credential's own checks ran once, in its shard.
    expect(summaries.reduce((n, s) => n + s.checked, 0)).toBe(52);
    expect(w.calls.filter((c) => c === "vendor.verify")).toHaveLength(52);

    // The login works again: the shard with cc-01 resolves the account's alert.
    w.alerter.resolved.length = 0;
    for (const shard of shards) await w.run(shard);
    expect(w.alerter.resolved).toContain("cc-01/health-management");
    expect(await w.failingSeries()).toEqual([]);
  });

  it("the key's own check stays per credential", async () => {
    const w = world();
    const summary = await w.run();
    expect(summary.failing).toEqual([]);
    expect(w.calls.filter((c) => c === "vendor.verify")).toHaveLength(52);
    expect(w.alerter.resolved.filter((r) => r.endsWith("/health-key"))).toHaveLength(52);
  });
});

describe("accountAlert", () => {
  it("names one credential by itself, and up to five by name", () => {
    const says = (credentials: string) => `the login fails for ${credentials}`;
    const one = accountAlert({ vendor: "v", baseUrl: undefined, credentialIds: ["x"], kind: "k", says });
    expect(one.summary).toBe("v: the login fails for x");
    expect(one.details).toEqual({ vendor: "v", credentials: 1, affected: "x" });
    const five = accountAlert({
      vendor: "v",
      baseUrl: "https://h",
      credentialIds: ["e", "d", "c", "b", "a"],
      kind: "k",
      says,
    });
    expect(five.credentialId).toBe("a");
    expect(five.summary).toBe("v at https://h: the login fails for its 5 credentials (a, b, c, d, e)");
  });

  it.each([
    ["https://u:p@host.example/api/?q=1#f", "https://host.example/api/"],
    ["http://127.0.0.1:4010", "http://127.0.0.1:4010"],
    ["not a url", "(a base URL that does not parse)"],
  ])("publicUrl(%s) is %s", (url, shown) => {
    expect(publicUrl(url)).toBe(shown);
  });
});

describe("the orphan sweep's list of an account's keys", () => {
  it("fails for an account of 50 credentials: one alert, nothing revoked; the next list that works resolves it", async () => {
    const calls: string[] = [];
    const store = new FakeStore(calls, undefined, () => NOW);
    const failures = new FailurePlan().failOn("listKeys", 1, () => new Error("answer larger than 8 MiB"));
    const vendor = new FakeVendor(calls, failures);
    const alerter = new FakeAlerter();
    const credentials = Array.from({ length: 50 }, (_, i) => ({ id: id(50 - i), secretId: `s/${id(50 - i)}` }));
    const sweep = () =>
      runOrphanSweep({
        accounts: [{ vendor, value: KEY_VALUE, credentials, vendorId: "callcov", baseUrl: BIG_URL }],
        store,
        log,
        now: () => NOW,
        minAgeMs: 600_000,
        alerter,
      });

    expect(await sweep()).toEqual({ keysSeen: 0, revoked: [], errors: 1 });
    expect(calls).toEqual(["vendor.listKeys"]);
    expect(alerter.raised).toEqual([
      {
        credentialId: "cc-01",
        severity: "critical",
        kind: "orphan-sweep-list",
        summary:
          "callcov at https://api.callcov.com/v1: the orphan sweep cannot list the account's keys, so keys left over by failed rotations of its 50 credentials (cc-01, cc-02, cc-03, cc-04, cc-05 and 45 more) stay live: answer larger than 8 MiB",
        details: {
          vendor: "callcov",
          baseUrl: "https://api.callcov.com/v1",
          credentials: 50,
          affected: "cc-01, cc-02, cc-03, cc-04, cc-05 and 45 more",
        },
      },
    ]);
    expect(alerter.resolved).toEqual([]);

    await sweep();
    expect(alerter.raised).toHaveLength(1);
    expect(alerter.resolved).toEqual(["cc-01/orphan-sweep-list"]);
  });
});
