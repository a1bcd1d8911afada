import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError, formatPath } from "../../src/core/errors.js";
import { crossReferenceProblems } from "../../src/config/inventory-references.js";
import { inventorySchemaFor } from "../../src/config/inventory-schema.js";
import { BUILT_IN_REGISTRY } from "../../src/vendors/registry.js";
import { loadInventory, parseInventory } from "../../src/config/load-inventory.js";
import { checkConfigCommand } from "../../src/cli/check-config.command.js";
import { toRuntime } from "../../src/config/load-runtime.js";

const valid = `
alertRoutes:
  ops: { type: slack, webhookUrl: { env: SLACK_URL } }
credentials:
  - id: cc-prod
    vendor: callcov
    secretId: prod/cc
    baseUrl: https://api.callcov.com
    managementSecretId: prod/cc-login
    rotation: { every: 90d }
    alerts: { critical: [ops] }
`;

function problemsOf(text: string): string[] {
  try {
    parseInventory(text, "inv.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const withCredential = (fields: string) => `
alertRoutes:
  ops: { type: slack, webhookUrl: { env: SLACK_URL } }
credentials:
  - id: cc-prod
    vendor: callcov
    secretId: prod/cc
    baseUrl: https://api.callcov.com
    managementSecretId: prod/cc-login
    rotation: { every: 90d }
  - ${fields}
`;

describe("inventory", () => {
  it("parses a valid file with defaults and durations in ms", () => {
    const inv = parseInventory(valid, "inv.yaml");
    const c = inv.credentials[0];
    expect(c?.rotation.every).toBe(90 * 86_400_000);
    expect(c?.rotation.grace).toBe(900_000);
    expect(inv.settings.queuePrefix).toBe("{key-rotator}");
    expect(c?.vendor === "callcov" && c.mode).toBe("live");
  });

  it("the documented example is valid", async () => {
    const inv = await loadInventory("examples/inventory.yaml");
    expect(inv.credentials.map((c) => c.id)).toEqual(["callcov-prod", "justcall-support"]);
  });

  it.each([
    [
      "a bad duration",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 90 days }`,
      "credentials[1].rotation.every: expected a duration like 90d",
    ],
    [
      "every and cron",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 90d, cron: "0 3 * * *", timezone: UTC }`,
      "credentials[1].rotation: give exactly one of every or cron",
    ],
    [
      "cron without zone",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { cron: "0 3 * * *" }`,
      "credentials[1].rotation.timezone: a cron needs a timezone",
    ],
    [
      "a bad cron",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { cron: "0 99 * * *", timezone: UTC }`,
      "credentials[1].rotation.cron: invalid cron expression",
    ],
    [
      "an unknown zone",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { cron: "0 3 * * *", timezone: Mars/Olympus }`,
      "credentials[1].rotation.timezone: unknown time zone",
    ],
    [
      "a duplicate id",
      `id: cc-prod\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 30d }`,
      'credentials[1].id: duplicate credential id "cc-prod" (also credentials[0])',
    ],
    [
      "an unknown route",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 30d }\n    alerts: { critical: [nope] }`,
      'credentials[1].alerts.critical[0]: unknown alert route "nope"',
    ],
    [
      "callcov without a management login",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    rotation: { every: 30d }`,
      "credentials[1].managementSecretId: a CallCov credential needs managementSecretId",
    ],
    [
      "a field of the other vendor",
      `id: x\n    vendor: justcall\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 30d }`,
      'credentials[1]: Unrecognized key: "managementSecretId"',
    ],
    [
      "an unknown vendor",
      `id: x\n    vendor: acme\n    secretId: s\n    baseUrl: https://a.b\n    rotation: { every: 30d }`,
      "credentials[1].vendor: expected vendor anthropic or callcov or datadog or justcall or sendgrid or twilio",
    ],
    [
      "grace longer than the period",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 1h, grace: 2h }`,
      "credentials[1].rotation.grace: grace must be shorter than every",
    ],
    [
      "a bad id",
      `id: Bad_Id\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 30d }`,
      "credentials[1].id: expected lowercase letters",
    ],
    [
      "a bad URL",
      `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: api.callcov.com\n    managementSecretId: m\n    rotation: { every: 30d }`,
      "credentials[1].baseUrl: expected an http(s) URL",
    ],
  ])("reports %s with its path", (_what, fields, expected) => {
    const problems = problemsOf(withCredential(fields));
    expect(
      problems.some((p) => p.startsWith(expected)),
      `got: ${problems.join(" | ")}`,
    ).toBe(true);
  });

  it("reports every problem of a broken file at once", () => {
    const problems = problemsOf(`
