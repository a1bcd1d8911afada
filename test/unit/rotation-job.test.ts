/**
 * attemptRotation's bookkeeping: each step's record (its log line, audit line and metric) is
 * written once the next step's call has gone out, in the order the steps ran, and all of them
 * before the attempt ends.
 */
import type { Job } from "bullmq";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { attemptRotation, type RotationJobContext } from "../../src/jobs/rotation.job.js";
import { createLogger } from "../../src/observability/logger.js";
import type { RotationHistory } from "../../src/queue/rotation-history-store.js";
import type { FlowRun } from "../../src/rotation/runner.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { FakeAlerter, FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const SECRET = "prod/callcov";

function world() {
  const calls: string[] = [];
  const store = new FakeStore(calls);
  const vendor = new FakeVendor(calls);
  store.seed(
    SECRET,
    "v-old",
    JSON.stringify({ vendor: "callcov", apiKey: "sk_live_old0000000000001", keyId: "k-old" }),
  );
  vendor.seed("k-old", "sk_live_old0000000000001");
  const logged: string[] = [];
  const log = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logged.push(chunk.toString());
        done();
      },
    }),
  });
  const history = {
    step: (_state: RotationState, step: string) => calls.push(`record:${step}`),
  } as unknown as RotationHistory;
  const found: FlowRun = {
    kind: "key-api",
    credential: { id: "cc-prod", vendor: "callcov", secretId: SECRET, graceMs: 0, maxGraceExtensionMs: 0 },
    deps: { store, vendor, value: KEY_VALUE, alerter: new FakeAlerter(), clock: { now: () => Date.now() } },
  };
  const ctx: RotationJobContext = {
    resolve: () => found,
    history,
    log,
    emergencyRequested: async () => undefined,
    now: () => Date.now(),
  };
  const data: RotationState = {
    credentialId: "cc-prod",
    rotationId: "11111111-2222-3333-4444-555555555555",
    step: Step.Create,
    emergency: true,
    trigger: "emergency",
    startedAt: Date.now(),
  };
  const job = { id: "rotation-1", data, updateData: async () => undefined } as unknown as Job<RotationState>;
  return { calls, logged, ctx, found, job, log };
}

describe("attemptRotation", () => {
  it("records each step after the next step's call went out, in order, and all before the attempt ends", async () => {
    const w = world();
    const outcome = await attemptRotation(w.ctx, w.job, w.found, w.log, { attempt: { number: 1, of: 1 } });
    expect(outcome.kind).toBe("finished");
    const records = w.calls.filter((c) => c.startsWith("record:"));
    expect(records).toEqual(["create", "verify", "promote", "grace", "revoke", "confirm"].map((s) => `record:${s}`));
    const steps = w.logged
      .map((l) => JSON.parse(l) as { event?: string; step?: string })
      .filter((l) => l.event === "rotation.step");
    expect(steps.map((l) => l.step)).toEqual(["create", "verify", "promote", "grace", "revoke", "confirm"]);
    // Not ahead of the calls that follow: the new key's verify before create's record, the old
    // key's revocation before the record of the step that led to it.
    expect(w.calls).toContain("vendor.verify");
    expect(w.calls).toContain("vendor.revokeKey");
    expect(w.calls.indexOf("record:create")).toBeGreaterThan(w.calls.indexOf("vendor.verify"));
    expect(w.calls.indexOf("record:grace")).toBeGreaterThan(w.calls.indexOf("vendor.revokeKey"));
  });

  it("a step's record that throws is logged as such and does not fail the rotation", async () => {
    const w = world();
    (w.ctx.history as unknown as { step: () => void }).step = () => {
      throw new Error("history is broken");
    };
    const outcome = await attemptRotation(w.ctx, w.job, w.found, w.log, { attempt: { number: 1, of: 1 } });
    expect(outcome.kind).toBe("finished");
    expect(w.logged.filter((l) => l.includes('"rotation.step-record"'))).toHaveLength(6);
  });
});
