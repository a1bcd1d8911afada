/**
 * `key-rotator vendor check` and `key-rotator vendors`, as real processes against the sandbox:
 * the CallCov simulator and the Secrets Manager emulator holding the management login. A passing
 * run (for people and --json, by built-in id and by definition file), a vendor whose revoke fails
 * (exit 1; the key is revoked in cleanup, or named as left when it cannot be), refusals (a host
 * that is not this machine, a malformed definition, an operator-flow vendor), and the vendor list
 * with each definition's source. No key and no management secret in any output.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cliCommand } from "../../src/demo/cli-process.js";
import { SANDBOX_LOGIN, type Sandbox, startSandbox } from "../../src/sandbox/sandbox.js";
import { sandboxEnv, seedManagementLogin } from "../../src/sandbox/seed.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const STEPS = ["create", "verify", "list", "revoke", "confirm-refused", "confirm-gone"];
let sandbox: Sandbox;
let env: Record<string, string>;
let loginSecret: string;
let dir: string;

async function run(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const { command, args: base } = cliCommand();
  // The runner's own KEY_ROTATOR_CONFIG, if any, is not this test's.
  const { KEY_ROTATOR_CONFIG: _, ...inherited } = process.env;
  const child = spawn(command, [...base, ...args], {
    env: { ...inherited, ...env, LOG_LEVEL: "silent", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expectNoSecret(stdout + stderr);
  return { code, stdout, stderr };
}

/** Every key the simulator ever made, and the management login's password, are absent. */
function expectNoSecret(text: string): void {
  const secrets = [SANDBOX_LOGIN.password, ...[...sandbox.callcov.state.keys.values()].map((k) => k.key)];
  expect(secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 7)}…`)).toEqual([]);
  expect(text).not.toMatch(/sk_(live|test)_[A-Za-z0-9_-]{8}/);
}

function json(r: Run): Record<string, unknown> {
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  expect(lines, `one JSON document on stdout; stderr: ${r.stderr}`).toHaveLength(1);
  return JSON.parse(lines[0] ?? "null") as Record<string, unknown>;
}

const check = (definition: string, ...more: string[]) => [
  "vendor",
  "check",
  definition,
  "--base-url",
  sandbox.urls.callcov,
  "--management-secret",
  loginSecret,
  ...more,
];

/** The simulator's record of the key a run made, by the name in its output. */
function keyNamed(name: unknown) {
  return sandbox.callcov.keyHistory().find((k) => k.name === name);
}

/** A copy of the built-in CallCov definition under another id: a user's own definition file. */
function userDefinition(id: string, change: (yaml: string) => string = (y) => y): string {
  const builtIn = readFileSync(fileURLToPath(new URL("../../vendors/callcov.yaml", import.meta.url)), "utf8");
  const path = join(dir, `${id}-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(path, change(builtIn.replace(/^id: callcov$/m, `id: ${id}`).replace(/^name: CallCov$/m, "name: Acme")));
  return path;
}

beforeAll(async () => {
  sandbox = await startSandbox();
  env = sandboxEnv(sandbox);
  process.env.AWS_ACCESS_KEY_ID ??= env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY ??= env.AWS_SECRET_ACCESS_KEY;
  const client = createSecretsManagerClient({ endpoint: sandbox.urls.secretsManager });
  loginSecret = await seedManagementLogin(client);
  client.destroy();
  dir = mkdtempSync(join(tmpdir(), "kr-vendor-check-"));
}, 30_000);
afterAll(async () => sandbox?.close());
afterEach(() => sandbox.callcov.faults.reset());

