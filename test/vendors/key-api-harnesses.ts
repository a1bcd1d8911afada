/**
 * For every key-API vendor in the registry, how tests reach it: its simulator started on a free
 * port, and the adapter the product builds for a credential of it (the module's own factory, with
 * its management secret in a store). A key-API vendor without an entry here fails the contract
 * suite: adding a vendor means adding its simulator here too.
 */
import { z } from "zod";
import type { KeyApiVendor } from "../../src/core/ports.js";
import { startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";
import { SANDBOX_DATADOG, startDatadogSimulator } from "../../src/sandbox/datadog-sim.js";
import { SANDBOX_SENDGRID, startSendGridSimulator } from "../../src/sandbox/sendgrid-sim.js";
import { SANDBOX_TWILIO, startTwilioSimulator } from "../../src/sandbox/twilio-sim.js";
import type { KeyApiModule } from "../../src/vendors/vendor-module.js";
import { vendorModule } from "../../src/vendors/registry.js";
import { FakeStore } from "../support/fake-ports.js";

export interface RunningKeyApi {
  vendor: KeyApiVendor;
  /** Makes a key the way a person would in the vendor's dashboard (not through the product). */
  makeOutsideKey(name: string): Promise<{ keyId: string }>;
  /** Whether the vendor still accepts the key with this id. */
  isActive(keyId: string): boolean;
  /** The status the vendor's verify answers for a key it does not accept (401 unless told). */
  refusedStatus?: number;
  stop(): Promise<void>;
}

export interface KeyApiHarness {
  start(): Promise<RunningKeyApi>;
}

/** The adapter the product builds, from the module's factory, for a credential with these fields. */
export function adapterOf(
  module: KeyApiModule,
  baseUrl: string,
  fields: Record<string, unknown>,
  secrets: Record<string, string>,
): KeyApiVendor {
  const store = new FakeStore([]);
  for (const [id, value] of Object.entries(secrets)) store.seed(id, "v1", value);
  const parsed = z.object(module.fields).parse(fields);
  return module.keyApi(
    { id: "contract", secretId: "contract/secret", baseUrl, fields: parsed },
    { store, onRequest: () => undefined },
  );
}

export const KEY_API_HARNESSES: Record<string, KeyApiHarness> = {
  callcov: {
    async start() {
      const login = { email: "contract@callcov.test", password: "contract-password-1" };
      const sim = await startCallCovSimulator({ accounts: [login] });
      const vendor = adapterOf(
        vendorModule("callcov") as KeyApiModule,
        sim.url,
        { managementSecretId: "contract/login" },
        {
          "contract/login": JSON.stringify(login),
        },
      );
      return {
        vendor,
        makeOutsideKey: async (name) => ({ keyId: sim.issueKey(name).id }),
        isActive: (keyId) => sim.isKeyActive(keyId),
        stop: () => sim.close(),
      };
    },
  },
  twilio: {
    async start() {
      const sim = await startTwilioSimulator();
      const vendor = adapterOf(
        vendorModule("twilio") as KeyApiModule,
        sim.url,
        { accountSid: sim.accountSid, managementSecretId: "contract/twilio-auth-token" },
        { "contract/twilio-auth-token": JSON.stringify({ authToken: SANDBOX_TWILIO.authToken }) },
      );
      return {
        vendor,
        makeOutsideKey: async (name) => ({ keyId: sim.issueKey(name).id }),
        isActive: (keyId) => sim.isKeyActive(keyId),
        stop: () => sim.close(),
      };
    },
  },
  sendgrid: {
    async start() {
      const sim = await startSendGridSimulator();
      const vendor = adapterOf(
        vendorModule("sendgrid") as KeyApiModule,
        sim.url,
        { managementSecretId: "contract/sendgrid-management" },
        { "contract/sendgrid-management": JSON.stringify({ apiKey: SANDBOX_SENDGRID.managementKey }) },
      );
      return {
        vendor,
        makeOutsideKey: async (name) => ({ keyId: sim.issueKey(name).id }),
        isActive: (keyId) => sim.isKeyActive(keyId),
        stop: () => sim.close(),
      };
    },
  },
  datadog: {
    async start() {
      const sim = await startDatadogSimulator();
      const vendor = adapterOf(
        vendorModule("datadog") as KeyApiModule,
        sim.url,
        { managementSecretId: "contract/datadog-management" },
        { "contract/datadog-management": JSON.stringify(SANDBOX_DATADOG) },
      );
      return {
        vendor,
        makeOutsideKey: async (name) => ({ keyId: sim.issueKey(name).id }),
        isActive: (keyId) => sim.isKeyActive(keyId),
        // Datadog's validate answers 403 for a key it does not accept (no 401 is documented).
        refusedStatus: 403,
        stop: () => sim.close(),
      };
    },
  },
};
