/**
 * The emulator's regions, accounts and replication, through the real SDK clients: a request
 * reaches the region it is signed for and the account of the role it assumed (STS AssumeRole, by
 * the SDK's own provider); the write and read quotas are per region; replicas follow their primary
 * asynchronously, report InProgress, InSync or Failed, and refuse writes.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ReplicateSecretToRegionsCommand,
  type SecretsManagerClient,
  type SecretsManagerClientConfig,
} from "@aws-sdk/client-secrets-manager";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

const BASE = { accessKeyId: "test", secretAccessKey: "test" };
let emulator: SecretsManagerEmulator;
let now = Date.UTC(2026, 10, 30, 12);
beforeAll(async () => {
  emulator = await startSecretsManagerEmulator({ clock: () => now });
});
afterAll(async () => emulator.close());

const client = (region: string, credentials: SecretsManagerClientConfig["credentials"] = BASE): SecretsManagerClient =>
  createSecretsManagerClient({ endpoint: emulator.url, region, maxAttempts: 1, credentials });
const errorName = (p: Promise<unknown>) =>
  p.then(
    () => "no error",
    (err: { name?: string }) => err.name,
  );

describe("emulator regions and accounts", () => {
  it("keeps each region's secrets apart", async () => {
    await client("eu-west-1").send(new CreateSecretCommand({ Name: "r/only-eu", SecretString: "{}" }));
    expect(await errorName(client("us-east-1").send(new GetSecretValueCommand({ SecretId: "r/only-eu" })))).toBe(
      "ResourceNotFoundException",
    );
    const there = await client("eu-west-1").send(new DescribeSecretCommand({ SecretId: "r/only-eu" }));
    expect(there.ARN).toMatch(/^arn:aws:secretsmanager:eu-west-1:000000000000:secret:r\/only-eu-/);
  });

  it("counts the write quota per region", async () => {
    for (const region of ["us-east-2", "ap-south-1"])
      await client(region).send(new CreateSecretCommand({ Name: "r/quota", SecretString: "{}" }));
    emulator.setWriteTps(2);
    try {
      const put = (region: string) =>
        errorName(client(region).send(new PutSecretValueCommand({ SecretId: "r/quota", SecretString: "{}" })));
      expect([await put("us-east-2"), await put("us-east-2"), await put("us-east-2")]).toEqual([
        "no error",
        "no error",
        "ThrottlingException",
      ]);
      expect(await put("ap-south-1")).toBe("no error");
    } finally {
      emulator.setWriteTps(undefined);
    }
  });

  it("counts the read quotas per region (ListSecrets, 100 a second)", async () => {
    // The quota's clock stands still during the burst, so a slow machine cannot refill it.
    const clock = vi.spyOn(performance, "now").mockReturnValue(performance.now() + 10_000);
    try {
      const list = (region: string) => errorName(client(region).send(new ListSecretsCommand({ MaxResults: 1 })));
      const burst = await Promise.all(Array.from({ length: 101 }, () => list("us-west-2")));
      expect(burst.filter((r) => r === "ThrottlingException")).toHaveLength(1);
      expect(await list("eu-north-1")).toBe("no error");
    } finally {
      clock.mockRestore();
    }
  });

  it("serves an assumed role's account, and refuses a role it does not trust or a wrong external id", async () => {
    const roleArn = "arn:aws:iam::111111111111:role/key-rotator";
    emulator.trustRole(roleArn, { externalId: "ext-42" });
    emulator.stateOf("us-east-1", "111111111111").CreateSecret({ Name: "acct/secret", SecretString: '{"a":1}' });
    const assumed = (externalId: string) =>
      fromTemporaryCredentials({
        params: { RoleArn: roleArn, RoleSessionName: "key-rotator", ExternalId: externalId },
        masterCredentials: BASE,
        clientConfig: { region: "us-east-1", endpoint: emulator.url },
      });
    const other = await client("us-east-1", assumed("ext-42")).send(
      new GetSecretValueCommand({ SecretId: "acct/secret" }),
    );
    expect(other.ARN).toMatch(/:111111111111:secret:acct\/secret-/);
    expect(await errorName(client("us-east-1").send(new GetSecretValueCommand({ SecretId: "acct/secret" })))).toBe(
      "ResourceNotFoundException",
    );
    expect(
      await errorName(
        client("us-east-1", assumed("wrong")).send(new GetSecretValueCommand({ SecretId: "acct/secret" })),
      ),
    ).toMatch(/AccessDenied/);
    expect(emulator.assumedRoles()).toContainEqual({ roleArn, sessionName: "key-rotator" });
  });
});

describe("emulator replication", () => {
  const status = async (name: string) =>
    ((await client("us-east-1").send(new DescribeSecretCommand({ SecretId: name }))).ReplicationStatus ?? []).map(
      (r) => [r.Region, r.Status],
    );

  it("replicates asynchronously: InProgress, then InSync with the primary's current version", async () => {
    emulator.setReplication({ delayMs: 60_000, hold: false, failRegions: [] });
    const primary = client("us-east-1");
    const created = await primary.send(new CreateSecretCommand({ Name: "rep/a", SecretString: '{"v":1}' }));
    await primary.send(
      new ReplicateSecretToRegionsCommand({ SecretId: "rep/a", AddReplicaRegions: [{ Region: "eu-west-1" }] }),
    );
    expect(await status("rep/a")).toEqual([["eu-west-1", "InProgress"]]);
    expect(await errorName(client("eu-west-1").send(new GetSecretValueCommand({ SecretId: "rep/a" })))).toBe(
      "ResourceNotFoundException",
    );
    now += 60_000;
    expect(await status("rep/a")).toEqual([["eu-west-1", "InSync"]]);
    const replica = await client("eu-west-1").send(new GetSecretValueCommand({ SecretId: "rep/a" }));
    expect(replica.VersionId).toBe(created.VersionId);
    const described = await client("eu-west-1").send(new DescribeSecretCommand({ SecretId: "rep/a" }));
    expect(described.PrimaryRegion).toBe("us-east-1");

    // A change to the primary is InProgress again until it arrives; a write to the replica is refused.
    const put = await primary.send(new PutSecretValueCommand({ SecretId: "rep/a", SecretString: '{"v":2}' }));
    expect(await status("rep/a")).toEqual([["eu-west-1", "InProgress"]]);
    expect(
      await errorName(client("eu-west-1").send(new PutSecretValueCommand({ SecretId: "rep/a", SecretString: "{}" }))),
    ).toBe("InvalidRequestException");
    now += 60_000;
    expect((await client("eu-west-1").send(new GetSecretValueCommand({ SecretId: "rep/a" }))).VersionId).toBe(
      put.VersionId,
    );
  });

  it("holds a replica InProgress, or fails a region, on the knobs", async () => {
    const primary = client("us-east-1");
    await primary.send(new CreateSecretCommand({ Name: "rep/b", SecretString: "{}" }));
    emulator.setReplication({ delayMs: 0, hold: true, failRegions: ["ap-south-1"] });
    await primary.send(
      new ReplicateSecretToRegionsCommand({
        SecretId: "rep/b",
        AddReplicaRegions: [{ Region: "eu-west-1" }, { Region: "ap-south-1" }],
      }),
    );
    now += 3_600_000;
    expect(await status("rep/b")).toEqual([
      ["eu-west-1", "InProgress"],
      ["ap-south-1", "Failed"],
    ]);
    emulator.setReplication({ hold: false, failRegions: [] });
    expect((await status("rep/b"))[0]).toEqual(["eu-west-1", "InSync"]);
  });
});