describe("vendor check: a vendor that answers as its definition says", () => {
  it("prints each step with its HTTP status, passes, exits 0 and leaves no key", async () => {
    const r = await run(check("callcov"));
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    const name = /with a key named (key-rotator\/conformance\/[0-9a-f]{12})$/.exec(lines[0] ?? "")?.[1];
    expect(name, lines[0]).toBeDefined();
    const expected: Array<[string, number]> = [
      ["create", 201],
      ["verify", 200],
      ["list", 200],
      ["revoke", 204],
      ["confirm-refused", 401],
      ["confirm-gone", 200],
    ];
    expected.forEach(([step, status], i) =>
      expect(lines[i + 1]).toMatch(new RegExp(`^${i + 1}/6 ${step} +${status}  ok  `)),
    );
    // The login before the create is shown with it.
    expect(lines[1]).toMatch(/\(calls: login 200, create 201\)$/);
    expect(lines[7]).toMatch(/^PASSED: CallCov answered as its definition says \(6 of 6 steps\)/);
    expect(keyNamed(name)).toMatchObject({ active: false, revokedAt: expect.any(Number) });
  }, 30_000);

  it("--json, from a definition file: one document with every step", async () => {
    const file = userDefinition("acme");
    const r = await run(check(file, "--field", "mode=live", "--json"));
    expect(r.code, r.stderr).toBe(0);
    const doc = json(r);
    expect(doc).toMatchObject({
      vendor: "acme",
      name: "Acme",
      source: file,
      baseUrl: sandbox.urls.callcov,
      keyName: expect.stringMatching(/^key-rotator\/conformance\/[0-9a-f]{12}$/),
      keyId: expect.any(String),
      passed: true,
      keyLeftBehind: false,
    });
    const steps = doc.steps as Array<Record<string, unknown>>;
    expect(steps.map((s) => s.step)).toEqual(STEPS);
    expect(steps.map((s) => s.status)).toEqual([201, 200, 200, 204, 401, 200]);
    for (const s of steps) expect(s).toMatchObject({ ok: true, detail: expect.any(String) });
    expect(keyNamed(doc.keyName)?.active).toBe(false);
    expect(r.stderr).toBe("");
  }, 30_000);
});

describe("vendor check: a vendor that does not conform", () => {
  it("a revoke that fails: exit 1, the confirmations skipped, the key revoked in cleanup", async () => {
    sandbox.callcov.faults.add({ kind: "error", match: "DELETE /api/v1/api-keys/", status: 500, count: 1 });
    const r = await run(check("callcov", "--json"));
    expect(r.code).toBe(1);
    const doc = json(r);
    expect(doc).toMatchObject({ passed: false, keyLeftBehind: false });
    const steps = doc.steps as Array<Record<string, unknown>>;
    expect(steps.map((s) => [s.step, s.ok, s.status])).toEqual([
      ["create", true, 201],
      ["verify", true, 200],
      ["list", true, 200],
      ["revoke", false, 500],
      ["confirm-refused", false, null],
      ["confirm-gone", false, null],
      ["cleanup", true, 204],
    ]);
    expect(steps[3]?.detail).toMatch(/answered 500/);
    expect(steps[4]?.detail).toMatch(/^skipped: the revoke failed/);
    expect(keyNamed(doc.keyName)?.active).toBe(false);
  }, 30_000);

  it("a revoke that keeps failing: exit 1, and the key left at the vendor is named, for a person to revoke", async () => {
    sandbox.callcov.faults.add({ kind: "error", match: "DELETE /api/v1/api-keys/", status: 500 });
    const r = await run(check("callcov"));
    expect(r.code).toBe(1);
    const keyId = /^1\/6 create +201 {2}ok +made key (\S+)/m.exec(r.stdout)?.[1];
    expect(keyId, r.stdout).toBeDefined();
    expect(r.stdout).toMatch(/^4\/6 revoke +500 {2}FAIL {2}/m);
    expect(r.stdout).toMatch(
      /^ {4}cleanup +500 {2}FAIL {2}could not revoke key \S+: CallCov revoke answered 500; revoke key \S+ by hand/m,
    );
    expect(r.stdout).toContain(
      `FAILED: CallCov did not answer as its definition says (revoke, confirm-refused, confirm-gone); key ${keyId} may still be alive at CallCov: revoke it by hand`,
    );
    expect(sandbox.callcov.isKeyActive(keyId ?? "")).toBe(true);
    sandbox.callcov.faults.reset();
    sandbox.callcov.state.revoke(keyId ?? "");
  }, 30_000);
});

