/**
 * Puts credentials into a sandbox the way a team would before adopting key-rotator: a key made
 * by hand at the vendor, stored in its secret in the shape of README "Stored value", plus the
 * vendor's management login or key in its own secret. Also writes a matching inventory file.
 */
import { writeFileSync } from "node:fs";
import { CreateSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { stringify } from "yaml";
import { SANDBOX_KEY_API_VENDORS, type SandboxKeyApiVendorId } from "./key-api-sandbox.js";
import { SANDBOX_LOGIN, type Sandbox } from "./sandbox.js";

export const SANDBOX_ENV = {
  AWS_ACCESS_KEY_ID: "sandbox",
  AWS_SECRET_ACCESS_KEY: "sandbox",
  AWS_REGION: "us-east-1",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

export function sandboxEnv(sandbox: Sandbox): Record<string, string> {
  // The emulator answers STS AssumeRole too, for credentials with a roleArn.
  return {
    ...SANDBOX_ENV,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sandbox.urls.secretsManager,
    AWS_ENDPOINT_URL_STS: sandbox.urls.secretsManager,
  };
}

export interface SeededCallCov {
  id: string;
  secretId: string;
  keyId: string;
}

export async function seedManagementLogin(
  client: SecretsManagerClient,
  secretId = "sandbox/callcov/management-login",
): Promise<string> {
  await createOnce(client, secretId, SANDBOX_LOGIN);
  return secretId;
}

/** Creates the secret unless it exists already (a management secret shared by credentials). */
async function createOnce(client: SecretsManagerClient, secretId: string, value: unknown): Promise<void> {
  await client
    .send(new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify(value) }))
    .catch((err: unknown) => {
      if ((err as { name?: string }).name !== "ResourceExistsException") throw err;
    });
}

export async function seedCallCovCredential(
  sandbox: Sandbox,
  client: SecretsManagerClient,
  id: string,
): Promise<SeededCallCov> {
  const secretId = `sandbox/callcov/${id}`;
  const made = sandbox.callcov.issueKey(`made by hand for ${id}`);
  await client.send(
    new CreateSecretCommand({
      Name: secretId,
      SecretString: JSON.stringify({ vendor: "callcov", apiKey: made.key, keyId: made.id }),
    }),
  );
  return { id, secretId, keyId: made.id };
}

export interface SeededJustCall {
  id: string;
  secretId: string;
  apiKey: string;
  /** Shown once by the dashboard; kept so tests can scan for it. */
  apiSecret: string;
}

/** A JustCall pair made in the simulator's dashboard (as a person would) and stored. */
export async function seedJustCallCredential(
  sandbox: Sandbox,
  client: SecretsManagerClient,
  id: string,
): Promise<SeededJustCall> {
  const secretId = `sandbox/justcall/${id}`;
  const pair = sandbox.justcall.generatePair();
  await client.send(
    new CreateSecretCommand({
      Name: secretId,
      SecretString: JSON.stringify({ vendor: "justcall", apiKey: pair.apiKey, apiSecret: pair.apiSecret }),
    }),
  );
  return { id, secretId, apiKey: pair.apiKey, apiSecret: pair.apiSecret };
}

export interface SeededKeyApi {
  id: string;
  vendor: SandboxKeyApiVendorId;
  secretId: string;
  /** The hand-made key's id at the vendor (Twilio's SK… sid, SendGrid's api_key_id, Datadog's UUID). */
  keyId: string;
  /** The hand-made key itself; kept so the demo can show the vendor refuses it once revoked. */
  apiKey: string;
  managementSecretId: string;
  /** The credential's other inventory fields (Twilio's accountSid). */
  fields: Record<string, string>;
}

/**
 * A credential of a key-API definition vendor (Twilio, SendGrid, Datadog): a key made in the
 * simulator's dashboard as a person would, stored as `{vendor, apiKey, keyId}`, and the vendor's
 * management secret (`sandbox/<vendor>/management`, made once for all its credentials).
 */
export async function seedKeyApiCredential(
  sandbox: Sandbox,
  client: SecretsManagerClient,
  vendor: SandboxKeyApiVendorId,
  id: string,
): Promise<SeededKeyApi> {
  const v = SANDBOX_KEY_API_VENDORS[vendor];
  const managementSecretId = `sandbox/${vendor}/management`;
  await createOnce(client, managementSecretId, v.managementSecret);
  const secretId = `sandbox/${vendor}/${id}`;
  const made = sandbox[vendor].issueKey(`made by hand for ${id}`);
  await client.send(
    new CreateSecretCommand({
      Name: secretId,
      SecretString: JSON.stringify({ vendor, apiKey: made.key, keyId: made.id }),
    }),
  );
  return { id, vendor, secretId, keyId: made.id, apiKey: made.key, managementSecretId, fields: v.fields(sandbox) };
}

