/**
 * The health check (a job scheduler, every 15 minutes by default), per credential:
 *   store      the secret can be read (and its current version parses)
 *   key        the current key is accepted by the vendor
 *   age        the key is not overdue: a rotation that silently stopped pages someone
 *   management CallCov's management login still works, so the next rotation can mint a key
 * Each failing check raises an alert (and sets key_rotator_health_check_failing); a passing one
 * resolves it. The same vendor call also yields usage (CallCov's X-RateLimit-* headers), which
 * the usage watcher turns into a baseline and anomaly alerts.
 * Must not: change anything in the store or at the vendor.
 */
import { describeError } from "../src/core/errors.js";
import type { Alerter, KeyApiVendor, KeyVerifier, SecretStore, UsageSample } from "../src/core/ports.js";
import { parseStoredValue, vendorSecretOf } from "../src/core/stored-value.js";
import type { Logger } from "../src/observability/logger.js";
import type { Metrics } from "../src/observability/metrics.js";
import type { DueVerdict } from "./due-check.job.js";

export interface HealthCredential {
  id: string;
  vendor: "callcov" | "justcall";
  secretId: string;
  schedule(keyCreatedAt: Date, now: number): DueVerdict;
}

export interface HealthContext {
  credentials: HealthCredential[];
  store: SecretStore;
  verifierFor(c: HealthCredential): KeyVerifier;
  /** CallCov only: the management API, to prove the login still works. */
  managementFor(c: HealthCredential): KeyApiVendor | undefined;
  alerter: Alerter;
  log: Logger;
  metrics?: Metrics;
  now(): number;
  /** How long past due a key may be before it counts as overdue (a rotation may be running). */
  overdueAfterMs: number;
  /** Receives each usage sample the key check yields. */
  onUsage?(credentialId: string, usage: UsageSample): Promise<void>;
  concurrency?: number;
}

export type Check = "store" | "key" | "age" | "management";

export interface HealthSummary {
  checked: number;
  failing: Array<{ credentialId: string; check: Check; reason: string }>;
}

export async function runHealthCheck(ctx: HealthContext): Promise<HealthSummary> {
  const summary: HealthSummary = { checked: 0, failing: [] };
  const managementChecked = new Map<KeyApiVendor, Promise<string | undefined>>();
  const queue = [...ctx.credentials];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const results = await checkOne(ctx, c, managementChecked);
      for (const [check, reason] of Object.entries(results) as Array<[Check, string | undefined]>) {
        ctx.metrics?.healthCheckFailing.labels({ credential: c.id, vendor: c.vendor, check }).set(reason ? 1 : 0);
        if (reason) {
          summary.failing.push({ credentialId: c.id, check, reason });
          await ctx.alerter.raise({ credentialId: c.id, severity: check === "age" && reason.startsWith("due") ? "warning" : "critical", kind: `health-${check}`, summary: reason });
        } else {
          await ctx.alerter.resolve(c.id, `health-${check}`);
        }
      }
      summary.checked += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, ctx.concurrency ?? 8) }, worker));
  return summary;
}

async function checkOne(ctx: HealthContext, c: HealthCredential, managementChecked: Map<KeyApiVendor, Promise<string | undefined>>): Promise<Partial<Record<Check, string | undefined>>> {
  const out: Partial<Record<Check, string | undefined>> = {};
  let current;
  try {
    current = await ctx.store.read(c.secretId, { stage: "AWSCURRENT" });
    out.store = undefined;
  } catch (err) {
    out.store = `the secret ${c.secretId} cannot be read: ${describeError(err)}`;
    return out;
  }
  const now = ctx.now();
  const labels = { credential: c.id, vendor: c.vendor };
  const verdict = c.schedule(current.createdAt, now);
  ctx.metrics?.keyAgeSeconds.labels(labels).set((now - current.createdAt.getTime()) / 1000);
  ctx.metrics?.keyDueInSeconds.labels(labels).set((verdict.dueAt - now) / 1000);
  out.age = now > verdict.dueAt + ctx.overdueAfterMs
    ? `overdue: the key is ${Math.round((now - verdict.dueAt) / 3_600_000)} h past its rotation date; rotations may have stopped`
    : undefined;
  try {
    const value = parseStoredValue(current.value, `${c.id}: secret ${c.secretId} version ${current.versionId}`);
    const result = await ctx.verifierFor(c).verify(vendorSecretOf(value));
    out.key = result.valid ? undefined : `the vendor refuses the current key (${result.status}: ${result.reason})`;
    if (result.valid && result.usage) await ctx.onUsage?.(c.id, result.usage);
  } catch (err) {
    out.key = `the current key could not be checked: ${describeError(err)}`;
  }
  const management = ctx.managementFor(c);
  if (management) {
    let check = managementChecked.get(management);
    if (!check) {
      check = management.listKeys().then(() => undefined, (err: unknown) => `the management login cannot list keys, so the next rotation cannot mint one: ${describeError(err)}`);
      managementChecked.set(management, check);
    }
    out.management = await check;
  }
  return out;
}
