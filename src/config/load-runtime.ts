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
  // Most credentials share their rules: one due rule per distinct cadence, and one profile (every
  // field but the ids) per distinct set of fields, not one per credential (a worker holds them all).
  const schedules = new Map<string, RuntimeCredential["schedule"]>();
  const policies = new Map<string, UsagePolicy>();
  const places = new Map<string, RuntimeCredential["aws"]>();
  const profiles = new Map<string, Omit<RuntimeCredential, "id" | "secretId">>();
  const registry = inventory.registry ?? BUILT_IN_REGISTRY;
  return {
    settings: {
      queuePrefix: s.queuePrefix,
      dueCheckEveryMs: s.dueCheckEvery,
      healthCheckEveryMs: s.healthCheckEvery,
      verifyEveryMs: s.verifyEvery,
      orphanSweepEveryMs: s.orphanSweepEvery,
      tickShardSize: s.tickShardSize,
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
      const usage = module.usageDefaults
        ? shared(
            policies,
            usagePolicy(c, module, { id: c.id, secretId: c.secretId, baseUrl: c.baseUrl, fields: vendorFields }),
          )
        : undefined;
      const operator = c.operator
        ? { singlePair: c.operator.singlePair, remindEveryMs: c.operator.remindEvery, deadlineMs: c.operator.deadline }
        : undefined;
      const scheduleKey = JSON.stringify([cadence, window]);
      // Everything but the id and secret id, as most credentials have it alike (see RuntimeCredential).
      const common: Omit<RuntimeCredential, "id" | "secretId"> = {
        vendor: c.vendor,
        module,
        baseUrl: c.baseUrl,
        vendorFields,
        operator,
        usage,
        aws: shared(places, { region: c.region, roleArn: c.roleArn, externalId: c.externalId }),
        replicated: c.replicated ?? false,
        kmsKeyArn: c.kmsKeyArn,
        ageWarnBeforeMs: s.ageWarnBefore[c.vendor] ?? module.ageWarnBeforeMs,
        graceMs: r.grace,
        maxGraceExtensionMs: r.maxGraceExtension,
        schedule: sharedBy(schedules, scheduleKey, () => (created, now) => decideDue(cadence, window, created, now)),
      };
      const { schedule: _, module: __, ...data } = common;
      const profile = sharedBy(profiles, `${c.vendor}\n${scheduleKey}\n${JSON.stringify(data)}`, () => common);
      return credentialOf(profile, c.id, c.secretId);
    }),
  };
}

/**
 * A credential of these ids over its profile (see RuntimeCredential): two fields of its own, the
 * rest the profile's. At 100,000 credentials a literal of 15 fields each cost about 10 MiB more.
 */
export function credentialOf(
  profile: Omit<RuntimeCredential, "id" | "secretId">,
  id: string,
  secretId: string,
): RuntimeCredential {
  const credential = Object.create(profile) as RuntimeCredential;
  credential.id = id;
  credential.secretId = secretId;
  return credential;
}

/** A credential with some fields replaced (a copy: `{ ...c }` would drop the profile's fields). */
export function withFields<T extends object>(credential: RuntimeCredential, fields: T): RuntimeCredential & T {
  return Object.assign(Object.create(credential) as RuntimeCredential, fields);
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
