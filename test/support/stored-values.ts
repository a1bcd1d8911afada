/**
 * Reads a stored value with the shape of the vendor it names (the registry's modules), for tests
 * and benchmarks that look at values of several vendors. The product always knows a credential's
 * vendor and reads with that module's shape; a value naming no known vendor is read with the
 * first module's, so it is refused for its `vendor` field like any other wrong value.
 */
import type { SecretValue } from "../../src/core/secret.js";
import { builtInVendors, vendorModule } from "../../src/vendors/registry.js";
import type { VendorModule } from "../../src/vendors/vendor-module.js";

export type AnyStoredValue = { vendor: string; apiKey: string; [field: string]: unknown };

function moduleNamed(vendor: unknown): VendorModule {
  return typeof vendor === "string" && builtInVendors().some((m) => m.id === vendor)
    ? vendorModule(vendor)
    : (builtInVendors()[0] as VendorModule);
}

export function parseStoredValue(raw: SecretValue, where: string): AnyStoredValue {
  let vendor: unknown;
  try {
    vendor = (JSON.parse(raw.reveal()) as { vendor?: unknown } | null)?.vendor;
  } catch {
    // not JSON: the module's parse says so
  }
  return moduleNamed(vendor).value.parse(raw, where) as AnyStoredValue;
}

/** The secret the value's vendor checks. */
export function vendorSecretOf(value: { vendor: string; [field: string]: unknown }): SecretValue {
  return (moduleNamed(value.vendor).value as { secretOf(v: unknown): SecretValue }).secretOf(value);
}
