/** `key-rotator iam-policy <inventory>`: prints the worker role's least-privilege IAM policy (JSON). */
import { loadInventory } from "../config/load-inventory.js";
import { iamPolicyFor } from "../iam/iam-policy.js";
import { EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export async function iamPolicyCommand(
  file: string,
  o: { region?: string; account?: string },
  out: Out,
): Promise<number> {
  if (o.account !== undefined && !/^[0-9]{12}$/.test(o.account)) {
    out.stderr(`key-rotator iam-policy: --account must be a 12-digit AWS account id, got "${o.account}"`);
    return EXIT_USAGE;
  }
  const inventory = await loadInventory(file);
  const policy = iamPolicyFor({
    secretIds: inventory.credentials.map((c) => c.secretId),
    managementSecretIds: inventory.credentials.flatMap((c) => (c.vendor === "callcov" ? [c.managementSecretId] : [])),
    ...(o.region ? { region: o.region } : {}),
    ...(o.account ? { accountId: o.account } : {}),
  });
  out.stdout(JSON.stringify(policy, null, 2));
  return EXIT_OK;
}
