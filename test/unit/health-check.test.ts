/**
 * The health check over fake ports: each check's alert (store, key, age warning and critical,
 * management), a passing check resolving, no secret in any alert; the age rule as a table, and
 * its setting (settings.ageWarnBefore, per vendor).
 */
import { describe, expect, it } from "vitest";
import { type AgePolicy, type HealthCredential, ageVerdict, runHealthCheck } from "../../src/jobs/health-check.job.js";
import { parseInventory } from "../../src/config/load-inventory.js";
import { toRuntime } from "../../src/config/load-runtime.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { decideDue } from "../../src/schedule/cadence.js";
import {
  FailurePlan,
  FakeAlerter,
  FakeStore,
  FakeVendor,
  KEY_VALUE,
  PAIR_VALUE,
  storeFault,
  vendorFault,
} from "../support/fake-ports.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const log = createLogger({ level: "silent" });
const NOW = Date.UTC(2026, 10, 23, 12);
const CC_KEY = "sk_live_currentkey00000001";
const JC_KEY = "jckey0001";
const JC_SECRET = "jcsecret0001";

describe("ageVerdict", () => {
  const due = 90 * DAY;
  const person: AgePolicy = { warnBeforeMs: 7 * DAY, overdueAfterMs: 2 * HOUR };
  const alone: AgePolicy = { warnBeforeMs: 0, overdueAfterMs: 2 * HOUR };
  // [case, dueAt, now, policy, level, reason]; every key made at epoch 0.
  const cases: Array<[string, number, number, AgePolicy, "ok" | "warning" | "critical", RegExp?]> = [
    ["well before due", due, 80 * DAY, person, "ok"],
    ["just before the warning starts", due, due - 7 * DAY - 1, person, "ok"],
    [
      "the warning starts",
      due,
      due - 7 * DAY,
      person,
      "warning",
      /^due for rotation in 7 d \(1970-04-01T00:00:00\.000Z\), the key is 83 d old: a person must act$/,
    ],
    ["due in a day", due, due - DAY, person, "warning", /^due for rotation in 24 h /],
    ["past due, not yet overdue", due, due + HOUR, person, "warning", /^due for rotation since 1 h /],
    ["at the end of the overdue grace", due, due + 2 * HOUR, person, "warning"],
    [
      "overdue",
      due,
      due + 2 * HOUR + 1,
      person,
      "critical",
      /^overdue: the key is 2 h past its rotation date \(the key is 90 d old\); rotations may have stopped$/,
    ],
    ["no warning ahead: due in a day", due, due - DAY, alone, "ok"],
    ["no warning ahead: past due, not overdue", due, due + HOUR, alone, "ok"],
    ["no warning ahead: overdue", due, due + 3 * DAY, alone, "critical", /^overdue: the key is 72 h past/],
    ["never due", Number.POSITIVE_INFINITY, 1_000 * DAY, person, "ok"],
  ];
  it.each(cases)("%s", (_name, dueAt, now, policy, level, reason) => {
    const verdict = ageVerdict(new Date(0), dueAt, now, policy);
    expect(verdict.level).toBe(level);
    if (reason && verdict.level !== "ok") expect(verdict.reason).toMatch(reason);
  });
});

