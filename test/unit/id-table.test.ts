/**
 * IdTable (id-table.ts) answers as a Map of the same entries would: for every id given, the
 * last value given for it; for any other id, undefined.
 */
import { describe, expect, it } from "vitest";
import { ById, IdTable } from "../../src/config/id-table.js";

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
