/**
 * `key-rotator sandbox`: runs the emulator and simulators until SIGTERM/SIGINT and prints one
 * JSON line with their URLs, for trying the product without AWS or vendor accounts:
 *   AWS_ENDPOINT_URL_SECRETS_MANAGER=<secretsManager> AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x ...
 * With `--seed`, it first puts a credential of each vendor in, CallCov, JustCall, Twilio, SendGrid
 * and Datadog (keys made at the vendor as a person would, each key-API vendor's management login or
 * key in its own secret), writes an inventory for them, and prints what to export in another
 * shell: the README's try-it path needs nothing else.
 */
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SANDBOX_KEY_API_VENDORS } from "../sandbox/key-api-sandbox.js";
import { ListenError } from "../sandbox/local-server.js";
import { SANDBOX_LOGIN, SANDBOX_PORTS, type Sandbox, startSandbox } from "../sandbox/sandbox.js";
import {
  SANDBOX_ENV,
  seedCallCovCredential,
  seedJustCallCredential,
  seedKeyApiCredential,
  seedManagementLogin,
  writeCallCovInventory,
} from "../sandbox/seed.js";
import { EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export async function sandboxCommand(
  o: { portBase?: string; seed?: boolean; inventory?: string },
  out: Out,
): Promise<number> {
  const portBase = o.portBase === undefined ? undefined : Number(o.portBase);
  const highest = 65_536 - SANDBOX_PORTS;
  if (portBase !== undefined && (!Number.isInteger(portBase) || portBase < 1024 || portBase > highest)) {
    out.stderr(
      `key-rotator sandbox: --port-base must be a port number from 1024 to ${highest} (the sandbox takes ${SANDBOX_PORTS} ports from it), got "${o.portBase ?? ""}"`,
    );
    return EXIT_USAGE;
  }
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox(portBase ? { portBase } : {});
  } catch (err) {
    // A taken port is bad input (choose another --port-base): one line, exit 2, no stack trace.
    if (!(err instanceof ListenError)) throw err;
    out.stderr(`key-rotator sandbox: ${err.message}`);
    return EXIT_USAGE;
  }
  if (o.seed) await seed(sandbox, resolve(o.inventory ?? "sandbox-inventory.yaml"), out);
  else out.stdout(JSON.stringify(sandbox.urls));
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await sandbox.close();
  return EXIT_OK;
}

async function seed(sandbox: Sandbox, inventory: string, out: Out): Promise<void> {
  const client = new SecretsManagerClient({
    endpoint: sandbox.urls.secretsManager,
    region: SANDBOX_ENV.AWS_REGION,
    credentials: { accessKeyId: SANDBOX_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: SANDBOX_ENV.AWS_SECRET_ACCESS_KEY },
  });
  const login = await seedManagementLogin(client);
  const cc = await seedCallCovCredential(sandbox, client, "cc-demo");
  const jc = await seedJustCallCredential(sandbox, client, "jc-demo");
  // The vendors added as definitions (vendors/*.yaml), one credential each.
  const defined = [
    await seedKeyApiCredential(sandbox, client, "twilio", "tw-demo"),
    await seedKeyApiCredential(sandbox, client, "sendgrid", "sg-demo"),
    await seedKeyApiCredential(sandbox, client, "datadog", "dd-demo"),
  ];
  client.destroy();
  writeCallCovInventory(inventory, sandbox, [cc], login, {
    // Its own prefix each time: a Redis kept from an earlier sandbox holds jobs for keys gone with it.
    queuePrefix: `{key-rotator-sandbox-${randomBytes(3).toString("hex")}}`,
    every: "90d",
    grace: "10s",
    justcall: [{ ...jc, every: "90d" }],
    keyApi: defined.map((k) => ({ ...k, every: "90d", grace: "10s" })),
  });
  const env = {
    ...SANDBOX_ENV,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sandbox.urls.secretsManager,
    KEY_ROTATOR_CONFIG: inventory,
    // Not the product's: for the README's curl to the JustCall simulator's dashboard.
    SANDBOX_JUSTCALL_URL: sandbox.urls.justcall,
  };
  out.stdout(
    JSON.stringify({
      ...sandbox.urls,
      inventory,
      credentials: [cc.id, jc.id, ...defined.map((k) => k.id)],
      env,
    }),
  );
  out.stdout(
    [
      "",
      "Seeded, each key made at its vendor as a person would and stored in its own secret:",
      `  ${cc.id}  CallCov   ${cc.secretId} (management login ${SANDBOX_LOGIN.email} in ${login})`,
      `  ${jc.id}  JustCall  ${jc.secretId} (operator-assisted: a person makes and revokes pairs)`,
      ...defined.map(
        (k) =>
          `  ${k.id}  ${SANDBOX_KEY_API_VENDORS[k.vendor].name.padEnd(8)}  ${k.secretId} (added as a definition, vendors/${k.vendor}.yaml; management secret ${k.managementSecretId})`,
      ),
      `Inventory: ${inventory}`,
      `JustCall's dashboard (make and revoke pairs as a person would): ${sandbox.urls.justcall}/__dashboard/pairs`,
      "",
      "In another shell (leave this one running; Ctrl-C stops the sandbox, which keeps nothing):",
      `  export ${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
    ].join("\n"),
  );
}