describe("vendor check: bad input is refused with exit 2, before any call", () => {
  it("a host that is not this machine, without --yes", async () => {
    const before = sandbox.callcov.keyHistory().length;
    const r = await run([
      ...check("callcov").map((a) => (a === sandbox.urls.callcov ? "https://api.callcov.example" : a)),
      "--json",
    ]);
    expect(r.code).toBe(2);
    expect(json(r)).toMatchObject({
      error: {
        code: "bad_input",
        message: expect.stringMatching(/https:\/\/api\.callcov\.example is not this machine.*--yes/),
      },
    });
    expect(r.stderr).toMatch(/not this machine \(127\.0\.0\.1, localhost or \[::1\]\)/);
    expect(sandbox.callcov.keyHistory()).toHaveLength(before);
  }, 30_000);

  it("a malformed definition file: names the file and each problem's path", async () => {
    const file = userDefinition("broken", (y) =>
      y
        .replace('path: "/api/v1/api-keys/{{keyId}}"', 'path: "https://elsewhere.example/{{keyId}}"')
        .replace("flow: key-api", "flow: key-api\nsurprise: 1"),
    );
    const r = await run(check(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`key-rotator vendor check: ${file}: calls.revoke.path: a path starts with one /`);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*surprise`));
    expect(r.stdout).toBe("");
    const j = await run(check(file, "--json"));
    expect(j.code).toBe(2);
    expect(json(j)).toMatchObject({
      error: { code: "bad_input", problems: expect.arrayContaining([expect.stringMatching(/^calls\.revoke\.path: /)]) },
    });
  }, 30_000);

  it("a management secret that is missing, or holds the wrong keys: named, and nothing sent to the vendor", async () => {
    const client = createSecretsManagerClient({ endpoint: sandbox.urls.secretsManager });
    await client.send(
      new CreateSecretCommand({ Name: "sandbox/callcov/half-login", SecretString: JSON.stringify({ email: "a@b.c" }) }),
    );
    client.destroy();
    const before = sandbox.callcov.keyHistory().length;
    const swap = (id: string) => check("callcov").map((a) => (a === loginSecret ? id : a));
    const missing = await run(swap("sandbox/callcov/no-such-login"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/sandbox\/callcov\/no-such-login.*not found.*nothing was sent to the vendor/);
    const half = await run([...swap("sandbox/callcov/half-login"), "--json"]);
    expect(half.code).toBe(2);
    expect(json(half)).toMatchObject({
      error: {
        code: "bad_input",
        message: expect.stringMatching(
          /management secret sandbox\/callcov\/half-login: password: expected a non-empty string/,
        ),
      },
    });
    expect(sandbox.callcov.keyHistory()).toHaveLength(before);
  }, 30_000);

  it("an operator-flow vendor has no key API to check; an undeclared --field is named", async () => {
    const operator = await run(["vendor", "check", "justcall", "--base-url", sandbox.urls.justcall]);
    expect(operator.code).toBe(2);
    expect(operator.stderr).toMatch(/JustCall .* has no key API to check/);
    const field = await run(check("callcov", "--field", "region=eu", "--field", "mode=prod"));
    expect(field.code).toBe(2);
    expect(field.stderr).toContain("--field region: CallCov has no field region (its fields: mode, plan)");
    expect(field.stderr).toContain("--field mode: expected live or test");
  }, 30_000);
});

describe("vendors", () => {
  it("--json without an inventory: the built-in definitions with their flow and source", async () => {
    const r = await run(["vendors", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = json(r) as { inventory: unknown; vendors: Array<Record<string, unknown>> };
    expect(doc.inventory).toBeNull();
    expect(doc.vendors).toEqual(
      expect.arrayContaining([
        {
          id: "callcov",
          name: "CallCov",
          flow: "key-api",
          source: "built-in (vendors/callcov.yaml)",
          docs: expect.any(Array),
        },
        expect.objectContaining({ id: "justcall", flow: "operator", source: "built-in (vendors/justcall.yaml)" }),
      ]),
    );
  }, 30_000);

  it("with an inventory (--config or KEY_ROTATOR_CONFIG): its own definitions too, by their file", async () => {
    const file = userDefinition("acme");
    const inventory = join(dir, "inventory.yaml");
    writeFileSync(
      inventory,
      [
        `vendorDefinitions: [${file}]`,
        "credentials:",
        "  - id: acme-prod",
        "    vendor: acme",
        "    secretId: prod/acme",
        "    baseUrl: https://api.acme.example",
        "    managementSecretId: prod/acme-login",
        "    rotation: { every: 90d }",
        "",
      ].join("\n"),
    );
    const r = await run(["vendors", "--json"], { KEY_ROTATOR_CONFIG: inventory });
    expect(r.code, r.stderr).toBe(0);
    const doc = json(r) as { inventory: unknown; vendors: Array<Record<string, unknown>> };
    expect(doc.inventory).toBe(inventory);
    expect(doc.vendors.map((v) => [v.id, v.source])).toEqual(
      expect.arrayContaining([
        ["callcov", "built-in (vendors/callcov.yaml)"],
        ["justcall", "built-in (vendors/justcall.yaml)"],
        ["acme", file],
      ]),
    );
    const human = await run(["vendors", "--config", inventory]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ID +NAME +FLOW +SOURCE +DOCS$/m);
    expect(human.stdout).toMatch(new RegExp(`^acme +Acme +key-api +${file.replace(/[.]/g, "\\.")}`, "m"));
    expect(human.stdout).toMatch(/^justcall +JustCall +operator +built-in \(vendors\/justcall\.yaml\)/m);
  }, 30_000);
});
