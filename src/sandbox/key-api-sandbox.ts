/**
 * The sandbox's key-API vendors beyond CallCov (Twilio, SendGrid, Datadog), as the seed and the
 * demo see them (each simulator is `sandbox[id]`): the management secret its definition reads
 * (`management.secretKeys` in vendors/<id>.yaml), the inventory fields a credential of it needs,
 * and the key check the vendor documents, made over HTTP so the demo judges a stored key as the
 * vendor would. Must not: print or return a secret.
 */
import { SANDBOX_DATADOG } from "./datadog-sim.js";
import type { Sandbox } from "./sandbox.js";
import { SANDBOX_SENDGRID } from "./sendgrid-sim.js";
import { SANDBOX_TWILIO } from "./twilio-sim.js";

export type SandboxKeyApiVendorId = "twilio" | "sendgrid" | "datadog";

/** A stored key's two halves, as in the secret's value `{vendor, apiKey, keyId}`. */
export interface StoredKey {
  apiKey: string;
  keyId: string;
}

export interface SandboxKeyApiVendor {
  name: string;
  /** The management secret's value, in the shape the definition's `management.secretKeys` names. */
  managementSecret: Record<string, string>;
  /** The credential's inventory fields besides `managementSecretId` (Twilio's accountSid). */
  fields(sandbox: Sandbox): Record<string, string>;
  /** The HTTP status of the vendor's documented key check for this key (200 when accepted). */
  check(url: string, key: StoredKey, sandbox: Sandbox): Promise<number>;
}

const statusOf = async (url: string, headers: Record<string, string>) =>
  (await fetch(url, { headers, redirect: "error" })).status;

export const SANDBOX_KEY_API_VENDORS: Record<SandboxKeyApiVendorId, SandboxKeyApiVendor> = {
  twilio: {
    name: "Twilio",
    managementSecret: { authToken: SANDBOX_TWILIO.authToken },
    fields: (s) => ({ accountSid: s.twilio.accountSid }),
    // A Standard key may read Messages; its SK sid and secret go as HTTP Basic.
    check: (url, key, s) =>
      statusOf(`${url}/2010-04-01/Accounts/${s.twilio.accountSid}/Messages.json?PageSize=1`, {
        authorization: `Basic ${Buffer.from(`${key.keyId}:${key.apiKey}`).toString("base64")}`,
      }),
  },
  sendgrid: {
    name: "SendGrid",
    managementSecret: { apiKey: SANDBOX_SENDGRID.managementKey },
    fields: () => ({}),
    check: (url, key) => statusOf(`${url}/v3/scopes`, { authorization: `Bearer ${key.apiKey}` }),
  },
  datadog: {
    name: "Datadog",
    managementSecret: { apiKey: SANDBOX_DATADOG.apiKey, appKey: SANDBOX_DATADOG.appKey },
    fields: () => ({}),
    check: (url, key) => statusOf(`${url}/api/v1/validate`, { "dd-api-key": key.apiKey }),
  },
};
