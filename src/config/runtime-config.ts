/**
 * What the running worker needs to know, derived once from the inventory: settings with defaults
 * applied and, per credential, the slice each part uses (rotation timings, the due rule, alert
 * routes). Keeping this apart from the inventory schema keeps the schema free to read well for
 * people while the runtime reads well for engineers.
 */
import type { RotationCredential } from "../rotation/rotation.js";
import type { UsagePolicy } from "../jobs/usage-watcher.js";
import type { DueVerdict } from "../jobs/due-check.job.js";

export interface RuntimeSettings {
  /** BullMQ key prefix; `{key-rotator}` keeps every key in one Redis Cluster slot. */
  queuePrefix: string;
  dueCheckEveryMs: number;
  healthCheckEveryMs: number;
  orphanSweepEveryMs: number;
  /** Keys younger than this are never orphans (a rotation may be between create and store). */
  orphanMinAgeMs: number;
  concurrency: number;
  /** Secrets Manager writes per second the fleet may use; rotations start at a third of it. */
  storeWriteQuota: number;
  httpPort: number;
  /** BullMQ lock; a crashed worker's job is picked up again after about this long. */
  lockDurationMs: number;
  /** Bounds on emergencies, enforced through Redis by every replica and the CLI (emergency-limits.ts). */
  emergency: EmergencySettings;
}

export interface EmergencySettings {
  /** After an emergency starts a rotation of a credential, the next one for it waits this long unless forced. */
  cooldownMs: number;
  /** Emergencies started in any 60 s, across every credential and replica. */
  maxPerMinute: number;
}

export const DEFAULT_SETTINGS: RuntimeSettings = {
  queuePrefix: "{key-rotator}",
  dueCheckEveryMs: 3_600_000,
  healthCheckEveryMs: 900_000,
  orphanSweepEveryMs: 6 * 3_600_000,
  orphanMinAgeMs: 10 * 60_000,
  concurrency: 4,
  storeWriteQuota: 50,
  httpPort: 8080,
  lockDurationMs: 30_000,
  emergency: { cooldownMs: 600_000, maxPerMinute: 60 },
};

export interface RuntimeCredential extends RotationCredential {
  vendor: "callcov" | "justcall";
  baseUrl: string;
  mode: "live" | "test";
  managementSecretId?: string;
  /** JustCall: the operator-assisted flow's settings. */
  operator?: { singlePair: boolean; remindEveryMs: number; deadlineMs: number };
  /** CallCov: when usage counts as anomalous. */
  usage?: UsagePolicy;
  /** How long before due the health check warns (settings.ageWarnBefore for the vendor); 0: never. */
  ageWarnBeforeMs: number;
  /** Is the key due, given when its current version was made? (age or cron, and the window) */
  schedule(keyCreatedAt: Date, now: number): DueVerdict;
}

export interface RuntimeConfig {
  settings: RuntimeSettings;
  credentials: RuntimeCredential[];
}
