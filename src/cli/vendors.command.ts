/**
 * `key-rotator vendors [--config F] [--json]`: every vendor the worker knows, with its flow and
 * where its definition came from: the built-in definitions, plus those an inventory names
 * (`vendorDefinitions:`) when one is given with --config or KEY_ROTATOR_CONFIG. Without an
 * inventory, the built-in ones. A bad inventory or definition is bad input (exit 2), each problem
 * on its own line with its file and path, as the worker would refuse it.
 *
 * Must not: read the store or reach a vendor.
 */
import { loadInventory } from "../config/load-inventory.js";
import { ConfigError } from "../core/errors.js";
import { BUILT_IN_REGISTRY } from "../vendors/registry.js";
import type { VendorModule } from "../vendors/vendor-module.js";
import { EXIT_OK, EXIT_USAGE, type Out, jsonError, table } from "./output.js";

export async function vendorsCommand(o: { config?: string; json?: boolean }, out: Out): Promise<number> {
  let modules: readonly VendorModule[];
  try {
    modules =
      o.config === undefined
        ? BUILT_IN_REGISTRY.modules
        : ((await loadInventory(o.config)).registry ?? BUILT_IN_REGISTRY).modules;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const where = err.where ? `${err.where}: ` : "";
    for (const p of err.problems) out.stderr(`key-rotator vendors: ${where}${p}`);
    if (o.json) out.stdout(jsonError("bad_input", err.message, { problems: err.problems }));
    return EXIT_USAGE;
  }
  const vendors = modules.map((m) => ({ id: m.id, name: m.name, flow: m.flow, source: m.source, docs: m.docs }));
  if (o.json) {
    out.stdout(JSON.stringify({ inventory: o.config ?? null, vendors }));
    return EXIT_OK;
  }
  // One row a vendor, and a row more for each document past its first.
  const rows = vendors.flatMap((v) => [
    [v.id, v.name, v.flow, v.source, v.docs[0]],
    ...v.docs.slice(1).map((d) => ["", "", "", "", d]),
  ]);
  out.stdout(table(["ID", "NAME", "FLOW", "SOURCE", "DOCS"], rows));
  return EXIT_OK;
}
