// The layout shows the architecture (issue 17): no import cycle between files or between folders,
// and no engine file imports a particular vendor or tests a vendor id in code.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { builtInVendors } from "../../src/vendors/registry.js";
import { cycles, folderEdges, importGraph, sourceFiles } from "./import-graph.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const files = sourceFiles(root, "src");
const graph = importGraph(root, files);
/** Where a vendor may be named: its own folder, the registry, and the sandbox and demo that play the vendors. */
const MAY_NAME_VENDORS = /^src\/(sandbox|demo)\/|^src\/cli\/(demo|sandbox)\.command\.ts$/;

describe("layout", () => {
  it("has no import cycle between files", () => {
    expect(cycles(graph.edges)).toEqual([]);
  });

  it("has no import cycle between folders", () => {
    const folderOf = (file: string) => file.split("/").slice(0, 2).join("/");
    expect(cycles(folderEdges(graph.edges, folderOf))).toEqual([]);
  });

  it("finds a cycle when there is one (the check itself)", () => {
    const edges = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(cycles(edges)).toEqual([["a", "b", "c"]]);
  });

  it("has no code for a particular vendor: src/vendors holds the registry, the contract and the definition interpreter", () => {
    const entries = readdirSync(`${root}/src/vendors`).sort();
    expect(entries).toEqual(["definition", "registry.ts", "vendor-module.ts"]);
  });

  it("names no particular vendor in code outside the sandbox and demo (vendors are definitions, vendors/*.yaml)", () => {
    const ids = builtInVendors().map((m) => m.id);
    expect(ids.length).toBeGreaterThan(1);
    const offenders: string[] = [];
    for (const file of files.filter((f) => !MAY_NAME_VENDORS.test(f))) {
      const code = codeWithoutComments(readFileSync(`${root}/${file}`, "utf8"));
      for (const id of ids) if (new RegExp(`\\b${id}\\b`, "i").test(code)) offenders.push(`${file} names ${id}`);
    }
    expect(offenders).toEqual([]);
  });
});

/** The source with every comment removed (strings and template text stay: they are behaviour). */
function codeWithoutComments(text: string): string {
  const source = ts.createSourceFile("file.ts", text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return ts.createPrinter({ removeComments: true }).printFile(source);
}
