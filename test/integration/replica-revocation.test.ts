/**
 * Replica-aware revocation (issue 19): consumers in a replica region read the old key until the
 * new version reaches them, so the old key is revoked only once every replica serves the new
 * version as AWSCURRENT and reports InSync. Held InProgress, the revoke waits (and pages past its
 * bound, keeping the old key); Failed, it pages at once and keeps the old key; once the replicas
 * catch up, the rotation finishes. Through the real SDK against the emulator, with CallCov's
 * simulator and adapter.
 */
import {
  CreateSecretCommand,
  ReplicateSecretToRegionsCommand,
  type SecretsManagerClientConfig,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RotationCredential } from "../../src/rotation/key-api-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { type AttemptOutcome, type FlowRun, runAttempt } from "../../src/rotation/runner.js";
import { type CallCovSimulator, startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { AwsReplicaWatch } from "../../src/store/aws-replica-watch.js";
import { AwsSecretStore, createSecretsManagerClient } from "../../src/store/aws-secret-store.js";
import { vendorModule } from "../../src/vendors/registry.js";
import type { KeyApiModule } from "../../src/vendors/vendor-module.js";

const callcov = vendorModule("callcov") as KeyApiModule;
import { FakeAlerter } from "../support/fake-ports.js";

const CREDENTIALS: SecretsManagerClientConfig["credentials"] = { accessKeyId: "test", secretAccessKey: "test" };
const LOGIN = { email: "ops@callcov.test", password: "replica-password-1" };
let emulator: SecretsManagerEmulator;
let sim: CallCovSimulator;
const now = { t: Date.UTC(2026, 10, 30, 12) };

beforeEach(async () => {
  now.t = Date.UTC(2026, 10, 30, 12);
  emulator = await startSecretsManagerEmulator({ clock: () => now.t });
  sim = await startCallCovSimulator({ accounts: [LOGIN] });
});
afterEach(async () => {
  await emulator.close();
  await sim.close();
});

const clientIn = (region: string) =>
  createSecretsManagerClient({ endpoint: emulator.url, region, maxAttempts: 1, credentials: CREDENTIALS });

async function replicatedCredential(name: string) {
  const primary = clientIn("us-east-1");
  await primary.send(new CreateSecretCommand({ Name: `${name}/login`, SecretString: JSON.stringify(LOGIN) }));
  const old = sim.issueKey("made by hand");
  await primary.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({ vendor: "callcov", apiKey: old.key, keyId: old.id }),
    }),
  );
  emulator.setReplication({ delayMs: 0, hold: false, failRegions: [] });
  await primary.send(
    new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: "eu-west-1" }] }),
  );
  const credential: RotationCredential & { vendor: string } = {
    id: "cc",
    vendor: "callcov",
    secretId: name,
    graceMs: 1_000,
    maxGraceExtensionMs: 0,
  };
  const store = new AwsSecretStore(primary);
  const vendor = callcov.keyApi(
    {
      id: "cc",
      secretId: name,
      baseUrl: sim.url,
      fields: { mode: "live", plan: "starter", managementSecretId: `${name}/login` },
    },
    { store, onRequest: () => undefined },
  );
  const alerter = new FakeAlerter();
  const run: FlowRun = {
    kind: "key-api",
    credential,
    deps: {
      store,
      vendor,
      value: callcov.value,
      replicas: new AwsReplicaWatch(primary, clientIn),
      alerter,
      clock: { now: () => now.t },
    },
  };
  let saved: RotationState = {
    credentialId: "cc",
    rotationId: "2b0e7f61-5c0a-4c55-9b8a-6f1f0d2f3a10",
    step: Step.Create,
    emergency: false,
    trigger: "schedule",
    startedAt: now.t,
  };
  /** Runs attempts until the rotation finishes or waits on something other than grace. */
  const attempt = async (): Promise<AttemptOutcome> => {
    for (;;) {
      const outcome = await runAttempt(run, saved, async (s) => void (saved = s), { number: 1, of: 3 });
      saved = outcome.state;
      if (outcome.kind === "wait" && outcome.reason === "grace period") {
        now.t = outcome.until;
        continue;
      }
      return outcome;
    }
  };
  const markEmergency = () => void (saved = { ...saved, emergency: true, trigger: "emergency", emergencyAt: now.t });
  return { old, alerter, attempt, markEmergency, primary };
}

describe("revocation waits for the secret's replicas", () => {
  it("held InProgress: the revoke waits, pages past its bound keeping the old key, and goes once they catch up", async () => {
    const w = await replicatedCredential("rep/held");
    emulator.setReplication({ hold: true });
    const waiting = await w.attempt();
    expect(waiting).toMatchObject({ kind: "wait", state: { step: Step.Revoke } });
    expect(waiting.kind === "wait" && waiting.reason).toMatch(/waiting for replicas: eu-west-1 \(InProgress\)/);
    expect(sim.isKeyActive(w.old.id)).toBe(true);
    expect(w.alerter.raised.filter((a) => a.kind === "replica-behind")).toEqual([]);

    now.t += 3_600_000;
    const paged = await w.attempt();
    expect(paged.kind).toBe("wait");
    expect(w.alerter.raised.find((a) => a.kind === "replica-behind")).toMatchObject({ severity: "critical" });
    expect(sim.isKeyActive(w.old.id)).toBe(true);

    emulator.setReplication({ hold: false });
    const done = await w.attempt();
    expect(done).toMatchObject({ kind: "finished", state: { step: Step.Done } });
    expect(sim.isKeyActive(w.old.id)).toBe(false);
    expect(w.alerter.resolved).toContain("cc/replica-behind");
  });

  it("Failed: pages at once and keeps the old key, and revokes it once replication recovers", async () => {
    const w = await replicatedCredential("rep/failed");
    emulator.setReplication({ failRegions: ["eu-west-1"] });
    const kept = await w.attempt();
    expect(kept.kind).toBe("wait");
    expect(w.alerter.raised.find((a) => a.kind === "replica-behind")).toMatchObject({
      severity: "critical",
      summary: expect.stringMatching(/the old key is kept: replicas are behind \(eu-west-1 \(Failed\)\)/),
    });
    expect(sim.isKeyActive(w.old.id)).toBe(true);

    // Replication is repaired and the next change reaches the replica: the rotation then finishes.
    emulator.setReplication({ failRegions: [] });
    await w.primary.send(new TagResourceCommand({ SecretId: "rep/failed", Tags: [{ Key: "touch", Value: "1" }] }));
    now.t += 10 * 30_000;
    expect(await w.attempt()).toMatchObject({ kind: "finished", state: { step: Step.Done } });
    expect(sim.isKeyActive(w.old.id)).toBe(false);
  });

  it("an emergency does not wait for replicas: it warns and revokes", async () => {
    const w = await replicatedCredential("rep/emergency");
    emulator.setReplication({ hold: true });
    const first = await w.attempt();
    expect(first.kind).toBe("wait");
    // The same rotation, now asked as an emergency (as a person's request joins it).
    w.markEmergency();
    const outcome = await w.attempt();
    expect(outcome.kind).toBe("finished");
    expect(sim.isKeyActive(w.old.id)).toBe(false);
    expect(w.alerter.raised.find((a) => a.kind === "replica-behind")).toMatchObject({ severity: "warning" });
  });
});
