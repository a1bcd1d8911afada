/**
 * The orphan sweep's cost on a steady fleet: each credential's one key is the one its current
 * version holds, recognised from batch reads (20 secrets a call), with no per-secret call; a key
 * the current version does not hold still gets the full look and is revoked when nothing holds it.
 */
import { describe, expect, it } from "vitest";
import { runOrphanSweep } from "../../src/jobs/orphan-sweep.job.js";
import { createLogger } from "../../src/observability/logger.js";
import { FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const NOW = 10_000_000_000;
const value = (keyId: string) =>
  JSON.stringify({ vendor: "callcov", apiKey: `sk_live_${keyId.padEnd(10, "0")}`, keyId });

describe("the orphan sweep on a steady fleet", () => {
  it("costs batch reads of the current versions only, and still revokes a real orphan", async () => {
    const calls: string[] = [];
    const store = new FakeStore(calls, undefined, () => NOW - 86_400_000);
    const vendor = new FakeVendor(calls, undefined, () => NOW - 86_400_000);
    const credentials = [];
    for (let i = 0; i < 100; i++) {
      store.seed(`s/${i}`, `r${i}`, value(`k${i}`));
      vendor.seed(`k${i}`, `sk_live_${`k${i}`.padEnd(10, "0")}`, `key-rotator/c${i}/r${i}`);
      credentials.push({ id: `c${i}`, secretId: `s/${i}` });
    }
    vendor.seed("k-orphan", "sk_live_orphan0000", "key-rotator/c7/crashed");
    const summary = await runOrphanSweep({
      accounts: [{ vendor, value: KEY_VALUE, credentials }],
      store,
      log: createLogger({ level: "silent" }),
      now: () => NOW,
      minAgeMs: 600_000,
    });
    expect(summary.revoked).toEqual(["k-orphan"]);
    expect(calls.filter((c) => c.startsWith("store."))).toEqual([
      "store.readCurrent",
      // c7's orphan is not its current key: c7 alone gets the full look.
      "store.listVersions",
      "store.read",
    ]);
  });
});