/** A CallCov credential (no warning ahead) and a JustCall one (7 days), keys `ageDays` old. */
function world(ageDays: number) {
  const calls: string[] = [];
  const storeFailures = new FailurePlan();
  const mgmtFailures = new FailurePlan();
  const store = new FakeStore(calls, storeFailures, () => NOW - ageDays * DAY);
  store.seed("s/cc", "v-cc", JSON.stringify({ vendor: "callcov", apiKey: CC_KEY, keyId: "k0" }));
  store.seed("s/jc", "v-jc", JSON.stringify({ vendor: "justcall", apiKey: JC_KEY, apiSecret: JC_SECRET }));
  const callcov = new FakeVendor(calls, mgmtFailures);
  callcov.seed("k0", CC_KEY);
  const justcall = new FakeVendor(calls);
  justcall.seed("j0", `${JC_KEY}:${JC_SECRET}`);
  const schedule = (created: Date, now: number) => decideDue({ everyMs: 90 * DAY }, undefined, created, now);
  const credentials: HealthCredential[] = [
    {
      id: "cc",
      vendor: "callcov",
      module: { value: KEY_VALUE },
      secretId: "s/cc",
      baseUrl: "https://api.callcov.com",
      schedule,
      ageWarnBeforeMs: 0,
    },
    {
      id: "jc",
      vendor: "justcall",
      module: { value: PAIR_VALUE },
      secretId: "s/jc",
      schedule,
      ageWarnBeforeMs: 7 * DAY,
    },
  ];
  const alerter = new FakeAlerter();
  const metrics = createMetrics({ defaultMetrics: false });
  const run = () =>
    runHealthCheck({
      credentials,
      store,
      alerter,
      log,
      metrics,
      now: () => NOW,
      overdueAfterMs: 2 * HOUR,
      concurrency: 1,
      verifierFor: (c) => (c.vendor === "callcov" ? callcov : justcall),
      managementFor: (c) => (c.vendor === "callcov" ? callcov : undefined),
    });
  const raised = (id: string) =>
    alerter.raised.filter((a) => a.credentialId === id).map((a) => `${a.kind}:${a.severity}`);
  const failing = async (credential: string, check: string) =>
    (await metrics.healthCheckFailing.get()).values.find(
      (v) => v.labels.credential === credential && v.labels.check === check,
    )?.value;
  return { store, storeFailures, mgmtFailures, callcov, justcall, alerter, run, raised, failing };
}

/** Every secret the world holds: none may appear in an alert. */
function expectNoSecret(alerter: FakeAlerter): void {
  const text = JSON.stringify(alerter.raised);
  for (const secret of [CC_KEY, JC_KEY, JC_SECRET]) expect(text).not.toContain(secret);
}

describe("runHealthCheck", () => {
  it("all checks pass: nothing raised, every check resolved", async () => {
    const w = world(10);
    const summary = await w.run();
    expect(summary).toEqual({ checked: 2, failing: [], warnings: [] });
    expect(w.alerter.raised).toEqual([]);
    expect(w.alerter.resolved.sort()).toEqual([
      "cc/health-age",
      "cc/health-key",
      "cc/health-management",
      "cc/health-store",
      "jc/health-age",
      "jc/health-key",
      "jc/health-store",
    ]);
  });

  it("health-store: a secret that cannot be read is critical, and nothing else of its own is checked", async () => {
    const w = world(10);
    // The batch read fails, so each secret is read alone, and cc's read fails too.
    w.storeFailures.failOn("readCurrent", 1, storeFault).failOn("read", 1, storeFault);
    const summary = await w.run();
    expect(w.alerter.raised).toEqual([
      {
        credentialId: "cc",
        severity: "critical",
        kind: "health-store",
        summary: "the secret s/cc cannot be read: ThrottlingException",
      },
    ]);
    expect(summary.failing).toEqual([
      { credentialId: "cc", check: "store", reason: "the secret s/cc cannot be read: ThrottlingException" },
    ]);
    // The management login is its account's, checked whatever this secret's state: it works.
    expect(w.alerter.resolved.filter((r) => r.startsWith("cc/"))).toEqual(["cc/health-management"]);
    expect(await w.failing("cc", "store")).toBe(1);
    expectNoSecret(w.alerter);
  });

  it("health-key: the vendor refusing the current key is critical; an unreachable vendor too", async () => {
    const w = world(10);
    w.callcov.refuse.add("k0");
    w.justcall.failures.failOn("verify", 1, vendorFault);
    await w.run();
    expect(w.alerter.raised).toEqual([
      {
        credentialId: "cc",
        severity: "critical",
        kind: "health-key",
        summary: "the vendor refuses the current key (401: Invalid or missing API key)",
      },
      {
        credentialId: "jc",
        severity: "critical",
        kind: "health-key",
        summary: "the current key could not be checked: vendor answered 503",
      },
    ]);
    expectNoSecret(w.alerter);
  });

  it("health-age warning: a JustCall key due within 7 days warns; a CallCov key as old does not", async () => {
    const w = world(85);
    const summary = await w.run();
    expect(w.raised("jc")).toEqual(["health-age:warning"]);
    expect(w.raised("cc")).toEqual([]);
    expect(w.alerter.raised[0]?.summary).toBe(
      "due for rotation in 5 d (2026-11-28T12:00:00.000Z), the key is 85 d old: a person must act",
    );
    expect(summary.warnings).toHaveLength(1);
    expect(summary.failing).toEqual([]);
    // A warning ahead is not a failing check: the "failing" gauge (and its Prometheus alert) stays 0.
    expect(await w.failing("jc", "age")).toBe(0);
    expect(w.alerter.resolved).toContain("cc/health-age");
    expectNoSecret(w.alerter);
  });

  it("health-age critical: a key past due by more than overdueAfterMs, whatever the vendor", async () => {
    const w = world(91);
    const summary = await w.run();
    expect(w.raised("cc")).toEqual(["health-age:critical"]);
    expect(w.raised("jc")).toEqual(["health-age:critical"]);
    expect(w.alerter.raised[0]?.summary).toBe(
      "overdue: the key is 24 h past its rotation date (the key is 91 d old); rotations may have stopped",
    );
    expect(summary.failing.map((f) => `${f.credentialId}/${f.check}`)).toEqual(["cc/age", "jc/age"]);
    expect(await w.failing("cc", "age")).toBe(1);
    expectNoSecret(w.alerter);
  });

  it("health-management: a management login that cannot list keys is critical (CallCov only)", async () => {
    const w = world(10);
    w.mgmtFailures.failOn("listKeys", 1, () => new Error("login refused for ops@example.com"));
    await w.run();
    expect(w.alerter.raised).toEqual([
      {
        credentialId: "cc",
        severity: "critical",
        kind: "health-management",
        summary:
          "callcov at https://api.callcov.com: the management login cannot list keys, so the next rotation of cc cannot mint a key: login refused for ops@example.com",
        details: { vendor: "callcov", baseUrl: "https://api.callcov.com", credentials: 1, affected: "cc" },
      },
    ]);
    expectNoSecret(w.alerter);
  });

  it("a check that passes again resolves its alert", async () => {
    const w = world(10);
    w.callcov.refuse.add("k0");
    await w.run();
    expect(w.raised("cc")).toEqual(["health-key:critical"]);
    w.callcov.refuse.delete("k0");
    w.alerter.resolved.length = 0;
    await w.run();
    expect(w.alerter.resolved).toContain("cc/health-key");
    expect(w.raised("cc")).toEqual(["health-key:critical"]);
  });
});

