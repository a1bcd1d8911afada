/**
 * Which customer-managed KMS keys encrypt the inventory's secrets, asked of Secrets Manager
 * (DescribeSecret, the caller's own AWS credentials): `iam-policy --describe`. A secret under the
 * AWS-managed key (no KmsKeyId, or alias/aws/secretsmanager) needs no KMS statement.
 */
import { DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { partitionOf } from "./iam-policy.js";

/** A key id as DescribeSecret gives it (ARN, key id, alias) as a key ARN, or a problem to report. */
export function kmsKeyArnOf(kmsKeyId: string | undefined, region: string, accountId: string): string | undefined {
  if (!kmsKeyId || kmsKeyId === "alias/aws/secretsmanager" || kmsKeyId.endsWith(":alias/aws/secretsmanager"))
    return undefined;
  if (kmsKeyId.startsWith("arn:")) return kmsKeyId;
  if (kmsKeyId.startsWith("alias/")) return `alias:${kmsKeyId}`;
  return `arn:${partitionOf(region)}:kms:${region}:${accountId}:key/${kmsKeyId}`;
}

export async function describeKmsKeys(
  client: Pick<SecretsManagerClient, "send">,
  secretIds: string[],
  region: string,
  accountId: string,
): Promise<{ keys: string[]; problems: string[] }> {
  const keys = new Set<string>();
  const problems: string[] = [];
  for (const id of [...new Set(secretIds)].sort()) {
    try {
      const out = await client.send(new DescribeSecretCommand({ SecretId: id }));
      const arn = kmsKeyArnOf(out.KmsKeyId, region, accountId);
      if (arn?.startsWith("alias:"))
        problems.push(`secret ${id}: encrypted with ${arn.slice(6)}; give that key's ARN with --kms-key`);
      else if (arn) keys.add(arn);
    } catch (err) {
      problems.push(`secret ${id}: DescribeSecret failed: ${(err as { name?: string }).name ?? "error"}`);
    }
  }
  return { keys: [...keys], problems };
}