settings: { concurrency: 0, colour: blue }
alertRoutes:
  pager: { type: pagerduty }
credentials:
  - id: a
    vendor: callcov
    secretId: s
    baseUrl: https://a.b
    managementSecretId: m
    rotation: { every: soon }
  - id: a
    vendor: justcall
    secretId: s
    baseUrl: https://a.b
    rotation: { every: 30d }
    operator: { escalateTo: [ghost] }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^settings\.concurrency: /),
        expect.stringMatching(/^settings: Unrecognized key: "colour"/),
        expect.stringMatching(/^alertRoutes\.pager\.routingKey: /),
        "credentials[0].rotation.every: expected a duration like 90d",
        // Across entries, reported although other fields failed (zod alone would skip them).
        'credentials[1].id: duplicate credential id "a" (also credentials[0])',
        'credentials[1].secretId: duplicate secretId "s" (also credentials[0])',
        'credentials[1].operator.escalateTo[0]: unknown alert route "ghost" (define it under alertRoutes)',
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(7);
  });

  // The loader checks the credentials one at a time (load-inventory.ts): the whole schema's verdict still.
  it("gives the whole schema's problems in its order, and its value", () => {
    const broken = `
zz: 1
settings: { concurrency: 0, colour: blue }
credentials:
  - { id: a, vendor: callcov, secretId: s, baseUrl: "https://a.b", managementSecretId: m, rotation: { every: soon } }
  - { id: a, vendor: nobody, secretId: s }
  - { id: b, vendor: callcov, secretId: t, baseUrl: "https://a.b", managementSecretId: m, rotation: {}, extra: 1 }
`;
    const whole = (text: string) => {
      const raw = parse(text) as { credentials: Array<{ vendor: string }> };
      const parsed = inventorySchemaFor(BUILT_IN_REGISTRY, ["callcov"]).safeParse(raw);
      const issues = [...(parsed.success ? [] : parsed.error.issues), ...crossReferenceProblems(raw)];
      return { parsed, problems: issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
    };
    expect(problemsOf(broken)).toEqual(whole(broken).problems);
    expect(problemsOf(broken).at(-3)).toBe('(top level): Unrecognized key: "zz"');
    const { registry: _, ...inventory } = parseInventory(valid, "inv.yaml");
    expect(inventory).toEqual(whole(valid).parsed.data);
  });

  it("gives credentials with alike rotation and alerts one frozen value of each, and others their own", () => {
    const inv = parseInventory(
      `${withCredential("{ id: b, vendor: callcov, secretId: b, baseUrl: https://a.b, managementSecretId: m, rotation: { every: 90d } }")}
  - { id: c, vendor: callcov, secretId: c, baseUrl: https://a.b, managementSecretId: m, rotation: { every: 30d }, alerts: { critical: [ops] } }
`,
      "inv.yaml",
    );
    const [a, b, c] = inv.credentials;
    expect(b?.rotation).toBe(a?.rotation);
    expect(b?.alerts).toBe(a?.alerts);
    expect(c?.rotation).not.toBe(a?.rotation);
    expect(c?.rotation.every).toBe(30 * 86_400_000);
    expect(c?.alerts).toEqual({ warning: [], critical: ["ops"] });
    expect(() => (a!.rotation.every = 1)).toThrow(TypeError);
    expect(() => a!.alerts.warning.push("ops")).toThrow(TypeError);
  });

  it.each([
    ["", "the file is empty"],
    ["- just\n- a list", "the top level must be a mapping"],
    ["credentials: [\n", "line "],
    ["a: 1\na: 2", "line 2"],
  ])("reports a broken file %j clearly", (text, expected) => {
    expect(problemsOf(text).join(" ")).toContain(expected);
  });
});

