/**
 * The idle collector (idle-collector.ts): one memory-reducing collection (a plain full one, then
 * the compacting one, and from V8 13 on the memory-reducing one) once the wrapped processor has
 * had no job for the delay, counted from the worker's start until its first job; never while a
 * job runs, none without `gc`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IdleCollector } from "../../src/worker/idle-collector.js";

describe("IdleCollector", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const fakeGc = () => {
    const calls: unknown[] = [];
    const gc = ((...args: unknown[]) => void calls.push(args)) as NodeJS.GCFunction;
    return { gc, calls };
  };

  it("collects once, fully, when no job has run for the delay", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 1_000, v8Major: 11 });
    const run = collector.around(async (n: number) => n * 2);
    expect(await run(1)).toBe(2);
    expect(await run(2)).toBe(4);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // No options: full collections on every Node (Node 20 ran a young one for { type: "major" }):
    // a plain one, then the compacting one.
    expect(calls).toEqual([[], []]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(2);
  });

  it("from V8 13 on (Node 24) also asks for the memory-reducing collection, which gives pooled pages back", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 10, v8Major: 13 });
    await collector.around(async () => {})(undefined);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toEqual([[], [], [{ type: "major", execution: "sync", flavor: "last-resort" }]]);
  });

  it("waits while a job runs, however long, and counts the delay from its end", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 1_000, v8Major: 11 });
    let finish = () => {};
    const run = collector.around(() => new Promise<void>((resolve) => (finish = resolve)));
    const job = run(undefined);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toHaveLength(0);
    finish();
    await job;
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
  });

  it("still schedules after a job that failed, and passes the failure on", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 10, v8Major: 11 });
    const run = collector.around(async () => {
      throw new Error("tick failed");
    });
    await expect(run(undefined)).rejects.toThrow("tick failed");
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toHaveLength(2);
  });

  it("does nothing without gc (a process started without --expose-gc)", async () => {
    const collector = new IdleCollector({ gc: undefined, afterMs: 10 });
    expect(await collector.around(async () => "done")(undefined)).toBe("done");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("collects once after start-up on a replica that runs no job", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 1_000, v8Major: 11 });
    collector.started();
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([[], []]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(2);
  });

  it("after start-up, a job that begins first holds the collection off until after it", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 1_000, v8Major: 11 });
    let finish = () => {};
    const run = collector.around(() => new Promise<void>((resolve) => (finish = resolve)));
    collector.started();
    await vi.advanceTimersByTimeAsync(500);
    const job = run(undefined);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toHaveLength(0);
    finish();
    await job;
    await vi.advanceTimersByTimeAsync(1_000);
    // One collection: the start-up's was cancelled by the job, not run beside the job's.
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(2);
  });

  it("started while a job runs does not collect during it", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 100, v8Major: 11 });
    let finish = () => {};
    const job = collector.around(() => new Promise<void>((resolve) => (finish = resolve)))(undefined);
    collector.started();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(0);
    finish();
    await job;
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(2);
  });

  it("stop cancels a collection not yet run", async () => {
    const { gc, calls } = fakeGc();
    const collector = new IdleCollector({ gc, afterMs: 10, v8Major: 11 });
    await collector.around(async () => {})(undefined);
    collector.stop();
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(0);
  });
});
