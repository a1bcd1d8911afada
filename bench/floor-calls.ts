/**
 * The emergency floor's calls: what an emergency rotation of one CallCov credential must ask the
 * store and the vendor, in sequence, with the worker's clients, up to the old key's revocation
 * and the confirming check. Used from the floor's own process and from the bench's.
 */
import { SecretValue } from "../src/core/secret.js";
import { parseStoredValue, vendorSecretOf } from "../test/support/stored-values.js";
import { SANDBOX_LOGIN } from "../src/sandbox/sandbox.js";
import { AwsSecretStore, createSecretsManagerClient } from "../src/store/aws-secret-store.js";
import { CallCovVendor } from "../test/support/seed-vendors.js";

export function floorClients(secretsManagerUrl: string, callcovUrl: string) {
  const client = createSecretsManagerClient({ endpoint: secretsManagerUrl });
  const store = new AwsSecretStore(client);
  const vendor = new CallCovVendor({
    baseUrl: callcovUrl,
    mode: "live",
    loadLogin: async () => ({ email: SANDBOX_LOGIN.email, password: new SecretValue(SANDBOX_LOGIN.password) }),
  });
  return {
    async run(c: { id: string; secretId: string }): Promise<void> {
      await store.listVersions(c.secretId);
      const current = await store.read(c.secretId, { stage: "AWSCURRENT" });
      const old = parseStoredValue(current.value, "floor");
      const rotationId = crypto.randomUUID();
      const created = await vendor.createKey(`key-rotator/${c.id}/${rotationId}`);
      await store.putPending(
        c.secretId,
        rotationId,
        new SecretValue(JSON.stringify({ vendor: "callcov", apiKey: created.key.reveal(), keyId: created.keyId })),
      );
      const pending = parseStoredValue((await store.read(c.secretId, { versionId: rotationId })).value, "floor");
      await vendor.verify(vendorSecretOf(pending));
      await store.promote(c.secretId, rotationId, current.versionId);
      await vendor.revokeKey(String(old.keyId));
      await vendor.verify(vendorSecretOf(old));
    },
    close: () => client.destroy(),
  };
}
