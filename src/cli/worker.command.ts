/**
 * `key-rotator worker`: the long-running worker. Reads the inventory (KEY_ROTATOR_CONFIG or
 * --config), Redis (REDIS_URL, REDIS_CLUSTER_HOSTS or REDIS_SENTINEL_*: see redis-topology.ts),
 * the admin token (KEY_ROTATOR_ADMIN_TOKEN_FILE, or KEY_ROTATOR_ADMIN_TOKEN), the local socket for
 * the CLI (KEY_ROTATOR_SOCKET) and the AWS SDK's own variables. SIGTERM or SIGINT: finish the
 * steps in hand, then exit 0.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../core/errors.js";
import { loadInventory } from "../config/load-inventory.js";
import { toRuntime } from "../config/load-runtime.js";
import { redisTopologyFrom } from "../queue/redis.js";
import type { RuntimeConfig } from "../config/runtime-config.js";
import { type Services, createServices } from "../worker/compose-services.js";
import { startWorker } from "../worker/worker.js";
import { compactHeap } from "../worker/idle-collector.js";
import { StoreReadiness } from "../store/store-readiness.js";
import { httpAdminFromEnv } from "../http/http-admin-env.js";
import { primeMetrics } from "../observability/metrics.js";
import { EXIT_OK } from "./output.js";

export async function workerCommand(configPath: string): Promise<number> {
  // Listen before anything starts: as PID 1 in a container, a SIGTERM nobody handles is ignored,
  // and a pod stopped while it starts up would wait for its SIGKILL.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  const { runtime, services } = await prepare(configPath);
  // The inventory's parse (its text, the YAML value, the schema's copy) is garbage now: collected
  // before the first tick adds its own, so that tick does not grow the heap on top of it (with
  // --expose-gc, among the image's flags).
  compactHeap();
  const port = process.env.KEY_ROTATOR_HTTP_PORT;
  // Bind addresses, and the admin API on a port of its own (the Helm chart sets all four).
  const {
    KEY_ROTATOR_HTTP_HOST: host,
    KEY_ROTATOR_ADMIN_PORT: adminPort,
    KEY_ROTATOR_ADMIN_HOST: adminHost,
    KEY_ROTATOR_SOCKET: socket,
  } = process.env;
  const adminToken = readAdminToken();
  // Named admin tokens and the leak webhook (docs/audit.md, docs/leaks.md).
  const http = httpAdminFromEnv(process.env, { ...services, credentials: runtime.credentials });
  const probeSecret = runtime.credentials[0]?.secretId;
  // Cached: a probe every few seconds costs the store one cheap call a minute (store-readiness.ts).
  const storeReady = probeSecret ? new StoreReadiness(() => services.store.finishedRotation(probeSecret)) : undefined;
  const readyChecks = storeReady ? [{ name: "secrets-manager", check: () => storeReady.check() }] : [];
  const starting = startWorker(
    runtime,
    { ...services, readyChecks },
    {
      redis: redisTopologyFrom(),
      ...(adminToken ? { adminToken } : {}),
      http,
      ...(port !== undefined ? { httpPort: Number(port) } : {}),
      ...(host ? { httpHost: host } : {}),
      ...(adminPort ? { adminPort: Number(adminPort) } : {}),
      ...(adminHost ? { adminHost } : {}),
      // The CLI beside the worker asks it for emergencies there (local-socket.ts).
      ...(socket ? { socket: { path: socket, inventory: resolve(configPath) } } : {}),
    },
  );
  const worker = await Promise.race([starting, stopped.then(() => undefined)]);
  if (!worker) {
    // Stopped while starting: no step is in hand yet, so there is nothing to drain.
    void starting.then(
      (w) => w.close(),
      () => undefined,
    );
    await services.close().catch(() => undefined);
    return EXIT_OK;
  }
  await stopped;
  await worker.close();
  await services.close();
  return EXIT_OK;
}

/**
 * The runtime and its services. Apart so the parsed inventory is not kept: this command's frame
 * lives as long as the worker, and would hold it (4 MB at 10,000 credentials) for nothing.
 */
async function prepare(configPath: string): Promise<{ runtime: RuntimeConfig; services: Services }> {
  // Every vendor definition read at start, the unused ones too: a broken one stops the worker here.
  const inventory = await loadInventory(configPath, { everyVendor: true });
  const runtime = toRuntime(inventory);
  const services = await createServices(inventory, runtime);
  // Health, usage and alert-failure series exist from the start, not from the first tick.
  primeMetrics(services.metrics, {
    credentials: runtime.credentials,
    sinks: Object.keys(inventory.alertRoutes),
    lookEveryMs: runtime.settings.dueCheckEveryMs,
  });
  return { runtime, services };
}

function readAdminToken(): string | undefined {
  const file = process.env.KEY_ROTATOR_ADMIN_TOKEN_FILE;
  if (file) {
    try {
      const token = readFileSync(file, "utf8").trim();
      if (token.length < 16)
        throw new ConfigError([`KEY_ROTATOR_ADMIN_TOKEN_FILE ${file}: the token must be at least 16 characters`]);
      return token;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([`KEY_ROTATOR_ADMIN_TOKEN_FILE: cannot read ${file}`]);
    }
  }
  const token = process.env.KEY_ROTATOR_ADMIN_TOKEN?.trim();
  if (token && token.length < 16)
    throw new ConfigError(["KEY_ROTATOR_ADMIN_TOKEN: the token must be at least 16 characters"]);
  return token ? token : undefined;
}