describe("settings.ageWarnBefore", () => {
  const inventory = (settings: string, more = "") => `
${settings}
credentials:
  - { id: cc, vendor: callcov, secretId: s/cc, baseUrl: "https://api.callcov.com", managementSecretId: s/login, rotation: { every: 90d } }
${more}`;
  const anthropicAndJustcall = `  - { id: an, vendor: anthropic, secretId: s/an, baseUrl: "https://api.anthropic.com", rotation: { every: 90d } }
  - { id: jc, vendor: justcall, secretId: s/jc, baseUrl: "https://api.justcall.io", rotation: { every: 90d } }`;
  it("defaults to each definition's for the vendors in use: a week where a person acts (JustCall, Anthropic), none where keys rotate themselves", () => {
    expect(parseInventory(inventory("", anthropicAndJustcall), "inv.yaml").settings.ageWarnBefore).toEqual({
      anthropic: 7 * DAY,
      callcov: 0,
      justcall: 7 * DAY,
    });
    // Only the definitions of the vendors in use are read: the others' defaults are not needed.
    expect(parseInventory(inventory(""), "inv.yaml").settings.ageWarnBefore).toEqual({ callcov: 0 });
    const runtime = toRuntime(parseInventory(inventory("", anthropicAndJustcall), "inv.yaml"));
    expect(runtime.credentials.map((c) => [c.id, c.ageWarnBeforeMs])).toEqual([
      ["cc", 0],
      ["an", 7 * DAY],
      ["jc", 7 * DAY],
    ]);
  });
  it("takes durations per vendor, in use or not, the other keeping its default, and names a bad one or an unknown vendor", () => {
    expect(
      parseInventory(inventory("settings: { ageWarnBefore: { callcov: 2d, twilio: 1d } }"), "inv.yaml").settings
        .ageWarnBefore,
    ).toEqual({ callcov: 2 * DAY, twilio: DAY });
    expect(() => parseInventory(inventory("settings: { ageWarnBefore: { justcall: soon } }"), "inv.yaml")).toThrow(
      /settings\.ageWarnBefore\.justcall: expected a duration like 7d/,
    );
    expect(() => parseInventory(inventory("settings: { ageWarnBefore: { acme: 1d } }"), "inv.yaml")).toThrow(
      /settings\.ageWarnBefore: Unrecognized key: "acme"/,
    );
  });
});
