import { describe, expect, it } from "vitest";
import { humanDuration, table } from "../../src/cli/output.js";

describe("table", () => {
  it("aligns columns and shows missing cells as -", () => {
    expect(
      table(
        ["id", "age"],
        [
          ["cc-prod", "3d 4h"],
          ["jc", undefined],
        ],
      ),
    ).toBe(["id       age", "-------  -----", "cc-prod  3d 4h", "jc       -"].join("\n"));
  });
});

describe("humanDuration", () => {
  it.each([
    [0, "0s"],
    [59_000, "59s"],
    [61_000, "1m 1s"],
    [3_600_000 * 5 + 60_000 * 3, "5h 3m"],
    [86_400_000 * 90 + 3_600_000, "90d 1h"],
    [-120_000, "-2m 0s"],
  ])("%d ms is %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});
