/**
 * Loads the vendor definitions an inventory names (`vendorDefinitions:`, relative to the
 * inventory's folder), each within bounds (a regular file of at most 256 KiB, within 10 s), and
 * makes the inventory's vendor registry. Every file's problems come back at once, each naming its
 * file and path; a worker never starts with a bad definition. `key-rotator vendor check` reads a
 * single file the same way (loadDefinitionFile).
 */
import { resolve } from "node:path";
import { ConfigError } from "../core/errors.js";
import { definitionModule } from "../vendors/definition/definition-module.js";
import { MAX_DEFINITION_BYTES, parseDefinition } from "../vendors/definition/load-definition.js";
import { BUILT_IN_REGISTRY, VendorRegistry } from "../vendors/registry.js";
import type { VendorModule } from "../vendors/vendor-module.js";
import { readBoundedFile } from "./bounded-read.js";

/** One definition file, read within bounds; a ConfigError names the file and each problem's path. */
export async function loadDefinitionFile(path: string): Promise<VendorModule> {
  const text = await readBoundedFile(path, { what: "a vendor definition", maxBytes: MAX_DEFINITION_BYTES });
  return definitionModule(parseDefinition(text, path), path);
}

export async function loadVendorRegistry(paths: readonly string[], baseDir: string): Promise<VendorRegistry> {
  if (paths.length === 0) return BUILT_IN_REGISTRY;
  const modules: VendorModule[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    const path = resolve(baseDir, p);
    try {
      modules.push(await loadDefinitionFile(path));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems.map((m) => `${err.where ?? path}: ${m}`));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, "vendor definitions");
  return new VendorRegistry(modules);
}
