/**
 * Due and health ticks cut into shard jobs (issue 21 item 2), on real Redis with two maintenance
 * workers sharing one queue: every credential is checked exactly once a tick, both workers take
 * shards, a due credential is started once and an account's management login is checked once; a
 * splitter run twice adds no shard twice; shard data that is not a shard is refused with a log
 * line; and a credential only one replica's inventory has is still covered (a rolling deploy).
 */
import { type Job, Queue, Worker } from "bullmq";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseInventory } from "../../src/config/load-inventory.js";
import { toRuntime, withFields } from "../../src/config/load-runtime.js";
import type { RuntimeCredential } from "../../src/config/runtime-config.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { RotationHistory } from "../../src/queue/rotation-history-store.js";
import type { RotationRequest } from "../../src/queue/rotation-queue.js";
import { MAINTENANCE_QUEUE, maintenanceProcessor } from "../../src/worker/maintenance.js";
import { FakeAlerter, FakeStore, FakeVendor } from "../support/fake-ports.js";
import { dropPrefix, testPrefix, testRedis } from "../support/redis.js";

const DAY = 86_400_000;
const ids = Array.from({ length: 12 }, (_, i) => `cc-${String(i).padStart(2, "0")}`);
const DUE = "cc-07";

function inventoryOf(credentialIds: string[]) {
  const lines = [
    "settings: { tickShardSize: 2, healthCheckEvery: 15m, verifyEvery: 15m }",
    "credentials:",
    ...credentialIds.flatMap((id) => [
      `  - id: ${id}`,
      "    vendor: callcov",
      `    secretId: s/${id}`,
      "    baseUrl: https://api.callcov.com",
      "    managementSecretId: s/login",
      "    rotation: { every: 90d }",
    ]),
  ];
  return toRuntime(parseInventory(`${lines.join("\n")}\n`, "inv.yaml"));
}

