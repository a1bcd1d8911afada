import { describe, expect, it } from "vitest";
import { namePrefixes, tightPrefixes } from "../../src/jobs/fleet-view.js";

const pad = (i: number) => i.toString().padStart(5, "0");
const many = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i));

describe("namePrefixes (the ListSecrets name filter drawn from the inventory)", () => {
  it.each<[string, string[], string[]]>([
    ["two names", ["prod/a", "prod/b"], ["prod/a", "prod/b"]],
    ["one folder", many(500, (i) => `bench/callcov/cc-${pad(i)}`), ["bench/callcov/"]],
    [
      "two folders",
      [...many(20, (i) => `team-a/x/${i}`), ...many(20, (i) => `team-b/y/${i}`)],
      ["team-a/x/", "team-b/y/"],
    ],
    ["no folders", many(30, (i) => `flat-${pad(i)}`), ["flat-0000", "flat-0001", "flat-0002"]],
    ["an ARN beside a name", ["arn:aws:secretsmanager:us-east-1:1:secret:x-AbC", "prod/a"], ["prod/a"]],
    ["ARNs only", ["arn:aws:secretsmanager:us-east-1:1:secret:x-AbC"], []],
    ["eleven folders that share nothing", many(11, (i) => `${String.fromCharCode(97 + i)}/1`), []],
    ["a name that covers another", ["prod/a", "prod/ab"], ["prod/a"]],
  ])("%s", (_what, ids, expected) => {
    expect(namePrefixes(ids)).toEqual(expected);
  });

  it("every name starts with one of at most 10 prefixes", () => {
    const ids = many(2_000, (i) => `svc-${i % 37}/env-${i % 3}/key-${i}`);
    const prefixes = namePrefixes(ids);
    expect(prefixes.length).toBeLessThanOrEqual(10);
    for (const id of ids) expect(prefixes.length === 0 || prefixes.some((p) => id.startsWith(p))).toBe(true);
  });
});

describe("tightPrefixes (the name filter of a shard's listing: its names, contiguous in sorted order)", () => {
  const fleet = many(100_000, (i) => `bench/callcov/cc-${pad(i)}`);
  it.each<[string, string[], string[]]>([
    ["two names", ["prod/a", "prod/b"], ["prod/a", "prod/b"]],
    [
      "a shard of 2,000 in a folder of 100,000",
      fleet.slice(4_000, 6_000),
      ["bench/callcov/cc-04", "bench/callcov/cc-05"],
    ],
    [
      "two folders",
      [...many(20, (i) => `team-a/x/${i}`), ...many(20, (i) => `team-b/y/${i}`)],
      // One more split would make 12 (team-a/x/0 ... team-a/x/9): the folders are as tight as 10 allow.
      ["team-a/x/", "team-b/y/"],
    ],
    ["ARNs only", ["arn:aws:secretsmanager:us-east-1:1:secret:x-AbC"], []],
    ["eleven folders that share nothing", many(11, (i) => `${String.fromCharCode(97 + i)}/1`), []],
  ])("%s", (_what, ids, expected) => {
    expect([...tightPrefixes(ids)].sort()).toEqual(expected);
  });

  it("every name starts with one of at most 10 prefixes, and a shard's prefixes take in few names besides its own", () => {
    const ids = many(2_000, (i) => `svc-${i % 37}/env-${i % 3}/key-${i}`);
    const prefixes = tightPrefixes(ids);
    expect(prefixes.length).toBeLessThanOrEqual(10);
    for (const id of ids) expect(prefixes.length === 0 || prefixes.some((p) => id.startsWith(p))).toBe(true);
    const shard = fleet.slice(37_123, 39_123);
    const filter = tightPrefixes(shard);
    const listed = fleet.filter((n) => filter.some((p) => n.startsWith(p)));
    expect(listed.length).toBeGreaterThanOrEqual(2_000);
    expect(listed.length).toBeLessThanOrEqual(4_000); // namePrefixes: "bench/callcov/", all 100,000
  });
});
