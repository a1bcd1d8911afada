import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { IamInputError, iamPolicyFor, secretArn } from "../../src/iam/iam-policy.js";
import { describeKmsKeys, kmsKeyArnOf } from "../../src/iam/kms-keys.js";
import { trustPolicyFor } from "../../src/iam/trust-policy.js";
import { iamPolicyCommand } from "../../src/cli/iam-policy.command.js";

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
    expect(secretArn(arn, "eu-central-1", "123456789012")).toBe(arn);
    const policy = iamPolicyFor({
      secretIds: [],
      managementSecretIds: ["login"],
      region: "eu-central-1",
      accountId: "123456789012",
    });
    expect(JSON.stringify(policy)).not.toContain("PutSecretValue");
  });
});

describe("iamPolicyFor refuses what would grant more than the inventory", () => {
  const base = { secretIds: ["prod/cc"], region: "eu-central-1", accountId: "123456789012" };

  it.each([
    [{ secretIds: ["prod/*"] }, 'secret "prod/*" holds a wildcard'],
    [{ managementSecretIds: ["login-?"] }, 'secret "login-?" holds a wildcard'],
    [{ secretIds: ["arn:aws:secretsmanager:eu-central-1:123456789012:secret:*"] }, "holds a wildcard"],
    [{ region: "*" }, 'region "*" is not an AWS region'],
    [{ region: "" }, 'region "" is not an AWS region'],
    [{ accountId: "*" }, 'account "*" is not a 12-digit AWS account id'],
    [{ kmsKeyArns: ["alias/my-key"] }, 'KMS key "alias/my-key" is not a key ARN'],
  ])("%j", (change, message) => {
    expect(() => iamPolicyFor({ ...base, ...change })).toThrow(IamInputError);
    expect(() => iamPolicyFor({ ...base, ...change })).toThrow(message);
  });

  it("accepts an ARN the inventory gives with AWS's own six-character suffix", () => {
    const arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/cc-??????";
    expect(JSON.stringify(iamPolicyFor({ ...base, secretIds: [arn] }))).toContain(arn);
  });

  it("uses customer keys through Secrets Manager only, and names the partition of the region", () => {
    const key = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const policy = iamPolicyFor({ ...base, kmsKeyArns: [key, key] });
    expect(policy.Statement.at(-1)).toEqual({
      Sid: "UseSecretsCustomerKeys",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: [key],
      Condition: { StringEquals: { "kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com" } },
    });
    expect(JSON.stringify(iamPolicyFor({ ...base }))).not.toContain("kms:");
    expect(secretArn("x", "cn-north-1", "123456789012")).toBe(
      "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-??????",
    );
  });
});

describe("trustPolicyFor", () => {
  it("lets exactly the chart's service account assume the role", () => {
    expect(
      trustPolicyFor({
        oidcProvider: "https://oidc.eks.eu-central-1.amazonaws.com/id/ABC123",
        accountId: "123456789012",
        region: "eu-central-1",
        namespace: "platform",
        serviceAccount: "key-rotator",
      }),
    ).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "KeyRotatorServiceAccount",
          Effect: "Allow",
          Principal: {
            Federated: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/ABC123",
          },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: {
            StringEquals: {
              "oidc.eks.eu-central-1.amazonaws.com/id/ABC123:sub": "system:serviceaccount:platform:key-rotator",
              "oidc.eks.eu-central-1.amazonaws.com/id/ABC123:aud": "sts.amazonaws.com",
            },
          },
        },
      ],
    });
  });

  it("refuses a wildcard or a name Kubernetes would not take", () => {
    const ok = {
      oidcProvider: "oidc.eks.eu-central-1.amazonaws.com/id/ABC",
      accountId: "123456789012",
      region: "eu-central-1",
      namespace: "platform",
      serviceAccount: "key-rotator",
    };
    expect(() => trustPolicyFor({ ...ok, serviceAccount: "*" })).toThrow('service account "*"');
    expect(() => trustPolicyFor({ ...ok, namespace: "Platform" })).toThrow('namespace "Platform"');
    expect(() => trustPolicyFor({ ...ok, oidcProvider: "oidc.eks.*.amazonaws.com" })).toThrow("OIDC provider");
  });
});

