/**
 * The one place the program learns which vendors exist. Adding a vendor: its folder under
 * src/vendors/<id>/ (module, adapters, tests), one line here, and its simulator in src/sandbox.
 * The map is checked against the module contract: a module missing a piece does not compile.
 */
import { ConfigError } from "../core/errors.js";
import { callcov } from "./callcov/callcov-module.js";
import { justcall } from "./justcall/justcall-module.js";
import type { VendorModule } from "./vendor-module.js";

export const VENDORS = {
  callcov,
  justcall,
} satisfies Record<string, VendorModule>;

export type VendorId = keyof typeof VENDORS;

/** Every module, in the registry's order. */
export const VENDOR_MODULES: readonly VendorModule[] = Object.values(VENDORS);

/** The module of a vendor id; ConfigError for an id the registry does not know. */
export function vendorModule(id: string): VendorModule {
  const m = (VENDORS as Record<string, VendorModule>)[id];
  if (!m || !Object.hasOwn(VENDORS, id)) {
    throw new ConfigError([`unknown vendor "${id}" (known: ${Object.keys(VENDORS).join(", ")})`]);
  }
  return m;
}
