/**
 * A vendor added by a definition file alone: no code, no built-in definition. The test writes a
 * definition for "Acme Mail" (a key API shaped like SendGrid's, served by the SendGrid simulator),
 * names it in the inventory, and the real worker and CLI rotate it end to end: a new key current
 * in the store, the old one revoked at the vendor, no key left over, no secret in any output.
 * A malformed definition keeps the CLI from starting: exit 2, naming the file and the path.
 */
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli, type CliProcess } from "../../src/demo/cli-process.js";
import { type Sandbox, startSandbox } from "../../src/sandbox/sandbox.js";
import { SANDBOX_SENDGRID } from "../../src/sandbox/sendgrid-sim.js";
import { sandboxEnv } from "../../src/sandbox/seed.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";
import { REDIS_URL, testPrefix } from "../support/redis.js";

const ACME = `
id: acme
name: Acme Mail
flow: key-api
fields:
  managementSecretId: { description: "the secret holding the management key" }
management:
  secretField: managementSecretId
  secretKeys: [token]
  auth: { kind: headers, headers: { Authorization: "Bearer {{secret.token}}" } }
key:
  pattern: "^SG\\\\.[A-Za-z0-9_-]{22}\\\\.[A-Za-z0-9_-]{43}$"
  hint: "expected an Acme key (SG.<id>.<secret>)"
rateLimit:
  limit: X-RateLimit-Limit
  remaining: X-RateLimit-Remaining
  reset: { header: X-RateLimit-Reset, unit: epoch-seconds }
calls:
  create:
    method: POST
    path: /v3/api_keys
    body: { name: "{{name}}", scopes: ["mail.send"] }
    status: { ok: [201] }
    answer: { key: /api_key, id: /api_key_id, name: /name }
  list:
    path: /v3/api_keys
    query: { limit: "500" }
    answer: { items: /result, id: /api_key_id, name: /name }
  revoke:
    method: DELETE
    path: "/v3/api_keys/{{keyId}}"
    status: { ok: [204], gone: [404] }
  verify:
    path: /v3/scopes
    headers: { Authorization: "Bearer {{key.secret}}" }
`;

let sandbox: Sandbox;
let dir: string;
let env: Record<string, string>;
let oldKey: { id: string; key: string };
const workers: CliProcess[] = [];

beforeAll(async () => {
  sandbox = await startSandbox();
  dir = mkdtempSync(join(tmpdir(), "kr-acme-"));
  env = { ...sandboxEnv(sandbox) };
  const client = createSecretsManagerClient({
    endpoint: sandbox.urls.secretsManager,
    credentials: sandboxCredentials(env),
  });
  oldKey = sandbox.sendgrid.issueKey("made by hand", ["mail.send"]);
  await client.send(
    new CreateSecretCommand({
      Name: "acme/mgmt",
      SecretString: JSON.stringify({ token: SANDBOX_SENDGRID.managementKey }),
    }),
  );
  await client.send(
    new CreateSecretCommand({
      Name: "acme/key",
      SecretString: JSON.stringify({ vendor: "acme", apiKey: oldKey.key, keyId: oldKey.id }),
    }),
  );
  writeFileSync(join(dir, "acme.yaml"), ACME);
  writeFileSync(
    join(dir, "inventory.yaml"),
    JSON.stringify({
      vendorDefinitions: ["acme.yaml"],
      settings: { queuePrefix: testPrefix("acme"), httpPort: 0, dueCheckEvery: "1h", lockDuration: "5s" },
      credentials: [
        {
          id: "acme-1",
          vendor: "acme",
          secretId: "acme/key",
          baseUrl: sandbox.urls.sendgrid,
          managementSecretId: "acme/mgmt",
          rotation: { every: "90d", grace: "0s" },
        },
      ],
    }),
  );
  env = {
    ...env,
    REDIS_URL,
    KEY_ROTATOR_CONFIG: join(dir, "inventory.yaml"),
    KEY_ROTATOR_HTTP_PORT: "0",
    LOG_LEVEL: "info",
  };
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await sandbox?.close();
});

describe("a vendor added by a definition file alone", () => {
  it(
    "is checked and rotated end to end by the worker: new key current, old one revoked, nothing left over",
    { timeout: 120_000 },
    async () => {
      const check = startCli(["check-config", join(dir, "inventory.yaml"), "--json"], { env });
      expect(await check.exited, check.lines.join("\n")).toBe(0);

      const worker = startCli(["worker"], { env });
      workers.push(worker);
      await worker.waitForLine(/worker ready/, 30_000);
      const rotate = startCli(["rotate", "acme-1", "--wait", "--json", "--timeout", "60"], { env });
      expect(await rotate.exited, [...rotate.lines, ...worker.lines].join("\n")).toBe(0);

      const client = createSecretsManagerClient({
        endpoint: sandbox.urls.secretsManager,
        credentials: sandboxCredentials(env),
      });
      const current = JSON.parse(
        (await client.send(new GetSecretValueCommand({ SecretId: "acme/key" }))).SecretString ?? "{}",
      ) as { vendor: string; apiKey: string; keyId: string; replacesKeyId?: string };
      expect(current.vendor).toBe("acme");
      expect(current.keyId).not.toBe(oldKey.id);
      expect(current.replacesKeyId).toBe(oldKey.id);
      expect(sandbox.sendgrid.isKeyActive(current.keyId)).toBe(true);
      expect(sandbox.sendgrid.isKeyActive(oldKey.id)).toBe(false);
      // No key left over: of the keys made through the API, only the current one is alive.
      const alive = sandbox.sendgrid
        .keyHistory()
        .filter((k) => k.revokedAt === undefined && k.id !== SANDBOX_SENDGRID.managementKeyId);
      expect(alive.map((k) => k.id)).toEqual([current.keyId]);

      const output = [...check.lines, ...worker.lines, ...rotate.lines].join("\n");
      for (const secret of [oldKey.key, current.apiKey, SANDBOX_SENDGRID.managementKey])
        expect(output).not.toContain(secret);
    },
  );

  it("a malformed definition stops the CLI before it starts: exit 2, naming the file and the path", async () => {
    writeFileSync(
      join(dir, "bad.yaml"),
      ACME.replace('path: "/v3/api_keys/{{keyId}}"', 'path: "/v3/{{secret.token}}/{{keyId}}"'),
    );
    writeFileSync(
      join(dir, "bad-inventory.yaml"),
      JSON.stringify({
        vendorDefinitions: ["bad.yaml"],
        credentials: [
          {
            id: "a",
            vendor: "acme",
            secretId: "s",
            baseUrl: "https://x.test",
            managementSecretId: "m",
            rotation: { every: "90d" },
          },
        ],
      }),
    );
    const check = startCli(["check-config", join(dir, "bad-inventory.yaml")], {
      env: { ...env, KEY_ROTATOR_CONFIG: join(dir, "bad-inventory.yaml") },
    });
    expect(await check.exited).toBe(2);
    const out = check.lines.join("\n");
    expect(out).toContain(join(dir, "bad.yaml"));
    expect(out).toMatch(/calls\.revoke\.path: \{\{secret\.token\}\} is a secret/);
    const worker = startCli(["worker"], { env: { ...env, KEY_ROTATOR_CONFIG: join(dir, "bad-inventory.yaml") } });
    expect(await worker.exited).toBe(2);
  });
});

function sandboxCredentials(e: Record<string, string>) {
  return { accessKeyId: e.AWS_ACCESS_KEY_ID ?? "", secretAccessKey: e.AWS_SECRET_ACCESS_KEY ?? "" };
}
