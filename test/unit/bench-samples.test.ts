// The bench's sittings (bench/samples.ts): the figure it reports is one whole sitting's, the
// median one, not a mix of several sittings' parts.
import { describe, expect, it } from "vitest";
import { median, medianSitting, sittings } from "../../bench/samples.js";

describe("the bench's median sitting", () => {
  it("takes the sittings one after another, and reports the whole sitting with the median figure", async () => {
    let running = 0;
    const order: number[] = [];
    const figures = [1.35, 1.08, 1.12];
    const taken = await sittings(
      3,
      "fleet",
      async () => {
        running += 1;
        expect(running).toBe(1);
        const i = order.length;
        order.push(i);
        await new Promise((r) => setTimeout(r, 5));
        running -= 1;
        return { ratio: figures[i] ?? 0, seconds: 60 * (figures[i] ?? 0) };
      },
      () => undefined,
    );
    expect(order).toEqual([0, 1, 2]);
    expect(medianSitting(taken, (t) => t.ratio)).toEqual({ ratio: 1.12, seconds: 60 * 1.12 });
  });

  it("of an even count, the lower middle one; of one, that one; of none, an error", () => {
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(/nothing/);
    expect(medianSitting([{ f: 2 }], (t) => t.f)).toEqual({ f: 2 });
    expect(() => medianSitting([], (t: { f: number }) => t.f)).toThrow(/no sitting/);
  });
});
