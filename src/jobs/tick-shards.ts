/**
 * A maintenance tick cut into shard jobs, so the replicas share it and none holds the whole
 * fleet's listing at once. The tick's own job (the splitter) sorts the inventory's credentials by
 * secret id and cuts them into runs of `tickShardSize`; each shard job covers one range of secret
 * ids, from `from` (included) to `to` (excluded), the first from "" and the last open-ended.
 * Ranges, not positions: a replica whose inventory differs (a rolling deploy) still checks every
 * credential it knows in exactly one shard. A shard's data comes from Redis and may be forged, so
 * it is parsed here: a forged range only makes a replica check part of what it knows (the next
 * tick covers the rest), never act on anything the store does not show.
 *
 * Must not: read the store, or decide anything about a credential.
 */
import { z } from "zod";
import { lowerBound } from "../config/id-table.js";

/** The tick jobs that are cut into shards, and their shard jobs' names. */
export const SHARD_JOB = { "due-check": "due-check-shard", "health-check": "health-check-shard" } as const;
export type ShardedTick = keyof typeof SHARD_JOB;

export interface ShardRange {
  /** The first secret id of the range ("" for the first shard). */
  from: string;
  /** The first secret id past the range; absent for the last shard. */
  to?: string;
}

const ID_MAX = 2_048;

const shardDataSchema = z
  .strictObject({
    /** The splitter's job id: the tick this shard belongs to. */
    tick: z.string().min(1).max(200),
    shard: z.number().int().min(0).max(1_000_000),
    shards: z.number().int().min(1).max(1_000_000),
    /** When the tick began (ms): the health check's verify slice is the tick's, not the shard's. */
    at: z.number().finite().nonnegative(),
    from: z.string().max(ID_MAX),
    to: z.string().min(1).max(ID_MAX).optional(),
    /**
     * Where the shard's names begin in the listing's pages, as the splitter's walk found it. A
     * forged one reads other pages of the same store (or is refused by it): the shard's
     * credentials the pages do not show are read alone.
     */
    list: z
      .strictObject({
        prefixes: z.array(z.string().min(1).max(512)).max(10),
        token: z.string().min(1).max(4_096).optional(),
      })
      .optional(),
  })
  .refine((d) => d.shard < d.shards, { message: "shard must be below shards", path: ["shard"] })
  .refine((d) => d.to === undefined || d.from < d.to, { message: "from must sort before to", path: ["to"] });

export type ShardData = z.output<typeof shardDataSchema>;

/** The shard job's data, or what is wrong with it (each problem with its path). */
export function parseShardData(data: unknown): { shard: ShardData } | { problem: string } {
  const parsed = shardDataSchema.safeParse(data);
  if (parsed.success) return { shard: parsed.data };
  return {
    problem: parsed.error.issues.map((i) => `${i.path.join(".") || "(data)"}: ${i.message}`).join("; "),
  };
}

/** A shard's job id, the same for the same tick and shard, so a splitter run twice adds nothing twice. */
export function shardJobId(tick: string, shard: number): string {
  // BullMQ refuses ':' in a custom id; a scheduler's job id has two.
  return `${tick.replaceAll(":", "_")}-shard-${shard}`;
}

/** The inventory's credentials sorted by secret id, once: a shard is a contiguous run of them. */
export class SortedFleet<C extends { secretId: string }> {
  readonly #sorted: C[];

  constructor(credentials: readonly C[]) {
    this.#sorted = [...credentials].sort((a, b) => (a.secretId < b.secretId ? -1 : a.secretId > b.secretId ? 1 : 0));
  }

  get size(): number {
    return this.#sorted.length;
  }

  /**
   * Ranges of about `size` credentials each. A cut never falls between two credentials of one
   * secret id, so each id is in one range.
   */
  ranges(size: number): ShardRange[] {
    const bounds: string[] = [];
    const idAt = (i: number) => (this.#sorted[i] as C).secretId;
    for (let i = size; i < this.#sorted.length;) {
      // A cut inside a run of one secret id moves to the run's end.
      if (idAt(i) === idAt(i - 1)) {
        i += 1;
        continue;
      }
      bounds.push(idAt(i));
      i += size;
    }
    return [undefined, ...bounds].map((from, k) => ({
      from: from ?? "",
      ...(bounds[k] === undefined ? {} : { to: bounds[k] }),
    }));
  }

  /** The credentials whose secret id lies in the range. */
  within(range: ShardRange): C[] {
    const start = this.#firstAtOrAfter(range.from);
    const end = range.to === undefined ? this.#sorted.length : this.#firstAtOrAfter(range.to);
    return this.#sorted.slice(start, Math.max(start, end));
  }

  #firstAtOrAfter(secretId: string): number {
    return lowerBound(this.#sorted.length, (i) => (this.#sorted[i] as C).secretId < secretId);
  }
}
