/**
 * The source tree's import graph, read with TypeScript's own pre-processor (type-only imports
 * count: a cycle of types is still a cycle a reader has to untangle). Used by the layout test.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

export interface ImportGraph {
  /** File (relative to the root) -> the files it imports (relative to the root). */
  edges: Map<string, string[]>;
}

export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(root, path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

export function importGraph(root: string, files: string[]): ImportGraph {
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, ".ts"));
    edges.set(file, [...new Set(targets)]);
  }
  return { edges };
}

/** Every cycle's members (strongly connected components of more than one node, or a self-loop). */
export function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const members: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
        on.delete(w);
        members.push(w);
        if (w === v) break;
      }
      if (members.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(members.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** The graph between folders: `src/jobs/x.ts` belongs to `src/jobs`; a vendor's folder to `src/vendors`. */
export function folderEdges(edges: Map<string, string[]>, folderOf: (file: string) => string): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [from, tos] of edges) {
    const a = folderOf(from);
    const set = out.get(a) ?? new Set<string>();
    for (const to of tos) {
      const b = folderOf(to);
      if (b !== a) set.add(b);
    }
    out.set(a, set);
  }
  return new Map([...out].map(([k, v]) => [k, [...v]]));
}
