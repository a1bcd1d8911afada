import * as index from "bullmq";
import { describe, expect, it } from "vitest";
import * as direct from "../../src/queue/bullmq.js";

describe("BullMQ classes loaded without its index", () => {
  it("are the index's own classes, so errors and instances match either way", () => {
    expect(direct.Queue).toBe(index.Queue);
    expect(direct.Worker).toBe(index.Worker);
    expect(direct.DelayedError).toBe(index.DelayedError);
    expect(direct.UnrecoverableError).toBe(index.UnrecoverableError);
  });
});
