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
import { type CredentialConfig, type Inventory, inventoryPartsFor } from "./inventory-schema.js";
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
  const raw = await readInventoryFile(path);
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

/**
 * The file's YAML as a plain value. Its own function so nothing of this frame outlives it: the
 * text (20 MB at 100,000 credentials) is garbage once read, as the value holds none of it.
 */
async function readInventoryFile(path: string): Promise<object> {
  // Ample for 100,000 credentials (about 200 bytes each); a file past it is not an inventory.
  const text = await readBoundedFile(path, { what: "the inventory", maxBytes: MAX_INVENTORY_BYTES });
  return readInventoryYaml(text, path);
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

/**
 * The schema's verdict on the whole document, its credentials checked one at a time: each, once
 * checked, takes its raw entry's place in the list, so the raw document and the parsed one are
 * never both whole in memory (at 100,000 credentials each is about 25 MB, and the load's peak was
 * their sum). The same problems in the same order as the whole schema's: the fields', each
 * credential's, then an unknown top-level key's; the cross references last. The strings are the
 * reader's own (read-yaml.ts), so the parsed inventory holds none of the file's text.
 */
function validateInventory(raw: object, sourceName: string, registry: VendorRegistry): Inventory {
  const { outline, credential } = inventoryPartsFor(registry, vendorsNamed(raw));
  // They read the raw document whole: before its credentials give way to the parsed ones.
  const references = crossReferenceProblems(raw);
  const top = outline.safeParse(raw);
  const fieldIssues = top.success ? [] : top.error.issues;
  const problems: Array<{ path: PropertyKey[]; message: string }> = fieldIssues.filter((i) => i.path.length > 0);
  const list = (raw as { credentials?: unknown }).credentials;
  if (Array.isArray(list)) {
    const alike = new Map<string, unknown>();
    for (let i = 0; i < list.length; i++) {
      const parsed = credential.safeParse(list[i]);
      if (parsed.success) list[i] = shareAlike(parsed.data, alike);
      else
        for (const { path, message } of parsed.error.issues)
          problems.push({ path: ["credentials", i, ...path], message });
    }
  }
  problems.push(...fieldIssues.filter((i) => i.path.length === 0), ...references);
  if (!top.success || problems.length > 0)
    throw new ConfigError(
      problems.map((i) => `${formatPath(i.path)}: ${i.message}`),
      sourceName,
    );
  return { ...top.data, credentials: list as CredentialConfig[], registry };
}

/** A credential's fields that are objects most credentials have alike. */
const SHARED_FIELDS = ["rotation", "alerts", "operator", "usage"] as const;

/**
 * The credential with each of its SHARED_FIELDS replaced by the one value, frozen, of the
 * credentials before it whose field is alike (the same JSON: these hold only strings, finite
 * numbers and booleans). Their own copies were 11 MB of the 31 an inventory of 100,000 holds
 * while the worker starts. `alike` forgets all it holds past 4,096 values.
 */
function shareAlike(credential: CredentialConfig, alike: Map<string, unknown>): CredentialConfig {
  const fields = credential as Record<string, unknown>;
  for (const field of SHARED_FIELDS) {
    const value = fields[field];
    if (value === undefined) continue;
    const key = `${field} ${JSON.stringify(value)}`;
    let same = alike.get(key);
    if (same === undefined) {
      if (alike.size >= 4_096) alike.clear();
      same = deepFreeze(value);
      alike.set(key, same);
    }
    fields[field] = same;
  }
  return credential;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
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
