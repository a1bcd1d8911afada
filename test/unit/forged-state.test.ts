/**
 * DESIGN.md rule 8, as a property: whatever job data Redis hands a rotation (lost, stale or forged
 * step, ids, times, flags), no key that any credential's AWSCURRENT or AWSPENDING holds is ever
 * revoked, the other credential is never touched, and the credential ends with a working current
 * key. The store is set up in each stage a rotation can leave it in.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RotatorError } from "../../src/core/errors.js";
import { STAGE_CURRENT, STAGE_PENDING } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { undoUnpromoted } from "../../src/rotation/revocation.js";
import { type RotationCredential, rotate } from "../../src/rotation/key-api-flow.js";
import { type RotationState, Step, type Trigger, isBefore } from "../../src/rotation/rotation-state.js";
import { FakeAlerter, FakeStore, FakeVendor, KEY_VALUE } from "../support/fake-ports.js";

const A: RotationCredential = { id: "cc-a", secretId: "s/a", graceMs: 60_000, maxGraceExtensionMs: 120_000 };
const B: RotationCredential = { id: "cc-b", secretId: "s/b", graceMs: 60_000, maxGraceExtensionMs: 120_000 };
const T0 = 10_000_000;
const keyOf = (n: string) => `sk_live_${n.padEnd(12, "0")}`;
const value = (keyId: string, extra: Record<string, string> = {}) =>
  JSON.stringify({ vendor: "callcov", apiKey: keyOf(keyId), keyId, ...extra });

type Scene = "fresh" | "pending" | "promoted" | "finished";

function world(scene: Scene) {
  const calls: string[] = [];
  const now = { t: T0 };
  const store = new FakeStore(calls, undefined, () => now.t);
  const vendor = new FakeVendor(calls);
  store.seed(A.secretId, "v-old", value("k-old"));
  store.seed(B.secretId, "v-b", value("k-b"));
  vendor.seed("k-old", keyOf("k-old"));
  vendor.seed("k-b", keyOf("k-b"));
  const a = store.secrets.get(A.secretId) ?? [];
  if (scene !== "fresh") {
    vendor.seed("k-new", keyOf("k-new"), `key-rotator/${A.id}/r-new`);
    a.push({
      versionId: "r-new",
      stages: [STAGE_PENDING],
      value: value("k-new", { replacesKeyId: "k-old" }),
      createdAt: new Date(T0 - 1_000),
    });
  }
  if (scene === "promoted" || scene === "finished") {
    for (const v of a) v.stages = v.versionId === "r-new" ? [STAGE_PENDING, STAGE_CURRENT] : ["AWSPREVIOUS"];
  }
  if (scene === "finished") {
    vendor.active.delete("k-old");
    store.finished.set(A.secretId, "r-new");
  }
  return { store, vendor, now, alerter: new FakeAlerter() };
}

/** The key ids held by any AWSCURRENT or AWSPENDING version of either secret, right now. */
function stagedKeys(store: FakeStore): Set<string> {
  const held = new Set<string>();
  for (const versions of store.secrets.values()) {
    for (const v of versions) {
      if (v.stages.includes(STAGE_CURRENT) || v.stages.includes(STAGE_PENDING))
        held.add((JSON.parse(v.value) as { keyId: string }).keyId);
    }
  }
  return held;
}

const ids = ["v-old", "r-new", "v-b", "11111111-2222-3333-4444-555555555555"];
const keyIds = ["k-old", "k-new", "k-b", "k-unknown"];
const forged = fc.record({
  step: fc.constantFrom(...Object.values(Step)),
  rotationId: fc.constantFrom(...ids),
  oldVersionId: fc.option(fc.constantFrom(...ids), { nil: undefined }),
  oldKeyId: fc.option(fc.constantFrom(...keyIds), { nil: undefined }),
  newKeyId: fc.option(fc.constantFrom(...keyIds), { nil: undefined }),
  emergency: fc.boolean(),
  emergencyAt: fc.option(fc.constantFrom(0, T0, T0 + 1e12), { nil: undefined }),
  graceUntil: fc.option(fc.constantFrom(0, T0, T0 + 1e12), { nil: undefined }),
  graceExtendedMs: fc.option(fc.constantFrom(-1e12, 0, 1e12), { nil: undefined }),
  createAttempted: fc.boolean(),
  trigger: fc.constantFrom<Trigger>("schedule", "manual", "emergency", "resume", "admin"),
});

describe("forged or lost job data cannot aim a revocation (rule 8)", () => {
  it("never revokes a staged key, never touches another credential, and converges", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Scene>("fresh", "pending", "promoted", "finished"),
        forged,
        async (scene, data) => {
          const w = world(scene);
          const violations: string[] = [];
          const revoke = w.vendor.revokeKey.bind(w.vendor);
          w.vendor.revokeKey = async (keyId) => {
            if (stagedKeys(w.store).has(keyId)) violations.push(`revoked ${keyId} while a staged version held it`);
            return revoke(keyId);
          };
          let saved: RotationState = { credentialId: A.id, startedAt: 0, ...data } as RotationState;
          const deps = {
            store: w.store,
            vendor: w.vendor,
            value: KEY_VALUE,
            alerter: w.alerter,
            clock: { now: () => w.now.t },
          };
          for (let attempt = 0; attempt < 30; attempt++) {
            try {
              const r = await rotate(A, deps, saved, async (s) => void (saved = s));
              if (r.kind === "finished") break;
              w.now.t = Math.max(w.now.t + 1, r.until);
            } catch (err) {
              if (err instanceof RotatorError && err.retryable) continue;
              // What the queue does on giving up: undo what the store shows of this rotation.
              if (isBefore(saved.step, Step.Grace))
                await undoUnpromoted(deps, A, await w.store.listVersions(A.secretId), saved.rotationId);
              break;
            }
          }
          expect(violations).toEqual([]);
          expect(w.vendor.active.has("k-b")).toBe(true);
          expect(w.store.current(B.secretId).versionId).toBe("v-b");
          const current = JSON.parse(w.store.current(A.secretId).value) as { apiKey: string };
          expect((await w.vendor.verify(new SecretValue(current.apiKey))).valid).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });
});
