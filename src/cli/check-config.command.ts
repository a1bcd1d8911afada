/**
 * `key-rotator check-config <file>`: validates an inventory as the worker would at start. Valid: a
 * short summary, exit 0. Not valid: every problem on its own line as `<file>: <path>: <message>`,
 * exit 2. After the schema, what the worker also refuses at start (check-config-environment.ts): a `{ env }` the
 * environment does not set, a `{ file }` that cannot be read, a vendor URL in plain HTTP to a host
 * other than this machine. Those read this process's environment and files: run it where (or as)
 * the worker runs, e.g. `kubectl exec` into its pod.
 */
import { ConfigError } from "../core/errors.js";
import { loadInventory } from "../config/load-inventory.js";
import { environmentProblems } from "./check-config-environment.js";
import { EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export async function checkConfigCommand(
  file: string,
  opts: { json?: boolean },
  out: Out,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  try {
    const inventory = await loadInventory(file, { everyVendor: true });
    const problems = environmentProblems(inventory, env);
    if (problems.length > 0) throw new ConfigError(problems, file);
    const byVendor: Record<string, number> = {};
    for (const c of inventory.credentials) byVendor[c.vendor] = (byVendor[c.vendor] ?? 0) + 1;
    if (opts.json) {
      out.stdout(
        JSON.stringify({
          ok: true,
          problems: [],
          credentials: inventory.credentials.length,
          byVendor,
          alertRoutes: Object.keys(inventory.alertRoutes),
        }),
      );
    } else {
      const vendors = Object.entries(byVendor)
        .map(([v, n]) => `${n} ${v}`)
        .join(", ");
      const routes = Object.keys(inventory.alertRoutes);
      out.stdout(
        `${file}: OK: ${inventory.credentials.length} credentials (${vendors}); alert routes: ${routes.length > 0 ? routes.join(", ") : "none"}`,
      );
    }
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (opts.json) out.stdout(JSON.stringify({ ok: false, problems: err.problems, credentials: 0 }));
    else for (const p of err.problems) out.stderr(`${file === "" ? '""' : file}: ${p}`);
    return EXIT_USAGE;
  }
}
