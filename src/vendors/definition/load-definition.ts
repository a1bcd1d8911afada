/**
 * Reads vendor definitions: parses one (YAML, checked against the one schema in
 * definition-schema.ts and the checks beside it in definition-checks.ts; every problem at once in
 * a ConfigError naming the file and the path, `calls.create.path: ...`), and loads the built-in
 * ones shipped in the package's `vendors/` folder. A user's own definitions, named in the
 * inventory, are read within bounds by config/load-definitions.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { ConfigError, formatPath } from "../../core/errors.js";
import type { VendorModule } from "../vendor-module.js";
import { definitionProblems } from "./definition-checks.js";
import { definitionModule } from "./definition-module.js";
import { definitionSchema, type VendorDefinition } from "./definition-schema.js";

export const MAX_DEFINITION_BYTES = 256 * 1024;

/** Parses one definition's text; `file` names it in errors. */
export function parseDefinition(text: string, file: string): VendorDefinition {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    const where =
      err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ` : "";
    const why = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
    throw new ConfigError([`${where}the YAML cannot be read: ${why.replace(/ at line \d+, column \d+:?$/, "")}`], file);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(["(top level): expected a mapping with id, name, flow and calls"], file);
  const parsed = definitionSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`),
      file,
    );
  const problems = definitionProblems(parsed.data);
  if (problems.length > 0)
    throw new ConfigError(
      problems.map((p) => `${formatPath(p.path)}: ${p.message}`),
      file,
    );
  return parsed.data;
}

/** The package's root: the nearest folder above this file with a package.json (src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("key-rotator: cannot find the package root (package.json)");
    dir = up;
  }
  return dir;
}

/** The built-in definition files, `vendors/<id>.yaml` in the package, by id in name order: listed, none read. */
export function builtInDefinitionFiles(): Map<string, string> {
  const dir = join(packageRoot(), "vendors");
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => [f.slice(0, -".yaml".length), join(dir, f)]),
  );
}

/** One built-in definition, read and checked; its id must be its file's name (the registry lists ids by name). */
export function loadBuiltIn(id: string, path: string): VendorModule {
  // The package's own files; a user's definitions are read within bounds (config/load-definitions.ts).
  if (statSync(path).size > MAX_DEFINITION_BYTES)
    throw new ConfigError([`larger than ${MAX_DEFINITION_BYTES} bytes`], path);
  const definition = parseDefinition(readFileSync(path, "utf8"), path);
  if (definition.id !== id)
    throw new ConfigError(
      [`id: "${definition.id}" is not the file's name: a built-in definition is vendors/<id>.yaml`],
      path,
    );
  return definitionModule(definition, `built-in (${relative(packageRoot(), path)})`);
}
