/**
 * What the running worker needs to know, derived once from the inventory: settings with defaults
 * applied and, per credential, the slice each part uses (rotation timings, the due rule, alert
 * routes, its vendor module). Keeping this apart from the inventory schema keeps the schema free
 * to read well for people while the runtime reads well for engineers.
 */
import type { UsagePolicy } from "../core/ports.js";
import type { RotationCredential } from "../rotation/key-api-flow.js";
import type { DueDecision } from "../schedule/cadence.js";
import type { VendorCredential, VendorModule } from "../vendors/vendor-module.js";

export interface RuntimeSettings {
  /** BullMQ key prefix; `{key-rotator}` keeps every key in one Redis Cluster slot. */
  queuePrefix: string;
  dueCheckEveryMs: number;
  healthCheckEveryMs: number;
  /** How often the health check shows each key to its vendor (spread over its ticks). */
  verifyEveryMs: number;
  orphanSweepEveryMs: number;
  /** Credentials per shard job of a due or health tick (a larger fleet's tick is cut into shards). */
  tickShardSize: number;
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
  verifyEveryMs: 3_600_000,
  orphanSweepEveryMs: 6 * 3_600_000,
  tickShardSize: 2_000,
  orphanMinAgeMs: 10 * 60_000,
  concurrency: 4,
  storeWriteQuota: 50,
  httpPort: 8080,
  lockDurationMs: 30_000,
  emergency: { cooldownMs: 600_000, maxPerMinute: 60 },
};

/** The operator-assisted flow's settings (a person makes and revokes the keys). */
export interface OperatorSettings {
  singlePair: boolean;
  remindEveryMs: number;
  deadlineMs: number;
}

/**
 * One credential as the worker runs it. Made by toRuntime, where only `id` and `secretId` are the
 * object's own fields: the rest are its profile's, the prototype it shares with every credential
 * whose fields are alike (at 100,000 credentials that is the difference between 3 MiB and 14).
 * So read fields, never copy one with a spread (`{ ...c }` keeps the ids alone): see withFields.
 */
export interface RuntimeCredential extends RotationCredential {
  /** The vendor id (the inventory's `vendor:`), for labels and messages. */
  vendor: string;
  /** The vendor's module: its adapters, value shape, flow and guide. */
  module: VendorModule;
  baseUrl: string;
  /** The vendor module's own inventory fields, parsed; handed back to the module's factories. */
  vendorFields: Record<string, unknown>;
  /** Operator-assisted flow: the person's part. */
  operator?: OperatorSettings;
  /** Vendors that report usage: when usage counts as anomalous. */
  usage?: UsagePolicy;
  /** Where the secret lives: its region (undefined: AWS_REGION) and the role to reach it with. */
  aws: AwsPlace;
  /** The secret is replicated to other regions: the health check watches its replicas. */
  replicated: boolean;
  /** The customer-managed KMS key that encrypts the secret (for the IAM policy). */
  kmsKeyArn?: string | undefined;
  /** How long before due the health check warns (settings.ageWarnBefore for the vendor); 0: never. */
  ageWarnBeforeMs: number;
  /** Is the key due, given when its current version was made? (age or cron, and the window) */
  schedule(keyCreatedAt: Date, now: number): DueDecision;
}

/** A secret's region and account: the AWS client that reaches it. */
export interface AwsPlace {
  region?: string | undefined;
  roleArn?: string | undefined;
  externalId?: string | undefined;
}

export interface RuntimeConfig {
  settings: RuntimeSettings;
  credentials: RuntimeCredential[];
}

/** A credential as its vendor module sees it (what the module's factories take). */
export function vendorCredential(c: RuntimeCredential): VendorCredential {
  return { id: c.id, secretId: c.secretId, baseUrl: c.baseUrl, fields: c.vendorFields };
}

/** The secrets the worker reads besides the credentials' own (vendor management logins), for IAM. */
export function secretsReadBesides(credentials: RuntimeCredential[]): string[] {
  return [...new Set(credentials.flatMap((c) => c.module.secretsRead(vendorCredential(c))))];
}
