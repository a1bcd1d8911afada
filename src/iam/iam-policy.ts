/**
 * The least-privilege IAM policy for the worker's role, from the inventory: read and stage
 * versions of exactly the credentials' secrets, tag them with the finished-marker and no other
 * tag, only read the management-login secrets, and use the customer-managed KMS keys they are
 * encrypted with, through Secrets Manager only. No wildcard beyond the six characters AWS appends
 * to a secret's name in its ARN: a secret id with `*` or `?`, or a missing region or account, is an
 * error (IamInputError), never a broader grant.
 */
import { FINISHED_TAG } from "../core/ports.js";

export interface IamPolicyInput {
  secretIds: string[];
  managementSecretIds?: string[];
  region: string;
  accountId: string;
  /** Customer-managed KMS key ARNs that encrypt any of the secrets above. */
  kmsKeyArns?: string[];
}

/** An input that would make the policy broader than the inventory: names what and why. */
export class IamInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
    this.name = "IamInputError";
  }
}

const ROTATE_ACTIONS = [
  "secretsmanager:DescribeSecret",
  "secretsmanager:GetSecretValue",
  "secretsmanager:ListSecretVersionIds",
  "secretsmanager:PutSecretValue",
  "secretsmanager:UpdateSecretVersionStage",
];
const READ_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"];
/** Reading a secret decrypts it; PutSecretValue encrypts a new version under a data key. */
const KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"];

export const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$/;
export const ACCOUNT = /^[0-9]{12}$/;

/** The ARN partition of a region: aws, aws-cn, aws-us-gov. */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

export function secretArn(secretId: string, region: string, accountId: string): string {
  if (secretId.startsWith("arn:")) return secretId;
  return `arn:${partitionOf(region)}:secretsmanager:${region}:${accountId}:secret:${secretId}-??????`;
}

/** Every reason the input would grant more than its secrets (wildcards, no region or account). */
export function iamInputProblems(input: IamPolicyInput): string[] {
  const problems: string[] = [];
  if (!REGION.test(input.region)) problems.push(`region "${input.region}" is not an AWS region such as eu-central-1`);
  if (!ACCOUNT.test(input.accountId)) problems.push(`account "${input.accountId}" is not a 12-digit AWS account id`);
  const ids = [...input.secretIds, ...(input.managementSecretIds ?? [])];
  for (const id of new Set(ids))
    if (/[*?]/.test(id.startsWith("arn:") ? id.replace(/-\?{6}$/, "") : id))
      problems.push(`secret "${id}" holds a wildcard: it would grant every secret it matches; list each secret`);
  for (const arn of input.kmsKeyArns ?? [])
    if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[A-Za-z0-9-]+$/.test(arn))
      problems.push(`KMS key "${arn}" is not a key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias)`);
  return problems;
}

export function iamPolicyFor(input: IamPolicyInput): { Version: string; Statement: object[] } {
  const problems = iamInputProblems(input);
  if (problems.length > 0) throw new IamInputError(problems);
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
  const keys = [...new Set(input.kmsKeyArns ?? [])].sort();
  if (keys.length > 0)
    statements.push({
      Sid: "UseSecretsCustomerKeys",
      Effect: "Allow",
      Action: KMS_ACTIONS,
      Resource: keys,
      // Only as Secrets Manager's caller: the role cannot decrypt anything else with these keys.
      Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${input.region}.amazonaws.com` } },
    });
  return { Version: "2012-10-17", Statement: statements };
}
