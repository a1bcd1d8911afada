/**
 * The one place the program learns which vendors exist: the built-in definitions shipped in the
 * package's `vendors/` folder, plus any an inventory names (`vendorDefinitions:`). Adding a vendor
 * is a definition file (docs/vendors.md), with no code; the sandbox's simulator is for tests.
 */
import { ConfigError } from "../core/errors.js";
import { builtInModules } from "./definition/load-definition.js";
import type { VendorModule } from "./vendor-module.js";

/** The built-in vendors, in name order. */
export const BUILT_IN_VENDORS: readonly VendorModule[] = builtInModules();

/** The vendors of one inventory: the built-in ones and its own, by id. */
export class VendorRegistry {
  readonly modules: readonly VendorModule[];
  readonly #byId: Map<string, VendorModule>;

  constructor(extra: readonly VendorModule[] = []) {
    this.modules = [...BUILT_IN_VENDORS, ...extra];
    this.#byId = new Map();
    const problems: string[] = [];
    for (const m of this.modules) {
      const earlier = this.#byId.get(m.id);
      if (earlier) problems.push(`vendor "${m.id}" is defined twice: ${earlier.source} and ${m.source}`);
      else this.#byId.set(m.id, m);
    }
    if (problems.length > 0) throw new ConfigError(problems, "vendor definitions");
  }

  /** The module of a vendor id; ConfigError for an id the registry does not know. */
  get(id: string): VendorModule {
    const m = this.#byId.get(id);
    if (!m) throw new ConfigError([`unknown vendor "${id}" (known: ${[...this.#byId.keys()].join(", ")})`]);
    return m;
  }
}

/** The registry of the built-in vendors alone. */
export const BUILT_IN_REGISTRY = new VendorRegistry();

/** A built-in vendor's module; ConfigError for an id it does not know. */
export function vendorModule(id: string): VendorModule {
  return BUILT_IN_REGISTRY.get(id);
}
