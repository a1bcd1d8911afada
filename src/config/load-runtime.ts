/**
 * Loads the inventory and derives the runtime config: settings with defaults and, for every
 * credential, its rotation timings and its due rule (cadence + window, from src/schedule).
 */
import { CALLCOV_PLANS, type CallCovPlan } from "../vendors/callcov/callcov-plans.js";
import type { UsagePolicy } from "../jobs/usage-watcher.js";
import type { Inventory } from "./inventory-schema.js";
import { loadInventory } from "./load-inventory.js";
import { type Cadence, decideDue } from "../schedule/cadence.js";
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
  return {
    settings: {
      queuePrefix: s.queuePrefix,
      dueCheckEveryMs: s.dueCheckEvery,
      healthCheckEveryMs: s.healthCheckEvery,
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
      return {
        id: c.id,
        vendor: c.vendor,
        secretId: c.secretId,
        baseUrl: c.baseUrl,
        mode: c.vendor === "callcov" ? c.mode : "live",
        // Every field in one literal, vendor or not: one object shape, its fields inside it.
        managementSecretId: c.vendor === "callcov" ? c.managementSecretId : undefined,
        usage: c.vendor === "callcov" ? shared(policies, usagePolicy(c.usage, c.plan)) : undefined,
        operator:
          c.vendor === "justcall"
            ? {
                singlePair: c.operator.singlePair,
                remindEveryMs: c.operator.remindEvery,
                deadlineMs: c.operator.deadline,
              }
            : undefined,
        ageWarnBeforeMs: s.ageWarnBefore[c.vendor],
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

/** The inventory's usage settings, with the plan's daily quota unless the inventory sets one. */
function usagePolicy(
  usage: { factor: number; quotaWarnRatio: number; perDay?: number | undefined } | undefined,
  plan: CallCovPlan,
): UsagePolicy {
  const perDay = usage?.perDay ?? CALLCOV_PLANS[plan].perDay;
  return {
    factor: usage?.factor ?? 3,
    quotaWarnRatio: usage?.quotaWarnRatio ?? 0.8,
    ...(perDay !== undefined ? { perDay } : {}),
  };
}
