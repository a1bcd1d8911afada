// iam-policy for a fleet across regions and accounts: one policy per principal, each naming exactly
// the secrets in its account, by region; the worker may assume exactly the roles the inventory names.
import { describe, expect, it } from "vitest";
import { inventorySchema } from "../../src/config/inventory-schema.js";
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
const runtime = (credentials: object[]) => toRuntime(inventorySchema.parse({ credentials })).credentials;
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
});
