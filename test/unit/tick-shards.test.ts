/**
 * A tick cut into shards (tick-shards.ts): the ranges partition the secret ids, so every credential
 * a replica knows is in exactly one shard, whatever its inventory; shard data from Redis is parsed,
 * and anything but a shard is refused with what is wrong.
 */
import { describe, expect, it } from "vitest";
import { SortedFleet, parseShardData, shardJobId } from "../../src/jobs/tick-shards.js";

const fleetOf = (ids: string[]) => new SortedFleet(ids.map((secretId) => ({ secretId })));
const names = (n: number) => Array.from({ length: n }, (_, i) => `s/${String(i).padStart(3, "0")}`);

describe("SortedFleet", () => {
  it.each([
    [10, 3, 4],
    [9, 3, 3],
    [3, 5, 1],
    [0, 5, 1],
    [100, 1, 100],
  ])("%d credentials in shards of %d: %d ranges covering each credential once", (n, size, count) => {
    const shuffled = names(n).reverse();
    const fleet = fleetOf(shuffled);
    const ranges = fleet.ranges(size);
    expect(ranges).toHaveLength(count);
    expect(ranges[0]?.from).toBe("");
    expect(ranges.at(-1)?.to).toBeUndefined();
    const covered = ranges.flatMap((r) => fleet.within(r).map((c) => c.secretId));
    expect(covered.sort()).toEqual(names(n));
    for (const r of ranges) expect(fleet.within(r).length).toBeLessThanOrEqual(size);
  });

  it("never cuts between two credentials of one secret id", () => {
    const fleet = fleetOf(["a", "b", "b", "b", "b", "c", "d"]);
    const ranges = fleet.ranges(2);
    // The cut due after the second falls inside the run of "b": it moves to the run's end.
    expect(ranges).toEqual([{ from: "", to: "c" }, { from: "c" }]);
    expect(fleet.within(ranges[0] ?? { from: "" }).map((c) => c.secretId)).toEqual(["a", "b", "b", "b", "b"]);
  });

  it("another replica's ranges still cover each of its own credentials exactly once (a rolling deploy)", () => {
    const old = fleetOf(names(10));
    const newer = fleetOf([...names(10), "s/0045", "a-first", "z-last"]);
    const covered = old.ranges(3).flatMap((r) => newer.within(r).map((c) => c.secretId));
    expect(covered.sort()).toEqual([...names(10), "s/0045", "a-first", "z-last"].sort());
  });
});

describe("parseShardData", () => {
  const good = { tick: "repeat:due-check:1", shard: 1, shards: 3, at: 1_700_000_000_000, from: "s/003", to: "s/006" };
  it("takes a shard, the last one without `to`", () => {
    expect(parseShardData(good)).toEqual({ shard: good });
    const { to: _to, ...last } = { ...good, shard: 2 };
    expect(parseShardData(last)).toEqual({ shard: last });
  });

  it.each<[string, unknown, string]>([
    ["nothing", undefined, "(data)"],
    ["a shard past the count", { ...good, shard: 3 }, "shard: shard must be below shards"],
    ["a range backwards", { ...good, from: "s/009" }, "to: from must sort before to"],
    ["an extra field", { ...good, credentials: ["x"] }, "credentials"],
    ["a huge id", { ...good, from: "x".repeat(5_000), to: undefined }, "from:"],
    ["a time that is not a number", { ...good, at: "now" }, "at:"],
  ])("refuses %s, saying what is wrong", (_what, data, problem) => {
    const out = parseShardData(data);
    expect("problem" in out && out.problem).toContain(problem);
  });
});

describe("shardJobId", () => {
  it("is the same for the same tick and shard, and has no ':' (BullMQ refuses it in an id)", () => {
    expect(shardJobId("repeat:due-check:1700", 4)).toBe("repeat_due-check_1700-shard-4");
    expect(shardJobId("due-check-start-28333", 0)).toBe("due-check-start-28333-shard-0");
  });
});
