/**
 * Reads and validates an inventory file. Every problem comes back at once in a ConfigError, each
 * as `path: message` (`credentials[2].rotation.every: expected a duration like 90d`); YAML syntax
 * errors carry line and column (read-yaml.ts). Never a stack trace to the user. The file is read
 * within bounds (bounded-read.ts): a regular file of at most MAX_INVENTORY_BYTES, within 10 s.
 */
import { dirname, resolve } from "node:path";
import { ConfigError, formatPath } from "../core/errors.js";
import { BUILT_IN_REGISTRY, type VendorRegistry } from "../vendors/registry.js";
import { readBoundedFile } from "./bounded-read.js";
import { crossReferenceProblems } from "./inventory-references.js";
import { type Inventory, inventorySchemaFor } from "./inventory-schema.js";
import { loadVendorRegistry } from "./load-definitions.js";
import { readYaml } from "./read-yaml.js";

export const MAX_INVENTORY_BYTES = 32 * 1024 * 1024;

/**
 * `everyVendor`: read every vendor definition the registry knows, not only those the credentials
 * use, so that a broken one (built-in or the inventory's own) is refused now, named: for the
 * worker at start and check-config. A one-shot command reads only the definitions it uses.
 */
export async function loadInventory(path: string, options: { everyVendor?: boolean } = {}): Promise<Inventory> {
  // An empty KEY_ROTATOR_CONFIG (a blank Helm value, say) would otherwise read as "no such file".
  if (path.trim() === "")
    throw new ConfigError(["the inventory path is empty: give a file with --config or KEY_ROTATOR_CONFIG"], '""');
  // Ample for 100,000 credentials (about 200 bytes each); a file past it is not an inventory.
  const text = await readBoundedFile(path, { what: "the inventory", maxBytes: MAX_INVENTORY_BYTES });
  const raw = readInventoryYaml(text, path);
  const named = (raw as { vendorDefinitions?: unknown }).vendorDefinitions;
  // A list of paths is loaded here; anything else is left for the schema to report.
  const registry =
    Array.isArray(named) && named.every((p) => typeof p === "string" && p !== "")
      ? await loadVendorRegistry(named as string[], dirname(resolve(path)))
      : BUILT_IN_REGISTRY;
  if (options.everyVendor) registry.checkAll();
  return validateInventory(raw, path, registry);
}

/** An inventory from its text, with the built-in vendors (or a registry already loaded). */
export function parseInventory(text: string, sourceName: string, registry = BUILT_IN_REGISTRY): Inventory {
  return validateInventory(readInventoryYaml(text, sourceName), sourceName, registry);
}

/** The YAML of an inventory as a plain value: a mapping, or a ConfigError with line and column. */
function readInventoryYaml(text: string, sourceName: string): object {
  const raw = readYaml(text, sourceName);
  if (raw === null || raw === undefined)
    throw new ConfigError(["the file is empty (expected a mapping with credentials)"], sourceName);
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(["the top level must be a mapping with credentials"], sourceName);
  return raw;
}

function validateInventory(raw: object, sourceName: string, registry: VendorRegistry): Inventory {
  const parsed = inventorySchemaFor(registry, vendorsNamed(raw)).safeParse(raw);
  const problems = [...(parsed.success ? [] : parsed.error.issues), ...crossReferenceProblems(raw)];
  if (!parsed.success || problems.length > 0)
    throw new ConfigError(
      problems.map((i) => `${formatPath(i.path)}: ${i.message}`),
      sourceName,
    );
  return { ...ownStrings(parsed.data, new Map()), registry };
}

/** The vendor ids the credentials name (whatever else is wrong with them is the schema's to say). */
function vendorsNamed(raw: object): string[] {
  const credentials = (raw as { credentials?: unknown }).credentials;
  if (!Array.isArray(credentials)) return [];
  return credentials.flatMap((c: unknown) => {
    const vendor = c !== null && typeof c === "object" ? (c as { vendor?: unknown }).vendor : undefined;
    return typeof vendor === "string" ? [vendor] : [];
  });
}

/**
 * The parsed inventory with its strings made its own, each distinct value once, in place (the
 * schema's output is ours already; a copy of it would be a third inventory in memory while the
 * file's is read: at 100,000 credentials the load's peak). Strings the parser cut from the file's
 * text are slices of it: each would keep the whole text (2 MB for 10,000 credentials) alive for
 * as long as the worker runs. And a value repeated on every credential (vendor, mode, plan, base
 * URL, management secret) is then held once, not 10,000 times.
 */
function ownStrings<T>(value: T, seen: Map<string, string>): T {
  if (typeof value === "string") {
    let own = seen.get(value);
    if (own === undefined) {
      own = structuredClone(value);
      seen.set(own, own);
    }
    return own as T;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = ownStrings(value[i], seen);
  } else if (value !== null && typeof value === "object") {
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) fields[key] = ownStrings(fields[key], seen);
  }
  return value;
}
