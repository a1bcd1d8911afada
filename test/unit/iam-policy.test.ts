import { describe, expect, it } from "vitest";
import { iamPolicyFor, secretArn } from "../../src/iam/iam-policy.js";

describe("iamPolicyFor", () => {
  it("grants rotation actions on exactly the credential secrets and reads on management logins", () => {
    const policy = iamPolicyFor({
      secretIds: ["prod/cc", "prod/jc", "prod/cc"],
      managementSecretIds: ["prod/cc-login"],
      region: "eu-central-1",
      accountId: "123456789012",
    });
    expect(policy.Statement).toEqual([
      {
        Sid: "RotateCredentialSecrets",
        Effect: "Allow",
        Action: [
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:ListSecretVersionIds",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ],
        Resource: [
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/cc-??????",
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/jc-??????",
        ],
      },
      {
        // The finished-marker is a tag: this one tag and no other.
        Sid: "MarkRotationsFinished",
        Effect: "Allow",
        Action: ["secretsmanager:TagResource"],
        Resource: [
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/cc-??????",
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/jc-??????",
        ],
        Condition: { "ForAllValues:StringEquals": { "aws:TagKeys": ["key-rotator:finished"] } },
      },
      {
        Sid: "ReadVendorManagementLogins",
        Effect: "Allow",
        Action: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        Resource: ["arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/cc-login-??????"],
      },
    ]);
    expect(JSON.stringify(policy)).not.toMatch(/"Resource":"\*"|"\*"\]/);
  });

  it("uses an ARN as given and never grants a write on a management login", () => {
    const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf";
    expect(secretArn(arn)).toBe(arn);
    const policy = iamPolicyFor({ secretIds: [], managementSecretIds: ["login"] });
    expect(JSON.stringify(policy)).not.toContain("PutSecretValue");
  });
});
