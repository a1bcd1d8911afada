/**
 * A fleet across regions and accounts (issue 19): credentials in two regions and one in another
 * account behind a role with an external id, rotated by the product's own composition root (one
 * AWS client per region and role, the role assumed by the SDK's own provider) against the
 * emulator, which serves each region by the request's signature and each account by the session
 * that signed it. Each secret turns over where it lives, and nowhere else.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { builtInInventorySchema } from "../../src/config/inventory-schema.js";
import { toRuntime } from "../../src/config/load-runtime.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { type FlowRun, runAttempt } from "../../src/rotation/runner.js";
import { type CallCovSimulator, startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { createServices } from "../../src/worker/compose-services.js";

const LOGIN = { email: "ops@callcov.test", password: "regions-password-1" };
const ROLE = "arn:aws:iam::222222222222:role/key-rotator";
let emulator: SecretsManagerEmulator;
let sim: CallCovSimulator;

beforeAll(async () => {
  emulator = await startSecretsManagerEmulator();
  sim = await startCallCovSimulator({ accounts: [LOGIN] });
  emulator.trustRole(ROLE, { externalId: "kr-ext" });
  vi.stubEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", emulator.url);
  vi.stubEnv("AWS_ENDPOINT_URL_STS", emulator.url);
  vi.stubEnv("AWS_ACCESS_KEY_ID", "test");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test");
  vi.stubEnv("AWS_REGION", "us-east-1");
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await emulator.close();
  await sim.close();
});

const places = [
  { id: "cc-us", region: undefined, account: undefined },
  { id: "cc-eu", region: "eu-west-1", account: undefined },
  { id: "cc-other", region: "us-east-1", account: "222222222222" },
] as const;

describe("a fleet across regions and accounts", () => {
  it("rotates each credential's secret where it lives, through a client for its region and role", async () => {
    const oldKeys = new Map<string, string>();
    for (const p of places) {
      const state = emulator.stateOf(p.region ?? "us-east-1", p.account);
      state.CreateSecret({ Name: `${p.id}/login`, SecretString: JSON.stringify(LOGIN) });
      const made = sim.issueKey(`made by hand for ${p.id}`);
      oldKeys.set(p.id, made.id);
      state.CreateSecret({
        Name: p.id,
        SecretString: JSON.stringify({ vendor: "callcov", apiKey: made.key, keyId: made.id }),
      });
    }
    const inventory = builtInInventorySchema().parse({
      credentials: places.map((p) => ({
        id: p.id,
        vendor: "callcov",
        secretId: p.id,
        baseUrl: sim.url,
        managementSecretId: `${p.id}/login`,
        rotation: { every: "90d", grace: "1s" },
        ...(p.region ? { region: p.region } : {}),
        ...(p.account ? { roleArn: ROLE, externalId: "kr-ext" } : {}),
      })),
    });
    const runtime = toRuntime(inventory);
    const services = await createServices(inventory, runtime, { log: createLogger({ level: "silent" }) });
    try {
      for (const c of runtime.credentials) {
        if (c.module.flow !== "key-api") throw new Error("expected a key-API vendor");
        const run: FlowRun = {
          kind: "key-api",
          credential: c,
          deps: {
            store: services.store,
            vendor: services.vendorFor(c),
            value: c.module.value,
            alerter: services.alerter,
            clock: services.clock,
          },
        };
        let saved: RotationState = {
          credentialId: c.id,
          rotationId: randomUUID(),
          step: Step.Create,
          emergency: false,
          trigger: "manual",
          startedAt: Date.now(),
        };
        for (;;) {
          const outcome = await runAttempt(run, saved, async (s) => void (saved = s), { number: 1, of: 1 });
          saved = outcome.state;
          if (outcome.kind !== "wait") break;
          await new Promise((r) => setTimeout(r, Math.max(0, outcome.until - Date.now())));
        }
        expect(saved.step).toBe(Step.Done);
      }
    } finally {
      await services.close();
    }
    for (const p of places) {
      const current = emulator.stateOf(p.region ?? "us-east-1", p.account).GetSecretValue({ SecretId: p.id });
      const value = JSON.parse(String(current.SecretString)) as { keyId: string; replacesKeyId: string };
      expect(value.replacesKeyId).toBe(oldKeys.get(p.id));
      expect(sim.isKeyActive(value.keyId)).toBe(true);
      expect(sim.isKeyActive(oldKeys.get(p.id) ?? "")).toBe(false);
    }
    // Nothing of one place leaked into another: the home region of the home account holds only its own.
    expect(() => emulator.stateOf("us-east-1").GetSecretValue({ SecretId: "cc-eu" })).toThrow();
    expect(() => emulator.stateOf("us-east-1").GetSecretValue({ SecretId: "cc-other" })).toThrow();
    expect(emulator.assumedRoles().map((r) => r.roleArn)).toContain(ROLE);
  });
});
