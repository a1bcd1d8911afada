/**
 * A read-only map from the fleet's ids to a few values that many ids share (the alert routes of
 * every credential, say): the ids sorted in one array, and per id the index of its value. At
 * 100,000 credentials a Map of them held 3.7 MiB; this holds about 1 MiB (the id strings are
 * the caller's, not copied). Reads as a Map does: the last entry of an id wins.
 *
 * Must not: be changed once built, or hold values that differ per id (a Map is as small then).
 */
export class IdTable<V> {
  readonly #ids: string[];
  readonly #slots: Uint32Array;
  readonly #values: V[] = [];

  constructor(entries: Iterable<readonly [string, V]>) {
    const ids: string[] = [];
    const slots: number[] = [];
    const slotOf = new Map<V, number>();
    for (const [id, value] of entries) {
      let slot = slotOf.get(value);
      if (slot === undefined) {
        slot = this.#values.push(value) - 1;
        slotOf.set(value, slot);
      }
      ids.push(id);
      slots.push(slot);
    }
    // Sorted by id; among equal ids the later entry last (a stable sort), which is the one kept.
    const order = Array.from(ids.keys()).sort((a, b) => compare(ids[a] as string, ids[b] as string));
    const kept = order.filter((k, i) => ids[k] !== ids[order[i + 1] ?? -1]);
    this.#ids = kept.map((k) => ids[k] as string);
    this.#slots = Uint32Array.from(kept, (k) => slots[k] as number);
  }

  get size(): number {
    return this.#ids.length;
  }

  get(id: string): V | undefined {
    const at = lowerBound(this.#ids.length, (i) => (this.#ids[i] as string) < id);
    return this.#ids[at] === id ? this.#values[this.#slots[at] as number] : undefined;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A read-only map from the fleet's ids to values that each carry their id (the credentials
 * themselves): the values sorted by id in one array, where a Map of them held a hash table of
 * 448 KiB at 10,000 credentials; this holds 40 KiB. Reads as a Map keyed by `id` does: the last
 * value of an id wins.
 *
 * Must not: be changed once built.
 */
export class ById<V extends { readonly id: string }> {
  readonly #sorted: V[];

  constructor(values: Iterable<V>) {
    // A stable sort: among equal ids the later value last, which is the one kept.
    const all = Array.from(values).sort((a, b) => compare(a.id, b.id));
    this.#sorted = all.filter((v, i) => v.id !== all[i + 1]?.id);
  }

  get size(): number {
    return this.#sorted.length;
  }

  get(id: string): V | undefined {
    const found = this.#sorted[lowerBound(this.#sorted.length, (i) => (this.#sorted[i] as V).id < id)];
    return found?.id === id ? found : undefined;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }
}

/**
 * Small whole numbers for ids, for tables kept per credential in typed arrays (KeyTimes,
 * CurrentVersionCache): the fleet's ids, given up front, are numbered in sorted order and found by
 * binary search; any other id is numbered after them when first added, in a Map. A Map of the
 * fleet's 10,000 ids to numbers held a hash table of 448 KiB; this holds the sorted array, 80 KiB.
 *
 * Must not: renumber an id once it has a number.
 */
export class IdSlots {
  readonly #known: string[];
  readonly #more = new Map<string, number>();

  constructor(ids: Iterable<string> = []) {
    const sorted = Array.from(ids).sort(compare);
    this.#known = sorted.filter((id, i) => id !== sorted[i + 1]);
  }

  /** How many numbers are given: the ids given up front, and those added since. */
  get size(): number {
    return this.#known.length + this.#more.size;
  }

  slotOf(id: string): number | undefined {
    const at = lowerBound(this.#known.length, (i) => (this.#known[i] as string) < id);
    return this.#known[at] === id ? at : this.#more.get(id);
  }

  /** The id's number, given now if it has none. */
  add(id: string): number {
    let slot = this.slotOf(id);
    if (slot === undefined) {
      slot = this.size;
      this.#more.set(id, slot);
    }
    return slot;
  }

  /** Every id with its number, in the order of their numbers. */
  *entries(): IterableIterator<[string, number]> {
    for (const [slot, id] of this.#known.entries()) yield [id, slot];
    yield* this.#more;
  }
}

/** The first index in [0, length) for which `before(i)` is false, where it is true for a prefix only (a sorted array's binary search). */
export function lowerBound(length: number, before: (i: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
