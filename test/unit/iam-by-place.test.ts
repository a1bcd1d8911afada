// iam-policy for a fleet across regions and accounts: one policy per principal, each naming exactly
// the secrets in its account, by region; the worker may assume exactly the roles the inventory names.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { iamPolicyCommand } from "../../src/cli/iam-policy.command.js";
import { builtInInventorySchema } from "../../src/config/inventory-schema.js";
import { toRuntime } from "../../src/config/load-runtime.js";
import { policiesByPlace, spansPlaces } from "../../src/iam/policies-by-place.js";

const ROLE = "arn:aws:iam::222222222222:role/key-rotator";
const credential = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  vendor: "callcov",
  secretId: `prod/${id}`,
  baseUrl: "https://api.callcov.com",
  managementSecretId: `prod/${id}-login`,
  rotation: { every: "90d" },
  ...extra,
});
const runtime = (credentials: object[]) => toRuntime(builtInInventorySchema().parse({ credentials })).credentials;
type Statement = { Sid: string; Action: string[]; Resource: string[] };
const resources = (statements: object[]) => (statements as Statement[]).flatMap((s) => s.Resource);

describe("IAM policies by place", () => {
  it("keeps the one-policy form for a fleet in one region and account", () => {
    expect(spansPlaces(runtime([credential("a"), credential("b")]))).toBe(false);
  });

  it("gives the worker its own account's secrets in each region, and the roles theirs", () => {
    const credentials = runtime([
      credential("home"),
      credential("eu", { region: "eu-west-1" }),
      credential("other", { roleArn: ROLE, externalId: "x-1", region: "ap-southeast-2" }),
    ]);
    expect(spansPlaces(credentials)).toBe(true);
    const p = policiesByPlace(credentials, { region: "us-east-1", accountId: "111111111111" });
    const worker = resources(p.worker.Statement);
    expect(worker).toContain("arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/home-??????");
    expect(worker).toContain("arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/eu-??????");
    expect(worker).toContain("arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/eu-login-??????");
    expect(worker.some((r) => r.includes("prod/other"))).toBe(false);
    expect(p.worker.Statement).toContainEqual({
      Sid: "AssumeCredentialRoles",
      Effect: "Allow",
      Action: ["sts:AssumeRole"],
      Resource: [ROLE],
    });
    const role = resources(p.roles[ROLE]?.Statement ?? []);
    expect(role).toEqual(
      expect.arrayContaining([
        "arn:aws:secretsmanager:ap-southeast-2:222222222222:secret:prod/other-??????",
        "arn:aws:secretsmanager:ap-southeast-2:222222222222:secret:prod/other-login-??????",
      ]),
    );
    expect(role.every((r) => r.includes(":222222222222:"))).toBe(true);
    const sids = (p.worker.Statement as Statement[]).map((s) => s.Sid);
    expect(new Set(sids).size).toBe(sids.length);
    expect(sids.every((s) => /^[A-Za-z0-9]+$/.test(s))).toBe(true);
  });

  it("grants each credential's own KMS key where its secret lives, only through Secrets Manager", () => {
    const euKey = "arn:aws:kms:eu-west-1:111111111111:key/eu-1";
    const roleKey = "arn:aws:kms:us-east-1:222222222222:key/r-1";
    const p = policiesByPlace(
      runtime([
        credential("eu", { region: "eu-west-1", kmsKeyArn: euKey }),
        credential("other", { roleArn: ROLE, kmsKeyArn: roleKey }),
      ]),
      { region: "us-east-1", accountId: "111111111111" },
    );
    const kms = (statements: object[]) =>
      (statements as Array<Statement & { Condition?: { StringEquals?: Record<string, string> } }>).filter((s) =>
        s.Action.includes("kms:Decrypt"),
      );
    expect(kms(p.worker.Statement)).toEqual([
      expect.objectContaining({
        Resource: [euKey],
        Condition: { StringEquals: { "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com" } },
      }),
    ]);
    expect(kms(p.roles[ROLE]?.Statement ?? []).flatMap((s) => s.Resource)).toEqual([roleKey]);
  });

  it("refuses a KMS key that is not a key ARN, naming the credential's field", () => {
    const parsed = builtInInventorySchema().safeParse({
      credentials: [credential("a", { kmsKeyArn: "alias/aws/secretsmanager" })],
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues.map((i) => i.path))).toContain("kmsKeyArn");
  });

  it("iam-policy adds a credential's kmsKeyArn in the one-place form too", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kr-iam-kms-")), "inventory.yaml");
    const key = "arn:aws:kms:eu-central-1:123456789012:key/own-1";
    writeFileSync(
      file,
      `credentials:\n  - { id: cc, vendor: callcov, secretId: prod/cc, baseUrl: 'https://api.callcov.com', managementSecretId: prod/cc-login, kmsKeyArn: '${key}', rotation: { every: 90d } }\n`,
    );
    const out: string[] = [];
    const code = await iamPolicyCommand(
      file,
      { region: "eu-central-1", account: "123456789012" },
      { stdout: (l: string) => out.push(l), stderr: () => undefined } as never,
      {},
    );
    expect(code).toBe(0);
    expect(out.join("")).toContain(key);
  });
});
