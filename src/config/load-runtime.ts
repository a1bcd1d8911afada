/**
 * Loads the inventory and derives the runtime config: settings with defaults and, for every
 * credential, its rotation timings, its due rule (cadence + window, from src/schedule), its vendor
 * module and the module's own fields.
 */
import type { UsagePolicy } from "../core/ports.js";
import { type CredentialConfig, type Inventory, vendorFieldsOf } from "./inventory-schema.js";
import { loadInventory } from "./load-inventory.js";
import { type Cadence, decideDue } from "../schedule/cadence.js";
import type { VendorModule } from "../vendors/vendor-module.js";
import { BUILT_IN_REGISTRY } from "../vendors/registry.js";
import type { RuntimeConfig, RuntimeCredential } from "./runtime-config.js";

export async function loadRuntime(path: string): Promise<{ inventory: Inventory; runtime: RuntimeConfig }> {
  const inventory = await loadInventory(path);
  return { inventory, runtime: toRuntime(inventory) };
}

export function toRuntime(inventory: Inventory): RuntimeConfig {
  const s = inventory.settings;
  // Most credentials share their rules: one due rule and one usage policy per distinct setting,
  // not one per credential (an idle worker with 10,000 credentials holds them all).
  const schedules = new Map<string, RuntimeCredential["schedule"]>();
  const policies = new Map<string, UsagePolicy>();
  const places = new Map<string, RuntimeCredential["aws"]>();
  const registry = inventory.registry ?? BUILT_IN_REGISTRY;
  return {
    settings: {
      queuePrefix: s.queuePrefix,
      dueCheckEveryMs: s.dueCheckEvery,
      healthCheckEveryMs: s.healthCheckEvery,
      verifyEveryMs: s.verifyEvery,
      orphanSweepEveryMs: s.orphanSweepEvery,
      orphanMinAgeMs: s.orphanMinAge,
      concurrency: s.concurrency,
      storeWriteQuota: s.storeWriteQuota,
      httpPort: s.httpPort,
      lockDurationMs: s.lockDuration,
      emergency: { cooldownMs: s.emergency.cooldown, maxPerMinute: s.emergency.maxPerMinute },
    },
    credentials: inventory.credentials.map((c): RuntimeCredential => {
      const r = c.rotation;
      const cadence: Cadence =
        r.every !== undefined ? { everyMs: r.every } : { cron: r.cron ?? "", timezone: r.timezone ?? "UTC" };
      const window = r.window
        ? { cron: r.window.cron, timezone: r.window.timezone, durationMs: r.window.duration }
        : undefined;
      const module = registry.get(c.vendor);
      const vendorFields = vendorFieldsOf(c, module.fields);
      // Every field in one literal, flow or not: one object shape, its fields inside it.
      return {
        id: c.id,
        vendor: c.vendor,
        module,
        secretId: c.secretId,
        baseUrl: c.baseUrl,
        vendorFields,
        operator: c.operator
          ? {
              singlePair: c.operator.singlePair,
              remindEveryMs: c.operator.remindEvery,
              deadlineMs: c.operator.deadline,
            }
          : undefined,
        usage: module.usageDefaults
          ? shared(
              policies,
              usagePolicy(c, module, { id: c.id, secretId: c.secretId, baseUrl: c.baseUrl, fields: vendorFields }),
            )
          : undefined,
        aws: shared(places, { region: c.region, roleArn: c.roleArn, externalId: c.externalId }),
        replicated: c.replicated ?? false,
        kmsKeyArn: c.kmsKeyArn,
        ageWarnBeforeMs: s.ageWarnBefore[c.vendor] ?? module.ageWarnBeforeMs,
        graceMs: r.grace,
        maxGraceExtensionMs: r.maxGraceExtension,
        schedule: sharedBy(
          schedules,
          JSON.stringify([cadence, window]),
          () => (created, now) => decideDue(cadence, window, created, now),
        ),
      };
    }),
  };
}

/** The one value equal to `value` (same JSON) that `seen` already holds, else `value`. */
export function shared<T>(seen: Map<string, T>, value: T): T {
  return sharedBy(seen, JSON.stringify(value), () => value);
}

function sharedBy<T>(seen: Map<string, T>, key: string, make: () => T): T {
  let value = seen.get(key);
  if (value === undefined) {
    value = make();
    seen.set(key, value);
  }
  return value;
}

/** The inventory's usage settings over the vendor's defaults (a plan's daily quota, say). */
function usagePolicy(
  c: CredentialConfig,
  module: VendorModule,
  vc: Parameters<NonNullable<VendorModule["usageDefaults"]>>[0],
): UsagePolicy {
  const defaults = module.usageDefaults?.(vc) ?? {};
  const perDay = c.usage?.perDay ?? defaults.perDay;
  return {
    factor: c.usage?.factor ?? defaults.factor ?? 3,
    quotaWarnRatio: c.usage?.quotaWarnRatio ?? defaults.quotaWarnRatio ?? 0.8,
    ...(perDay !== undefined ? { perDay } : {}),
  };
}