export interface InventoryOptions {
  queuePrefix: string;
  every?: string;
  /** Per-credential cadence, overriding `every`. */
  everyById?: Record<string, string>;
  grace?: string;
  dueCheckEvery?: string;
  healthCheckEvery?: string;
  lockDuration?: string;
  orphanMinAge?: string;
  orphanSweepEvery?: string;
  /** rotation.maxGraceExtension of every CallCov credential (the schema's default when absent). */
  maxGraceExtension?: string;
  /** More `settings` entries, written as given (a setting this helper does not name). */
  extraSettings?: Record<string, unknown>;
  concurrency?: number;
  storeWriteQuota?: number;
  webhookUrl?: string;
  /** JustCall credentials to add, with their operator settings. */
  justcall?: Array<SeededJustCall & { every?: string; singlePair?: boolean; remindEvery?: string; deadline?: string }>;
  /** Twilio, SendGrid and Datadog credentials to add, each on its simulator. */
  keyApi?: Array<SeededKeyApi & { every?: string; grace?: string }>;
}

export function writeCallCovInventory(
  path: string,
  sandbox: Sandbox,
  credentials: SeededCallCov[],
  managementSecretId: string,
  o: InventoryOptions,
): void {
  const inventory = {
    settings: {
      queuePrefix: o.queuePrefix,
      dueCheckEvery: o.dueCheckEvery ?? "1h",
      healthCheckEvery: o.healthCheckEvery ?? "15m",
      // A world that speeds its health ticks up checks the key every tick, as it did before the
      // vendor check got a cadence of its own.
      ...(o.healthCheckEvery ? { verifyEvery: o.healthCheckEvery } : {}),
      lockDuration: o.lockDuration ?? "30s",
      orphanMinAge: o.orphanMinAge ?? "10m",
      ...(o.orphanSweepEvery ? { orphanSweepEvery: o.orphanSweepEvery } : {}),
      concurrency: o.concurrency ?? 4,
      ...(o.storeWriteQuota ? { storeWriteQuota: o.storeWriteQuota } : {}),
      httpPort: 0,
      ...o.extraSettings,
    },
    ...(o.webhookUrl ? { alertRoutes: { hook: { type: "webhook", url: o.webhookUrl } } } : {}),
    credentials: credentials
      .map((c) => ({
        id: c.id,
        vendor: "callcov",
        secretId: c.secretId,
        baseUrl: sandbox.urls.callcov,
        managementSecretId,
        rotation: {
          every: o.everyById?.[c.id] ?? o.every ?? "90d",
          grace: o.grace ?? "0s",
          ...(o.maxGraceExtension ? { maxGraceExtension: o.maxGraceExtension } : {}),
        },
        ...(o.webhookUrl ? { alerts: { warning: ["hook"], critical: ["hook"] } } : {}),
      }))
      .concat(
        (o.justcall ?? []).map((j) => ({
          id: j.id,
          vendor: "justcall",
          secretId: j.secretId,
          baseUrl: sandbox.urls.justcall,
          rotation: { every: j.every ?? "90d", grace: "0s" },
          operator: {
            singlePair: j.singlePair ?? false,
            remindEvery: j.remindEvery ?? "4h",
            deadline: j.deadline ?? "48h",
            escalateTo: o.webhookUrl ? ["hook"] : [],
          },
          ...(o.webhookUrl ? { alerts: { warning: ["hook"], critical: ["hook"] } } : {}),
        })) as never[],
      )
      .concat(
        (o.keyApi ?? []).map((k) => ({
          id: k.id,
          vendor: k.vendor,
          secretId: k.secretId,
          baseUrl: sandbox.urls[k.vendor],
          managementSecretId: k.managementSecretId,
          ...k.fields,
          rotation: { every: k.every ?? "90d", grace: k.grace ?? "0s" },
          ...(o.webhookUrl ? { alerts: { warning: ["hook"], critical: ["hook"] } } : {}),
        })) as never[],
      ),
  };
  writeFileSync(path, stringify(inventory));
}
