/**
 * Figures measured against a fixed bound, or against a floor, move with whatever else the host
 * runs. On this 2-core shared machine one sitting of the fleet bench read 1.35 (11.3 ms of worker
 * CPU a rotation) and the next, fifteen minutes later, 1.08 (7.4 ms), for the same build; the
 * breach drill in the slow sitting read 1.22, where it reads 0.99-1.02. So a full run takes each
 * of those figures in several sittings, one after another, and reports the sitting with the median
 * figure, with every sitting's figure beside it (`samples`, in the order taken). `--quick` sits once.
 */

/** `measure` run `n` times, one sitting after another. */
export async function sittings<T>(
  n: number,
  name: string,
  measure: () => Promise<T>,
  progress: (s: string) => void,
): Promise<T[]> {
  const taken: T[] = [];
  for (let i = 0; i < n; i++) {
    if (n > 1) progress(`${name}: sitting ${i + 1} of ${n}`);
    taken.push(await measure());
  }
  return taken;
}

/** The sitting whose `figure` is the median (the lower middle one for an even count). */
export function medianSitting<T>(taken: T[], figure: (t: T) => number): T {
  const order = taken.map((_, i) => i).sort((a, b) => figure(taken[a] as T) - figure(taken[b] as T));
  const at = order[Math.floor((taken.length - 1) / 2)];
  if (at === undefined) throw new Error("no sitting was taken");
  return taken[at] as T;
}

/** The median of `values` (the lower middle one for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const m = sorted[Math.floor((sorted.length - 1) / 2)];
  if (m === undefined) throw new Error("the median of nothing");
  return m;
}
