/**
 * The splitter of a due or health tick over more than `tickShardSize` credentials: it adds one
 * shard job per range of secret ids (tick-shards.ts), each with a job id fixed by the tick and the
 * shard, so a splitter run twice (a stalled job run again) adds nothing twice. While it walks the
 * listing's pages once in name order (fleet-view.ts), it adds each shard as soon as it finds the
 * page where the shard's names begin, so the other replicas start on the first shards at once.
 *
 * Must not: check a credential (the shards do), or hold more of the listing than one page.
 */
import type { Job, Queue } from "bullmq";
import type { Clock, SecretStore } from "../core/ports.js";
import type { RuntimeSettings } from "../config/runtime-config.js";
import { type PageRun, tightPrefixes, walkPages } from "../jobs/fleet-view.js";
import { SHARD_JOB, type ShardData, type ShardedTick, type SortedFleet, shardJobId } from "../jobs/tick-shards.js";
import type { Logger } from "../observability/logger.js";

export interface SplitterContext {
  queue: Pick<Queue, "addBulk">;
  store: SecretStore;
  log: Logger;
  clock: Clock;
  settings: RuntimeSettings;
  fleet: SortedFleet<{ secretId: string }>;
  credentials: ReadonlyArray<{ secretId: string }>;
}

/** Splits a tick into shard jobs; undefined when the fleet is one shard (the caller runs it whole). */
export function tickSplitter(
  ctx: SplitterContext,
): (job: Job, name: ShardedTick) => Promise<{ shards: number } | undefined> {
  let prefixes: string[] | undefined;
  return async (job, name) => {
    const ranges = ctx.fleet.ranges(ctx.settings.tickShardSize);
    if (ranges.length <= 1) return undefined;
    const tick = job.id ?? `${name}-${ctx.clock.now()}`;
    const at = ctx.clock.now();
    // Kept for one interval, so a splitter run again in it finds its shards there.
    const keepS = Math.ceil(
      (name === "due-check" ? ctx.settings.dueCheckEveryMs : ctx.settings.healthCheckEveryMs) / 1000,
    );
    const added = new Set<number>();
    const add = async (shard: number, list?: PageRun) => {
      added.add(shard);
      const data: ShardData = {
        tick,
        shard,
        shards: ranges.length,
        at,
        ...(ranges[shard] as (typeof ranges)[number]),
        ...(list ? { list } : {}),
      };
      const keep = { age: keepS, count: 1_000 };
      await ctx.queue.addBulk([
        {
          name: SHARD_JOB[name],
          data,
          opts: { jobId: shardJobId(tick, shard), removeOnComplete: keep, removeOnFail: keep },
        },
      ]);
    };
    prefixes ??= tightPrefixes(ctx.credentials.map((c) => c.secretId));
    const paged = ctx.store.listSecretsPage !== undefined;
    await add(0, paged ? { prefixes } : undefined);
    const bounds = ranges.slice(1).map((r) => r.from);
    if (paged) await walkPages(ctx.store, prefixes, bounds, (k, run) => add(k + 1, run), ctx.log);
    // Not found by the walk (it failed, or the store cannot page): the shard lists its secrets whole.
    for (let shard = 1; shard < ranges.length; shard++) if (!added.has(shard)) await add(shard);
    ctx.log.info(
      { event: `${name}.split`, tick, shards: ranges.length, credentials: ctx.fleet.size, paged },
      `${name}: ${ctx.fleet.size} credentials cut into ${ranges.length} shard jobs`,
    );
    return { shards: ranges.length };
  };
}
