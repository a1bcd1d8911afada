/**
 * The one place the program learns which vendors exist: the built-in definitions shipped in the
 * package's `vendors/` folder, plus any an inventory names (`vendorDefinitions:`). Adding a vendor
 * is a definition file (docs/vendors.md), with no code; the sandbox's simulator is for tests.
 *
 * A built-in vendor's id is its file's name (`vendors/<id>.yaml`), so the registry knows every id
 * without reading a definition, and parses one the first time it is asked for: a command about
 * one credential (`rotate --emergency`, typed during an incident) reads one definition, not all.
 * The worker and `check-config` ask for all of them at start (`checkAll`), so a broken built-in
 * definition still stops them there, named. Parsed modules are kept for the process's life.
 */
import { ConfigError } from "../core/errors.js";
import { builtInDefinitionFiles, loadBuiltIn } from "./definition/load-definition.js";
import type { VendorModule } from "./vendor-module.js";

/** The built-in definition files by vendor id, in name order: listed, not read. */
const BUILT_IN_FILES: ReadonlyMap<string, string> = builtInDefinitionFiles();

/** Built-in modules parsed so far (shared by every registry: a built-in file is read once). */
const parsedBuiltIns = new Map<string, VendorModule>();

function builtIn(id: string, path: string): VendorModule {
  let m = parsedBuiltIns.get(id);
  if (!m) {
    m = loadBuiltIn(id, path);
    parsedBuiltIns.set(id, m);
  }
  return m;
}

/** The vendors of one inventory: the built-in ones and its own, by id. */
export class VendorRegistry {
  /** Every vendor id, the built-in ones first (in name order), then the inventory's own. */
  readonly ids: readonly string[];
  readonly #own: ReadonlyMap<string, VendorModule>;

  constructor(extra: readonly VendorModule[] = []) {
    const own = new Map<string, VendorModule>();
    const problems: string[] = [];
    for (const m of extra) {
      const builtInPath = BUILT_IN_FILES.get(m.id);
      const earlier = own.get(m.id)?.source ?? (builtInPath ? `built-in (vendors/${m.id}.yaml)` : undefined);
      if (earlier) problems.push(`vendor "${m.id}" is defined twice: ${earlier} and ${m.source}`);
      else own.set(m.id, m);
    }
    if (problems.length > 0) throw new ConfigError(problems, "vendor definitions");
    this.#own = own;
    this.ids = [...BUILT_IN_FILES.keys(), ...own.keys()];
  }

  has(id: string): boolean {
    return BUILT_IN_FILES.has(id) || this.#own.has(id);
  }

  /** The module of a vendor id (a built-in one parsed now if not yet); ConfigError for an id it does not know or a broken built-in. */
  get(id: string): VendorModule {
    const own = this.#own.get(id);
    if (own) return own;
    const path = BUILT_IN_FILES.get(id);
    if (path === undefined) throw new ConfigError([`unknown vendor "${id}" (known: ${this.ids.join(", ")})`]);
    return builtIn(id, path);
  }

  /** Every module, each built-in one parsed (a broken one throws its ConfigError). */
  get modules(): readonly VendorModule[] {
    return this.ids.map((id) => this.get(id));
  }

  /**
   * Parses every definition not parsed yet, for a process that starts for long (the worker) or
   * checks the configuration: every broken built-in definition at once in one ConfigError, each
   * problem naming its file.
   */
  checkAll(): void {
    const problems: string[] = [];
    for (const id of this.ids) {
      try {
        this.get(id);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.problems.map((p) => (err.where ? `${err.where}: ${p}` : p)));
      }
    }
    if (problems.length > 0) throw new ConfigError(problems, "vendor definitions");
  }
}

/** The registry of the built-in vendors alone. */
export const BUILT_IN_REGISTRY = new VendorRegistry();

/** The built-in vendors, in name order, every definition parsed. */
export function builtInVendors(): readonly VendorModule[] {
  return BUILT_IN_REGISTRY.modules;
}

/** A built-in vendor's module; ConfigError for an id it does not know. */
export function vendorModule(id: string): VendorModule {
  return BUILT_IN_REGISTRY.get(id);
}