describe("a tick cut into shards", () => {
  const redis = testRedis();
  let prefix: string;
  let queue: Queue;
  let workers: Worker[] = [];
  // One store and one vendor account, as every replica sees them.
  let calls: string[];
  let store: FakeStore;
  let vendor: FakeVendor;
  let enqueued: RotationRequest[];

  beforeEach(() => {
    prefix = testPrefix("shards");
    queue = new Queue(MAINTENANCE_QUEUE, { connection: redis.duplicate(), prefix });
    calls = [];
    store = new FakeStore(calls, undefined, () => Date.now() - 10 * DAY);
    vendor = new FakeVendor(calls);
    for (const id of [...ids, "cc-045"]) {
      const key = `sk_live_${id}_000000000000`;
      store.seed(`s/${id}`, `v-${id}`, JSON.stringify({ vendor: "callcov", apiKey: key, keyId: id }));
      vendor.seed(id, key);
    }
    const due = store.secrets.get(`s/${DUE}`)?.[0];
    if (due) due.createdAt = new Date(Date.now() - 100 * DAY);
    // Pages of 2 secrets; a page that takes a while, so a shard lasts long enough for the other
    // worker to take the next.
    store.pageSize = 2;
    const page = store.listSecretsPage.bind(store);
    store.listSecretsPage = async (prefixes, token) => (
      await new Promise((r) => setTimeout(r, 100)),
      page(prefixes, token)
    );
    enqueued = [];
  });

  afterEach(async () => {
    await Promise.all(workers.map((w) => w.close()));
    workers = [];
    await queue.close();
    await dropPrefix(redis, prefix);
  });

  /**
   * A replica's maintenance processor over its inventory, recording each credential it checks
   * (a due key's rule is asked twice: once on the listing, once on its closer look).
   */
  function replica(name: string, credentialIds: string[]) {
    const runtime = inventoryOf(credentialIds);
    const checked: string[] = [];
    const credentials = runtime.credentials.map((c) =>
      withFields(c, {
        schedule: (created: Date, now: number) => (checked.push(c.id), c.schedule(created, now)),
      }),
    );
    const lines: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (l: string) => void lines.push(l) } });
    const processor = maintenanceProcessor({
      config: { settings: runtime.settings, credentials },
      queue,
      ports: {
        store,
        vendorFor: () => vendor,
        verifierFor: () => vendor,
        alerter: new FakeAlerter(),
        metrics: createMetrics({ defaultMetrics: false }),
        log,
        clock: { now: () => Date.now() },
      },
      redis,
      history: {} as RotationHistory,
      enqueue: async (r) => (
        enqueued.push(r),
        { jobId: r.credentialId, rotationId: r.rotationId ?? "", joined: false }
      ),
      rotationInFlight: async () => false,
      byId: new Map<string, RuntimeCredential>(credentials.map((c) => [c.id, c])),
    });
    const work = () => {
      const worker = new Worker(MAINTENANCE_QUEUE, processor, {
        connection: redis.duplicate(),
        prefix,
        concurrency: 1,
      });
      workers.push(worker);
      return worker;
    };
    const checkedOnce = () => [...new Set(checked)];
    /** What the shards' summaries say they checked, together. */
    const summedChecked = (event: string) =>
      lines
        .filter((l) => l.includes(`"${event}"`))
        .reduce((n, l) => n + Number((JSON.parse(l) as { checked?: number }).checked ?? 0), 0);
    return { name, processor, checked, checkedOnce, summedChecked, lines, work };
  }

  const job = (name: string, id: string, data: unknown = {}) => ({ name, id, data }) as Job;

  async function runTick(name: "due-check" | "health-check", shards: number) {
    const done: Array<Promise<void>> = [];
    let finished = 0;
    const all = new Promise<void>((resolve) => {
      for (const w of workers)
        w.on("completed", (j) => {
          if (j.name === `${name}-shard` && ++finished === shards) resolve();
        });
    });
    done.push(all);
    await queue.add(name, {}, { jobId: `${name}-tick-1` });
    await Promise.all(done);
  }

  it("a due tick over two workers: each credential checked once, both take shards, the due one started once", async () => {
    const a = replica("a", ids);
    const b = replica("b", ids);
    a.work();
    b.work();
    await runTick("due-check", 6);
    // No credential checked by both, none left out, and the shards' counts add up to the fleet.
    expect([...a.checkedOnce(), ...b.checkedOnce()].sort()).toEqual(ids);
    expect(a.summedChecked("due-check.done") + b.summedChecked("due-check.done")).toBe(12);
    expect(a.checked.length).toBeGreaterThan(0);
    expect(b.checked.length).toBeGreaterThan(0);
    expect(enqueued.map((r) => [r.credentialId, r.trigger])).toEqual([[DUE, "schedule"]]);
    // The listing's 7 pages are walked once (up to the last shard's first page) and each shard
    // reads its own run of them: never the whole listing once a shard.
    expect(calls.filter((c) => c === "store.listSecrets")).toEqual([]);
    const pages = calls.filter((c) => c === "store.listSecretsPage").length;
    expect(pages).toBeGreaterThanOrEqual(7);
    expect(pages).toBeLessThanOrEqual(6 + 6 * 2);
    const split = [...a.lines, ...b.lines].filter((l) => l.includes('"due-check.split"'));
    expect(split).toHaveLength(1);
    expect(JSON.parse(split[0] ?? "{}")).toMatchObject({ shards: 6, credentials: 12 });
  });

  it("a health tick over two workers: each key shown to the vendor once, the account's login checked once", async () => {
    const a = replica("a", ids);
    const b = replica("b", ids);
    a.work();
    b.work();
    await runTick("health-check", 6);
    expect([...a.checkedOnce(), ...b.checkedOnce()].sort()).toEqual(ids);
    expect(a.summedChecked("health-check.done") + b.summedChecked("health-check.done")).toBe(12);
    expect(calls.filter((c) => c === "vendor.verify")).toHaveLength(12);
    expect(calls.filter((c) => c === "vendor.listKeys")).toHaveLength(1);
  });

  it("a splitter run twice (a stalled tick run again) adds each shard once", async () => {
    const a = replica("a", ids);
    await a.processor(job("due-check", "repeat:due-check:1"));
    await a.processor(job("due-check", "repeat:due-check:1"));
    const waiting = await queue.getWaiting();
    expect(waiting.map((j) => j.id).sort()).toEqual(
      Array.from({ length: 6 }, (_, k) => `repeat_due-check_1-shard-${k}`).sort(),
    );
    expect(a.checked).toEqual([]);
  });

  it("shard data that is not a shard is refused with a log line naming what is wrong; a forged range checks only what it names", async () => {
    const a = replica("a", ids);
    const forged = { tick: "t", shard: 9, shards: 2, at: Date.now(), from: "" };
    expect(await a.processor(job("due-check-shard", "forged-1", forged))).toMatchObject({
      refused: expect.any(String),
    });
    expect(await a.processor(job("health-check-shard", "forged-2", { from: "", to: "s/cc-03", rm: "-rf" }))).toEqual({
      refused: expect.stringContaining("rm"),
    });
    expect(a.checked).toEqual([]);
    const refused = a.lines.filter((l) => l.includes('"maintenance.shard-refused"'));
    expect(refused).toHaveLength(2);
    expect(refused[0]).toContain(
      "refused due-check-shard job forged-1: its data is not a shard (shard: shard must be below shards)",
    );
    // Well formed but not the splitter's: a replica checks the credentials it names, nothing else;
    // a page token the store refuses makes the shard list its secrets whole.
    const shard = { tick: "t", shard: 0, shards: 1, at: 0, from: "", to: "s/cc-03" };
    await a.processor(job("due-check-shard", "forged-3", { ...shard, list: { prefixes: ["s/"], token: "s/@4" } }));
    expect(a.checked.sort()).toEqual(["cc-00", "cc-01", "cc-02"]);
    expect(a.lines.some((l) => l.includes('"fleet-listing.run-failed"'))).toBe(false);
    await a.processor(job("due-check-shard", "forged-4", { ...shard, list: { prefixes: ["s/"], token: "x@1" } }));
    expect(a.lines.filter((l) => l.includes('"fleet-listing.run-failed"'))).toHaveLength(1);
    expect(a.checkedOnce().sort()).toEqual(["cc-00", "cc-01", "cc-02"]);
  });

  it("a credential only one replica's inventory has (a rolling deploy) is still checked, once", async () => {
    const old = replica("old", ids);
    const newer = replica("new", [...ids, "cc-045"]);
    await old.processor(job("due-check", "due-check-start-1"));
    const shards = await queue.getWaiting();
    expect(shards).toHaveLength(6);
    for (const shard of shards) await newer.processor(shard);
    expect(newer.checkedOnce().sort()).toEqual([...ids, "cc-045"].sort());
    expect(newer.summedChecked("due-check.done")).toBe(13);
  });
});
