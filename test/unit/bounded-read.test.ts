/** Bounded reads: a FIFO, /dev/zero, a directory or an oversized file fail at once with a clear error. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readBoundedFile, readBoundedFileSync } from "../../src/config/bounded-read.js";
import { loadInventory } from "../../src/config/load-inventory.js";

const DIR = mkdtempSync(join(tmpdir(), "kr-bounded-"));
const FIFO = join(DIR, "fifo");
execFileSync("mkfifo", [FIFO]);
const SMALL = join(DIR, "small.txt");
writeFileSync(SMALL, "hello\n");
const BIG = join(DIR, "big.txt");
writeFileSync(BIG, "x".repeat(2_000));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const o = { what: "the file", maxBytes: 1_000 };

describe("readBoundedFile(Sync)", () => {
  it("reads a small regular file", async () => {
    expect(readBoundedFileSync(SMALL, o)).toBe("hello\n");
    expect(await readBoundedFile(SMALL, o)).toBe("hello\n");
  });

  it.each([
    ["a FIFO with no writer", FIFO, /is a FIFO \(named pipe\), not a regular file/],
    ["/dev/zero", "/dev/zero", /is a device, not a regular file/],
    ["a directory", DIR, /is a directory/],
    ["a file over the cap", BIG, /larger than 1000 bytes/],
    ["a missing file", join(DIR, "nope"), /no such file/],
  ])("%s fails fast, naming the file", async (_what, path, message) => {
    const started = Date.now();
    expect(() => readBoundedFileSync(path, o)).toThrow(message);
    await expect(readBoundedFile(path, o)).rejects.toThrow(message);
    await expect(readBoundedFile(path, o)).rejects.toThrow(path);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("the inventory is read within the same bounds", async () => {
    await expect(loadInventory(FIFO)).rejects.toThrow(`${FIFO}: cannot read the inventory: is a FIFO`);
    await expect(loadInventory("/dev/zero")).rejects.toThrow("cannot read the inventory: is a device");
  });
});

describe("alert route { file: } references", () => {
  it.each([
    ["/dev/zero", /alertRoutes\.hook\.hmacSecret: \/dev\/zero: cannot read the file: is a device/],
    [FIFO, /alertRoutes\.hook\.hmacSecret: .*fifo: cannot read the file: is a FIFO/],
  ])("%s fails start-up at once with the route and the file named", async (file, message) => {
    const { parseInventory } = await import("../../src/config/load-inventory.js");
    const { buildAlerter } = await import("../../src/worker/compose-alerter.js");
    const { createLogger } = await import("../../src/observability/logger.js");
    const inventory = parseInventory(
      [
        "alertRoutes:",
        "  hook:",
        "    type: webhook",
        "    url: http://127.0.0.1:9/hook",
        `    hmacSecret: { file: ${JSON.stringify(file)} }`,
        "credentials:",
        "  - id: cc",
        "    vendor: callcov",
        "    secretId: s/cc",
        "    baseUrl: http://127.0.0.1:9",
        "    managementSecretId: s/login",
        "    rotation: { every: 90d }",
        "    alerts: { critical: [hook] }",
        "",
      ].join("\n"),
      "inv.yaml",
    );
    const started = Date.now();
    await expect(buildAlerter(inventory, { log: createLogger({ level: "silent" }), env: {} })).rejects.toThrow(message);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
