import { Queue, Worker, DelayedError, UnrecoverableError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ROTATION_QUEUE,
  deterministicRotationId,
  enqueueRotation,
  emergencyFlagKey,
} from "../../src/queue/rotation-queue.js";
import type { RotationState } from "../../src/rotation/rotation-state.js";
import { until } from "../support/alert-receiver.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

describe("enqueueRotation on real Redis", () => {
  let redis: Redis;
  let queue: Queue;
  let prefix: string;

  beforeEach(() => {
    redis = testRedis();
    prefix = testPrefix("queue");
    queue = new Queue(ROTATION_QUEUE, { connection: redis, prefix });
  });

  afterEach(async () => {
    await queue.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("gives one job per credential however many times it is asked, in parallel", async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule", rotationId: "r-same" }),
      ),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(1);
    expect(await queue.getJobCounts("waiting", "prioritized", "delayed")).toMatchObject({ prioritized: 1 });
    const other = await enqueueRotation(queue, redis, { credentialId: "cc-2", trigger: "schedule" });
    expect(other.joined).toBe(false);
  });

  it("keeps the credential locked while its job waits out grace as a delayed job", async () => {
    const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule" });
    await putInGrace(queue, redis, prefix);
    const job = await queue.getJob(first.jobId);
    expect(await job?.getState()).toBe("delayed");
    const second = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "manual" });
    expect(second).toEqual({ jobId: first.jobId, rotationId: first.rotationId, joined: true });
  });

  it("an emergency joins a rotation in grace, marks it, and wakes it now", async () => {
    const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule" });
    await putInGrace(queue, redis, prefix);
    const emergency = await enqueueRotation(
      queue,
      redis,
      { credentialId: "cc-1", trigger: "emergency", emergency: true, reason: "leaked in a log", actor: "cli:oncall" },
      5_000,
    );
    expect(emergency.joined).toBe(true);
    const job = await queue.getJob(first.jobId);
    expect(await job?.getState()).not.toBe("delayed");
    expect((job?.data as RotationState).emergency).toBe(true);
    // When it was asked: the rotation is done only with a key made after that (rule 10).
    expect((job?.data as RotationState).emergencyAt).toBe(5_000);
    expect((job?.data as RotationState).reason).toContain("leaked in a log");
    expect((job?.data as RotationState).actor).toBe("cli:oncall");
  });

  it("an emergency joining a job the lane holds leaves it held (no second runner) and flags the lane's run", async () => {
    const held = await enqueueRotation(queue, redis, {
      credentialId: "cc-1",
      trigger: "emergency",
      emergency: true,
      holdMs: 60_000,
    });
    const again = await enqueueRotation(
      queue,
      redis,
      { credentialId: "cc-1", trigger: "emergency", emergency: true, actor: "cli:bob" },
      7_000,
    );
    expect(again).toMatchObject({ joined: true, jobId: held.jobId });
    expect(await queue.getJobState(held.jobId)).toBe("delayed");
    expect(JSON.parse((await redis.get(emergencyFlagKey(queue, "cc-1"))) ?? "{}")).toEqual({
      at: 7_000,
      actor: "cli:bob",
    });
  });

  it("an emergency for a running rotation sets the flag the processor takes, with when it was asked", async () => {
    await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule" });
    let release: () => void = () => undefined;
    const running = new Promise<void>((r) => (release = r));
    let started: () => void = () => undefined;
    const isRunning = new Promise<void>((r) => (started = r));
    let taken: string | null = null;
    const worker = new Worker(
      ROTATION_QUEUE,
      async () => {
        started();
        await running;
        taken = await redis.getdel(emergencyFlagKey(queue, "cc-1"));
      },
      { connection: redis.duplicate(), prefix },
    );
    await isRunning;
    const asking = enqueueRotation(
      queue,
      redis,
      { credentialId: "cc-1", trigger: "emergency", emergency: true, actor: "cli:alice" },
      1_234,
    );
    await new Promise((r) => setTimeout(r, 200));
    release();
    expect((await asking).joined).toBe(true);
    expect(JSON.parse(taken ?? "{}")).toEqual({ at: 1_234, actor: "cli:alice" });
    await worker.close();
  });

  it("an emergency whose running job ends without taking the flag starts a rotation of its own", async () => {
    const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule" });
    let release: () => void = () => undefined;
    const running = new Promise<void>((r) => (release = r));
    let started: () => void = () => undefined;
    const isRunning = new Promise<void>((r) => (started = r));
    const worker = new Worker(
      ROTATION_QUEUE,
      async (job: Job<RotationState>) => {
        if (job.data.rotationId !== first.rotationId) return;
        started();
        await running;
      },
      { connection: redis.duplicate(), prefix, autorun: true },
    );
    await isRunning;
    const asking = enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "emergency", emergency: true });
    await new Promise((r) => setTimeout(r, 200));
    release();
    const r = await asking;
    expect(r.joined).toBe(false);
    expect(r.rotationId).not.toBe(first.rotationId);
    expect(await redis.exists(emergencyFlagKey(queue, "cc-1"))).toBe(0);
    await worker.close();
  });

  it("a job that moves itself to delayed keeps its saved data and comes back", async () => {
    const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "schedule" });
    const seen: string[] = [];
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    const worker = new Worker(
      ROTATION_QUEUE,
      async (job: Job<RotationState>, token?: string) => {
        seen.push(job.data.outcome ?? "first");
        if (!job.data.outcome) {
          await job.updateData({ ...job.data, outcome: "after grace" });
          await job.moveToDelayed(Date.now() + 50, token);
          throw new DelayedError();
        }
        done();
      },
      { connection: redis.duplicate(), prefix },
    );
    await finished;
    await worker.close();
    expect(seen).toEqual(["first", "after grace"]);
    expect(first.joined).toBe(false);
  });

  // The due check asks for the same id while the store is unchanged. A failed attempt leaves it
  // unchanged, and BullMQ answers an add of a known job id with the old job: nothing ran again.
  it("asking again for a rotation id whose job failed runs it again, as a retry of a create", async () => {
    const request = { credentialId: "cc-1", trigger: "schedule" as const, rotationId: "r-det" };
    const first = await enqueueRotation(queue, redis, request);
    const runs: RotationState[] = [];
    let ran: () => void = () => undefined;
    let finished = new Promise<void>((r) => (ran = r));
    const worker = new Worker(
      ROTATION_QUEUE,
      async (job: Job<RotationState>) => {
        runs.push(job.data);
        ran();
        if (runs.length === 1) throw new UnrecoverableError("the vendor refused the create");
      },
      { connection: redis.duplicate(), prefix },
    );
    await finished;
    await until(async () => (await queue.getJobState(first.jobId)) === "failed", "the first attempt to fail");
    finished = new Promise<void>((r) => (ran = r));
    const again = await enqueueRotation(queue, redis, request);
    await finished;
    await worker.close();
    expect(again).toEqual({ jobId: first.jobId, rotationId: "r-det", joined: false });
    expect(runs.map((r) => r.createAttempted ?? false)).toEqual([false, true]);
    // A job still in flight under that id is joined, not replaced.
    const third = await enqueueRotation(queue, redis, { ...request, rotationId: "r-other" });
    const fourth = await enqueueRotation(queue, redis, { ...request, rotationId: "r-other" });
    expect(fourth.jobId).toBe(third.jobId);
    expect(await queue.getJobCounts("prioritized", "waiting")).toMatchObject({ prioritized: 1 });
  });
});