describe("KMS keys found with DescribeSecret", () => {
  it("turns what DescribeSecret says into key ARNs, and skips the AWS-managed key", () => {
    expect(kmsKeyArnOf(undefined, "eu-central-1", "123456789012")).toBeUndefined();
    expect(kmsKeyArnOf("alias/aws/secretsmanager", "eu-central-1", "123456789012")).toBeUndefined();
    expect(kmsKeyArnOf("1234-abcd", "eu-central-1", "123456789012")).toBe(
      "arn:aws:kms:eu-central-1:123456789012:key/1234-abcd",
    );
  });

  it("asks for every secret once and reports an alias or a failure by name only", async () => {
    const asked: string[] = [];
    const client = {
      send: async (command: { input: { SecretId?: string } }) => {
        const id = command.input.SecretId ?? "";
        asked.push(id);
        if (id === "denied")
          throw Object.assign(new Error("User arn:aws:iam::1:role/x is not authorized"), {
            name: "AccessDeniedException",
          });
        if (id === "aliased") return { KmsKeyId: "alias/team-key" };
        return id === "cmk" ? { KmsKeyId: "arn:aws:kms:eu-central-1:123456789012:key/k1" } : {};
      },
    };
    const found = await describeKmsKeys(
      client as never,
      ["cmk", "plain", "cmk", "aliased", "denied"],
      "eu-central-1",
      "123456789012",
    );
    expect(asked).toEqual(["aliased", "cmk", "denied", "plain"]);
    expect(found.keys).toEqual(["arn:aws:kms:eu-central-1:123456789012:key/k1"]);
    expect(found.problems).toEqual([
      "secret aliased: encrypted with alias/team-key; give that key's ARN with --kms-key",
      "secret denied: DescribeSecret failed: AccessDeniedException",
    ]);
  });
});

describe("key-rotator iam-policy", () => {
  const inventory = () => {
    const file = join(mkdtempSync(join(tmpdir(), "kr-iam-")), "inventory.yaml");
    writeFileSync(
      file,
      [
        "credentials:",
        "  - { id: cc, vendor: callcov, secretId: prod/cc, baseUrl: 'https://api.callcov.com', managementSecretId: prod/cc-login, rotation: { every: 90d } }",
        "",
      ].join("\n"),
    );
    return file;
  };
  const runCommand = async (o: Parameters<typeof iamPolicyCommand>[1], env: NodeJS.ProcessEnv = {}) => {
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const code = await iamPolicyCommand(
      inventory(),
      o,
      { stdout: (l: string) => out.stdout.push(l), stderr: (l: string) => out.stderr.push(l) } as never,
      env,
    );
    return { code, ...out };
  };

  it("needs a region and an account, and says where it took the region from", async () => {
    expect(await runCommand({ account: "123456789012" })).toMatchObject({
      code: 2,
      stderr: ["key-rotator iam-policy: give --region (the region of the inventory's secrets), or set AWS_REGION"],
    });
    expect((await runCommand({ region: "eu-central-1" })).code).toBe(2);
    const fromEnv = await runCommand({ account: "123456789012" }, { AWS_REGION: "eu-west-1" });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stderr).toEqual(["key-rotator iam-policy: region eu-west-1, from the environment (AWS_REGION)"]);
    expect(fromEnv.stdout.join("")).toContain("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/cc-??????");
    expect(fromEnv.stdout.join("")).not.toMatch(/:\*:/);
  });

  it("adds the customer key given, and prints the trust policy for the chart's service account", async () => {
    const key = "arn:aws:kms:eu-central-1:123456789012:key/k1";
    const policy = await runCommand({ region: "eu-central-1", account: "123456789012", kmsKey: [key] });
    expect(policy.stdout.join("")).toContain(key);
    const trust = await runCommand({
      region: "eu-central-1",
      account: "123456789012",
      trust: true,
      oidcProvider: "oidc.eks.eu-central-1.amazonaws.com/id/ABC",
      namespace: "platform",
    });
    expect(trust.code).toBe(0);
    expect(trust.stdout.join("")).toContain("system:serviceaccount:platform:key-rotator");
    expect(trust.stderr.join("")).toContain("service account key-rotator");
    expect((await runCommand({ region: "eu-central-1", account: "123456789012", trust: true })).code).toBe(2);
  });
});
