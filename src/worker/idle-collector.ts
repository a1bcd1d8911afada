/**
 * Gives back the memory a burst of maintenance work made V8 reserve. A tick's shards leave the
 * heap at its largest (old-space pages, the young generation grown to its cap) and V8 keeps it
 * while the worker idles: at 100,000 credentials on three replicas, each replica's heap still
 * held about 100 MiB for 55-60 MiB live a minute after its last shard, and no collection came in
 * that minute. So once the maintenance worker has had no job for `afterMs` (counted from the
 * worker's start until its first job), this runs one full collection that compacts the old
 * generation (`compactHeap`). As the process has allocated little for a few seconds by then (V8
 * looks at the last 5 s), V8 also shrinks the young generation back from its cap: run 2 s after a
 * shard, it left it at its largest.
 * It needs the global `gc` (node --expose-gc, among the image's flags); without it, it does nothing.
 *
 * Must not: collect while a job it wraps runs, or more than once an idle spell.
 */
import { setFlagsFromString } from "node:v8";

const V8_MAJOR = Number(process.versions.v8.split(".")[0]);

export class IdleCollector {
  readonly #gc: NodeJS.GCFunction | undefined;
  readonly #afterMs: number;
  #running = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #v8Major: number;

  constructor(options: { gc?: NodeJS.GCFunction | undefined; afterMs?: number; v8Major?: number } = {}) {
    this.#gc = "gc" in options ? options.gc : globalThis.gc;
    this.#afterMs = options.afterMs ?? 8_000;
    this.#v8Major = options.v8Major ?? V8_MAJOR;
  }

  /** The job processor, with the collection held off while a job runs and for `afterMs` after the last. */
  around<J, R>(processor: (job: J) => Promise<R>): (job: J) => Promise<R> {
    return async (job) => {
      this.#running += 1;
      clearTimeout(this.#timer);
      try {
        return await processor(job);
      } finally {
        this.#running -= 1;
        if (this.#running === 0) this.#schedule();
      }
    };
  }

  /**
   * The worker has started: collect after `afterMs` unless a job begins first (then after the last
   * job, as ever). Without it, a replica whose peers took every shard of the start-up due check
   * ran no job and never collected what its start-up allocated after the inventory's collection.
   */
  started(): void {
    if (this.#running === 0) this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    const gc = this.#gc;
    if (!gc) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => compactHeap(gc, this.#v8Major), this.#afterMs);
    this.#timer.unref();
  }
}

/**
 * A full collection that moves the old generation's live objects together and frees the pages
 * they leave, where V8's own full collections move only some: after a tick, the objects it keeps
 * (cache entries, metric slots) lie scattered over pages its garbage filled, and a plain `gc()`
 * left 20-26 MiB of old-space pages that held little. V8's memory-reducing collection
 * (`gc({ flavor: "last-resort" })`) would do it, but Node 20's V8 takes any options object for a
 * young-generation collection; so the flag that makes a full collection compact is set around it.
 * A plain collection first frees the garbage's pages, and the compacting one then moves the live
 * objects into those: alone, it took new pages for them while the old were still held (at
 * 100,000 credentials, 6-25 MiB over the inventory load's own peak).
 * From V8 13 on (Node 24, the image's runtime) the memory-reducing collection is asked for too:
 * there V8 keeps the pages a collection freed in a pool, still resident. An idle worker with
 * 10,000 credentials on Node 24 held 264 heap pages (67 MiB) for a heap of 34 MiB: RSS 149-155
 * MiB. With it, 108 MiB. Node 22's V8 (12.4) was not measured, so it is not asked there.
 * Returns false without `gc` (node --expose-gc).
 */
export function compactHeap(gc: NodeJS.GCFunction | undefined = globalThis.gc, v8Major = V8_MAJOR): boolean {
  if (!gc) return false;
  gc();
  setFlagsFromString("--compact-on-every-full-gc");
  try {
    gc();
  } finally {
    setFlagsFromString("--no-compact-on-every-full-gc");
  }
  if (v8Major >= 13) gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}
