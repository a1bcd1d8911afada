/**
 * IdTable (id-table.ts) answers as a Map of the same entries would: for every id given, the
 * last value given for it; for any other id, undefined. IdSlots numbers ids as a Map that counts
 * them would, each id once and for good. lowerBound is a sorted array's binary search.
 */
import { describe, expect, it } from "vitest";
import { ById, IdSlots, IdTable, lowerBound } from "../../src/config/id-table.js";

describe("IdTable", () => {
  it("answers as a Map of the same entries, for ids in any order, repeated ids and unknown ones", () => {
    const shared = [{ routes: "a" }, { routes: "b" }, { routes: "c" }];
    const entries: Array<[string, { routes: string }]> = [];
    // A fixed shuffle: ids out of order, some given twice with another value.
    for (let i = 0; i < 500; i++) {
      const id = `cc-${String((i * 7919) % 400).padStart(4, "0")}`;
      entries.push([id, shared[(i * 31) % 3] as { routes: string }]);
    }
    const table = new IdTable(entries);
    const map = new Map(entries);
    expect(table.size).toBe(map.size);
    for (const id of map.keys()) expect(table.get(id)).toBe(map.get(id));
    for (const id of ["", "cc-", "cc-0400", "cc-9999", "zz", "cc-0000 "]) expect(table.get(id)).toBeUndefined();
  });

  it("keeps the values themselves (the same objects), once each", () => {
    const routes = { warning: ["chat"], critical: ["pager"] };
    const table = new IdTable([
      ["b", routes],
      ["a", routes],
    ]);
    expect(table.get("a")).toBe(routes);
    expect(table.get("b")).toBe(routes);
  });

  it("an empty table knows no id", () => {
    expect(new IdTable([]).get("cc-prod")).toBeUndefined();
  });
});

describe("ById", () => {
  it("answers as a Map keyed by id, for ids in any order, repeated ids and unknown ones", () => {
    const values: Array<{ id: string; n: number }> = [];
    for (let i = 0; i < 500; i++) values.push({ id: `cc-${String((i * 7919) % 400).padStart(4, "0")}`, n: i });
    const table = new ById(values);
    const map = new Map(values.map((v) => [v.id, v]));
    expect(table.size).toBe(map.size);
    for (const id of map.keys()) {
      expect(table.get(id)).toBe(map.get(id));
      expect(table.has(id)).toBe(true);
    }
    for (const id of ["", "cc-", "cc-0400", "cc-9999", "a", "zz"]) {
      expect(table.get(id)).toBeUndefined();
      expect(table.has(id)).toBe(false);
    }
    expect(new ById([]).get("x")).toBeUndefined();
  });
});

describe("IdSlots", () => {
  it("gives each id one number for good: the fleet's up front, any other when first added, none twice", () => {
    const fleet = Array.from({ length: 300 }, (_, i) => `cc-${String((i * 7919) % 250).padStart(4, "0")}`);
    const slots = new IdSlots(fleet);
    expect(slots.size).toBe(new Set(fleet).size);
    const seen = new Map<string, number>();
    for (const id of fleet) {
      const slot = slots.slotOf(id);
      expect(slot).toBeDefined();
      expect(slots.add(id)).toBe(slot);
      seen.set(id, slot as number);
    }
    for (const id of ["zz-late", "aa-early", "cc-0250", ""]) {
      expect(slots.slotOf(id)).toBeUndefined();
      const slot = slots.add(id);
      expect(slots.add(id)).toBe(slot);
      expect(slots.slotOf(id)).toBe(slot);
      seen.set(id, slot);
    }
    // Every number once, from 0 up, and entries() gives each id its number.
    expect([...seen.values()].sort((a, b) => a - b)).toEqual([...seen.keys()].map((_, i) => i));
    expect(new Map(slots.entries())).toEqual(seen);
    expect(slots.size).toBe(seen.size);
  });

  it("numbers ids added to an empty one in the order they come", () => {
    const slots = new IdSlots();
    expect([slots.add("b"), slots.add("a"), slots.add("b")]).toEqual([0, 1, 0]);
    expect([...slots.entries()]).toEqual([
      ["b", 0],
      ["a", 1],
    ]);
  });
});

describe("lowerBound", () => {
  it("finds the first index not before the sought value, at every position of a sorted array", () => {
    const sorted = [1, 3, 3, 5, 8];
    for (let v = 0; v <= 9; v++) {
      const expected = sorted.findIndex((x) => x >= v);
      expect(lowerBound(sorted.length, (i) => (sorted[i] as number) < v)).toBe(
        expected === -1 ? sorted.length : expected,
      );
    }
    expect(lowerBound(0, () => true)).toBe(0);
  });
});
