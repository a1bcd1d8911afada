import { describe, expect, it } from "vitest";
import { StoreReadiness } from "../../src/store/store-readiness.js";

describe("StoreReadiness (/readyz for the secret store)", () => {
  it("one probe call a minute while the store answers, probes arriving together share it", async () => {
    let now = 0;
    let calls = 0;
    const r = new StoreReadiness(async () => void (calls += 1), { now: () => now });
    await Promise.all([r.check(), r.check(), r.check()]);
    for (let t = 0; t < 59; t++) {
      now = t * 1_000;
      await r.check();
    }
    expect(calls).toBe(1);
    now = 60_000;
    await r.check();
    expect(calls).toBe(2);
  });

  it("a failure is not ready, kept for 10 s, then asked again; a store that is back is ready", async () => {
    let now = 0;
    let calls = 0;
    let down = true;
    const r = new StoreReadiness(
      async () => {
        calls += 1;
        if (down) throw new Error("ListSecrets: connect ECONNREFUSED");
      },
      { now: () => now },
    );
    await expect(r.check()).rejects.toThrow(/ECONNREFUSED/);
    now = 9_000;
    await expect(r.check()).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toBe(1);
    down = false;
    now = 10_000;
    await r.check();
    expect(calls).toBe(2);
  });
});
