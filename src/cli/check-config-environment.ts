/**
 * What the worker refuses at start once the inventory's schema passed, checked the same way so
 * `check-config` and the worker agree: every `{ env: NAME }` set and not empty, every
 * `{ file: /path }` a readable regular file within the worker's size cap (compose-alerter.ts), and
 * every vendor `baseUrl` HTTPS unless it points at this machine (the vendor adapters' rule).
 *
 * Must not: print a value it read (only names, paths and URLs the inventory itself holds).
 */
import { describeError } from "../core/errors.js";
import { readBoundedFileSync } from "../config/bounded-read.js";
import type { Inventory } from "../config/inventory-schema.js";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function environmentProblems(inventory: Inventory, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!value || typeof value !== "object") return;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.env === "string") {
      if (!env[o.env]) problems.push(`${path}: environment variable ${o.env} is not set`);
      return;
    }
    if (keys.length === 1 && typeof o.file === "string") {
      try {
        readBoundedFileSync(o.file, { what: "the file", maxBytes: 65_536 });
      } catch (err) {
        problems.push(`${path}: ${describeError(err)}`);
      }
      return;
    }
    for (const k of keys) walk(o[k], path ? `${path}.${k}` : k);
  };
  walk(inventory.alertRoutes, "alertRoutes");
  inventory.credentials.forEach((c, i) => {
    walk(c, `credentials[${i}]`);
    const base = (c as { baseUrl?: unknown }).baseUrl;
    if (typeof base !== "string") return;
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      return; // the schema judges the URL's shape
    }
    if (url.protocol !== "https:" && !LOOPBACK.has(url.hostname))
      problems.push(
        `credentials[${i}].baseUrl: ${base}: plain HTTP to a host other than this machine; the worker refuses it, use https://`,
      );
  });
  return problems;
}
