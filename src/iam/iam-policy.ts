/**
 * The least-privilege IAM policy for the worker's role, from the inventory: read and stage
 * versions of exactly the credentials' secrets, tag them with the finished-marker and no other
 * tag, and only read the management-login secrets. No
 * wildcard resource beyond the six characters AWS appends to a secret's name in its ARN.
 */
import { FINISHED_TAG } from "../core/ports.js";

export interface IamPolicyInput {
  secretIds: string[];
  managementSecretIds?: string[];
  region?: string;
  accountId?: string;
}

const ROTATE_ACTIONS = [
  "secretsmanager:DescribeSecret",
  "secretsmanager:GetSecretValue",
  "secretsmanager:ListSecretVersionIds",
  "secretsmanager:PutSecretValue",
  "secretsmanager:UpdateSecretVersionStage",
];
const READ_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"];

export function secretArn(secretId: string, region = "*", accountId = "*"): string {
  if (secretId.startsWith("arn:")) return secretId;
  return `arn:aws:secretsmanager:${region}:${accountId}:secret:${secretId}-??????`;
}

export function iamPolicyFor(input: IamPolicyInput): { Version: string; Statement: object[] } {
  const arns = (ids: string[]) => [...new Set(ids)].sort().map((id) => secretArn(id, input.region, input.accountId));
  const rotate = arns(input.secretIds);
  const managementOnly = arns((input.managementSecretIds ?? []).filter((id) => !input.secretIds.includes(id)));
  const statements: object[] = [];
  if (rotate.length > 0) {
    statements.push({ Sid: "RotateCredentialSecrets", Effect: "Allow", Action: ROTATE_ACTIONS, Resource: rotate });
    statements.push({
      Sid: "MarkRotationsFinished",
      Effect: "Allow",
      Action: ["secretsmanager:TagResource"],
      Resource: rotate,
      Condition: { "ForAllValues:StringEquals": { "aws:TagKeys": [FINISHED_TAG] } },
    });
  }
  if (managementOnly.length > 0)
    statements.push({
      Sid: "ReadVendorManagementLogins",
      Effect: "Allow",
      Action: READ_ACTIONS,
      Resource: managementOnly,
    });
  return { Version: "2012-10-17", Statement: statements };
}