/** Runs the queued job once in a worker that parks it as a delayed continuation, like grace. */
async function putInGrace(queue: Queue, redis: Redis, prefix: string): Promise<void> {
  let parked: () => void = () => undefined;
  const done = new Promise<void>((r) => (parked = r));
  const worker = new Worker(
    ROTATION_QUEUE,
    async (job, token) => {
      await job.moveToDelayed(Date.now() + 3_600_000, token);
      parked();
      throw new DelayedError();
    },
    { connection: redis.duplicate(), prefix },
  );
  await done;
  await worker.close();
  void queue;
}

describe("a stale lock", () => {
  it("a deduplication id naming a job that has ended (left behind, or forged in Redis) does not hold off a rotation", async () => {
    const redis = testRedis();
    const prefix = testPrefix("stale-ended");
    const queue = new Queue(ROTATION_QUEUE, { connection: redis, prefix });
    try {
      const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "manual" });
      const worker = new Worker(ROTATION_QUEUE, async () => "done", { connection: redis.duplicate(), prefix });
      await until(async () => (await queue.getJobState(first.jobId)) === "completed", "the first job to complete");
      await worker.close();
      // Forged: the credential's lock points at the finished job again.
      await redis.set(`${prefix}:${ROTATION_QUEUE}:de:rotation-cc-1`, first.jobId);
      const emergency = await enqueueRotation(queue, redis, {
        credentialId: "cc-1",
        trigger: "emergency",
        emergency: true,
      });
      expect(emergency.joined).toBe(false);
      expect(emergency.rotationId).not.toBe(first.rotationId);
      expect(await queue.getJobState(emergency.jobId)).not.toBe("completed");
    } finally {
      await queue.close();
      await dropPrefix(redis, prefix);
      redis.disconnect();
    }
  });

  it("a deduplication id naming a job that was removed by hand is freed and the rotation queued", async () => {
    const redis = testRedis();
    const prefix = testPrefix("stale");
    const queue = new Queue(ROTATION_QUEUE, { connection: redis, prefix });
    try {
      const first = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "manual" });
      await redis.del(`${prefix}:${ROTATION_QUEUE}:${first.jobId}`);
      const second = await enqueueRotation(queue, redis, { credentialId: "cc-1", trigger: "manual" });
      expect(second.joined).toBe(false);
      expect(await queue.getJob(second.jobId)).toBeDefined();
    } finally {
      await queue.close();
      await dropPrefix(redis, prefix);
      redis.disconnect();
    }
  });
});

describe("deterministicRotationId", () => {
  const v = (id: string) => ({ versionId: id, stages: [], createdAt: new Date(0) });
  it("is the same for the same store state and changes when a version is added", () => {
    const a = deterministicRotationId("cc", [v("a"), v("b")]);
    expect(deterministicRotationId("cc", [v("b"), v("a")])).toBe(a);
    expect(deterministicRotationId("cc", [v("a"), v("b"), v("c")])).not.toBe(a);
    expect(deterministicRotationId("other", [v("a"), v("b")])).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