describe("check-config command", () => {
  const dir = mkdtempSync(join(tmpdir(), "kr-config-"));
  const run = async (text: string | undefined, json = false) => {
    const file = join(dir, `inv-${Math.random()}.yaml`);
    if (text !== undefined) writeFileSync(file, text);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await checkConfigCommand(
      file,
      { json },
      { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) },
      { SLACK_URL: "https://hooks.slack.test/x" },
    );
    return { code, stdout, stderr, file };
  };

  it("exits 0 with a summary for a valid file", async () => {
    const r = await run(valid);
    expect(r.code).toBe(0);
    expect(r.stdout.join("")).toMatch(/OK: 1 credentials \(1 callcov\); alert routes: ops/);
  });

  it("exits 2 and prints each problem on its own line with the file name", async () => {
    const r = await run(
      withCredential(
        `id: x\n    vendor: callcov\n    secretId: s\n    baseUrl: https://a.b\n    managementSecretId: m\n    rotation: { every: 90 days }`,
      ),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual([`${r.file}: credentials[1].rotation.every: expected a duration like 90d`]);
  });

  it("with --json prints one object", async () => {
    const r = await run("credentials: []", true);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout.join(""))).toEqual({
      ok: false,
      problems: ["credentials: list at least one credential"],
      credentials: 0,
    });
  });

  it("names a missing file", async () => {
    const r = await run(undefined);
    expect(r.code).toBe(2);
    expect(r.stderr.join("")).toContain("cannot read the inventory: no such file");
  });
});

describe("toRuntime", () => {
  const inventory = (extra: string) =>
    parseInventory(
      `
settings: { ageWarnBefore: { justcall: 3d } }
credentials:
  - id: cc-free
    vendor: callcov
    plan: free
    secretId: s1
    baseUrl: https://api.callcov.test
    managementSecretId: m
    rotation: { every: 90d }
  - id: cc-enterprise
    vendor: callcov
    plan: enterprise
    secretId: s2
    baseUrl: https://api.callcov.test
    managementSecretId: m
    rotation: { every: 90d }
${extra}
  - id: jc
    vendor: justcall
    secretId: s3
    baseUrl: https://api.justcall.test
    rotation: { every: 90d }
`,
      "inline",
    );

  it("gives each CallCov credential its plan's daily quota, an inventory's perDay first, and each vendor its age warning", () => {
    const rt = toRuntime(inventory("    usage: { perDay: 50000 }"));
    const by = Object.fromEntries(rt.credentials.map((c) => [c.id, c]));
    expect(by["cc-free"]?.usage).toEqual({ factor: 3, quotaWarnRatio: 0.8, perDay: 1_000 });
    expect(by["cc-enterprise"]?.usage).toEqual({ factor: 3, quotaWarnRatio: 0.8, perDay: 50_000 });
    expect(by["cc-free"]?.ageWarnBeforeMs).toBe(0);
    expect(by.jc?.ageWarnBeforeMs).toBe(3 * 86_400_000);
  });

  it("an enterprise plan without perDay has no daily quota to warn about", () => {
    const by = Object.fromEntries(toRuntime(inventory("")).credentials.map((c) => [c.id, c]));
    expect(by["cc-enterprise"]?.usage).toEqual({ factor: 3, quotaWarnRatio: 0.8 });
  });

  it("credentials with the same rules share one due rule and one usage policy, and each still follows its own", () => {
    const rt = toRuntime(
      inventory(`  - id: cc-monthly
    vendor: callcov
    plan: free
    secretId: s4
    baseUrl: https://api.callcov.test
    managementSecretId: m
    rotation: { every: 30d }`),
    );
    const by = Object.fromEntries(rt.credentials.map((c) => [c.id, c]));
    const [free, enterprise, monthly, jc] = [by["cc-free"], by["cc-enterprise"], by["cc-monthly"], by.jc];
    if (!free || !enterprise || !monthly || !jc) throw new Error("a credential is missing");
    expect(free.schedule).toBe(enterprise.schedule);
    expect(free.schedule).toBe(jc.schedule);
    expect(monthly.schedule).not.toBe(free.schedule);
    expect(monthly.usage).toBe(free.usage);
    expect(enterprise.usage).not.toBe(free.usage);
    const now = Date.UTC(2026, 10, 24);
    const made = new Date(now - 40 * 86_400_000);
    expect(monthly.schedule(made, now).due).toBe(true);
    expect(free.schedule(made, now).due).toBe(false);
  });
});
