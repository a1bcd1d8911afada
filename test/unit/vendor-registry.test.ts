/**
 * The registry reads a built-in definition when it is first asked for (a one-shot command reads
 * the ones its inventory uses), and yet a broken definition, built-in or the inventory's own,
 * still stops check-config and the worker's start (loadInventory with everyVendor), named.
 * The package's built-in list is given one more file here, broken, in a folder of this test's own.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { checkConfigCommand } from "../../src/cli/check-config.command.js";
import { loadInventory } from "../../src/config/load-inventory.js";
import { ConfigError } from "../../src/core/errors.js";
import { BUILT_IN_REGISTRY, VendorRegistry } from "../../src/vendors/registry.js";
import type * as LoadDefinition from "../../src/vendors/definition/load-definition.js";

const { brokenBuiltIn } = vi.hoisted(() => ({ brokenBuiltIn: { path: "" } }));

vi.mock("../../src/vendors/definition/load-definition.js", async (importOriginal) => {
  const real = await importOriginal<typeof LoadDefinition>();
  const { mkdtempSync: mkdtemp, writeFileSync: write } = await import("node:fs");
  const { tmpdir: tmp } = await import("node:os");
  const { join: joinPath } = await import("node:path");
  brokenBuiltIn.path = joinPath(mkdtemp(joinPath(tmp(), "kr-builtin-")), "zzbroken.yaml");
  write(brokenBuiltIn.path, "id: zzbroken\nname: Broken\nflow: key-api\ncalls: { create: 3 }\n");
  const spied = vi.fn(real.loadBuiltIn);
  return {
    ...real,
    builtInDefinitionFiles: () => new Map([...real.builtInDefinitionFiles(), ["zzbroken", brokenBuiltIn.path]]),
    loadBuiltIn: spied,
  };
});

const { loadBuiltIn } = await import("../../src/vendors/definition/load-definition.js");
const read = () => vi.mocked(loadBuiltIn).mock.calls.map(([id]) => id);

const dir = mkdtempSync(join(tmpdir(), "kr-registry-"));
const callcovOnly = `
credentials:
  - { id: cc, vendor: callcov, secretId: s/cc, baseUrl: "https://api.callcov.test", managementSecretId: s/login, rotation: { every: 90d } }
`;
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

async function checkConfig(path: string) {
  const stderr: string[] = [];
  const code = await checkConfigCommand(path, {}, { stdout: () => undefined, stderr: (s) => stderr.push(s) }, {});
  return { code, stderr };
}

describe("vendor registry", () => {
  it("knows every built-in id without reading a definition, and reads only those an inventory uses", async () => {
    expect(BUILT_IN_REGISTRY.ids).toEqual(expect.arrayContaining(["callcov", "justcall", "twilio", "zzbroken"]));
    expect(read()).toEqual([]);
    const inventory = await loadInventory(file("callcov.yaml", callcovOnly));
    expect(inventory.credentials.map((c) => c.vendor)).toEqual(["callcov"]);
    expect(read()).toEqual(["callcov"]);
  });

  it("refuses an unknown vendor with the list of every known id", async () => {
    expect(() => BUILT_IN_REGISTRY.get("acme")).toThrow(
      /unknown vendor "acme" \(known: anthropic, callcov, .*zzbroken\)/,
    );
    const path = file("acme.yaml", callcovOnly.replace("vendor: callcov", "vendor: acme"));
    await expect(loadInventory(path)).rejects.toThrow(
      /credentials\[0\]\.vendor: expected vendor anthropic or callcov or datadog or justcall or sendgrid or twilio or zzbroken/,
    );
  });

  it("stops the worker's start and check-config on a broken built-in definition the inventory does not use, naming its file", async () => {
    const path = file("callcov-at-start.yaml", callcovOnly);
    const refused = await loadInventory(path, { everyVendor: true }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    const problems = (refused as ConfigError).problems;
    // Every problem of the broken file at once, each naming it; the other definitions are fine.
    expect(problems).toContain(`${brokenBuiltIn.path}: calls.create: Invalid input: expected object, received number`);
    expect(problems.every((p) => p.startsWith(`${brokenBuiltIn.path}: `))).toBe(true);
    const checked = await checkConfig(path);
    expect(checked.code).toBe(2);
    expect(checked.stderr.join("\n")).toContain(`${brokenBuiltIn.path}: calls.create: `);
  });

  it("refuses a broken built-in definition an inventory uses, naming its file, for any command", async () => {
    const path = file("uses-broken.yaml", callcovOnly.replace("vendor: callcov", "vendor: zzbroken"));
    await expect(loadInventory(path)).rejects.toThrow(brokenBuiltIn.path);
  });

  it("stops check-config and the worker's start on a broken definition of the inventory's own, naming its file", async () => {
    const own = file("acme-vendor.yaml", "id: acme\nname: Acme\nflow: key-api\n");
    const path = file("with-own.yaml", `vendorDefinitions: [acme-vendor.yaml]\n${callcovOnly}`);
    await expect(loadInventory(path, { everyVendor: true })).rejects.toThrow(own);
    const checked = await checkConfig(path);
    expect(checked.code).toBe(2);
    expect(checked.stderr.join("\n")).toContain(own);
  });

  it("refuses an inventory's own definition with a built-in vendor's id, naming both", () => {
    const mine = { ...BUILT_IN_REGISTRY.get("callcov"), source: "/defs/callcov.yaml" };
    expect(() => new VendorRegistry([mine])).toThrow(
      /vendor "callcov" is defined twice: built-in \(vendors\/callcov\.yaml\) and \/defs\/callcov\.yaml/,
    );
  });
});
