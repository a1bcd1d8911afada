/**
 * The emulator's ListSecrets and BatchGetSecretValue through the real AWS SDK client: AWS's
 * filters (prefix, case, negation, tags), pages that a filter leaves short or empty, opaque tokens,
 * the documented limits and error types, per-secret Errors, and the 100-a-second quotas.
 */
import {
  BatchGetSecretValueCommand,
  type BatchGetSecretValueCommandInput,
  CreateSecretCommand,
  DeleteSecretCommand,
  ListSecretsCommand,
  type ListSecretsCommandInput,
  type SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

let emulator: SecretsManagerEmulator;
let client: SecretsManagerClient;
beforeAll(async () => {
  emulator = await startSecretsManagerEmulator();
  client = createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 });
  for (let i = 0; i < 30; i++)
    await client.send(new CreateSecretCommand({ Name: `team-a/svc-${i}`, SecretString: `{"i":${i}}` }));
  for (let i = 0; i < 5; i++)
    await client.send(
      new CreateSecretCommand({ Name: `team-b/svc-${i}`, SecretString: "{}", Description: "Billing Keys" }),
    );
  await client.send(new CreateSecretCommand({ Name: "Team-a/upper", SecretString: "{}" }));
  await client.send(new TagResourceCommand({ SecretId: "team-b/svc-0", Tags: [{ Key: "owner", Value: "payments" }] }));
  await client.send(new DeleteSecretCommand({ SecretId: "team-a/svc-29", RecoveryWindowInDays: 7 }));
});
afterAll(async () => {
  client.destroy();
  await emulator.close();
});

async function listAll(input: ListSecretsCommandInput): Promise<{ names: string[]; pages: number; empty: number }> {
  const names: string[] = [];
  let pages = 0;
  let empty = 0;
  let NextToken: string | undefined;
  do {
    const out = await client.send(new ListSecretsCommand({ ...input, NextToken }));
    pages += 1;
    if ((out.SecretList ?? []).length === 0) empty += 1;
    names.push(...(out.SecretList ?? []).map((s) => s.Name ?? ""));
    NextToken = out.NextToken;
  } while (NextToken);
  return { names, pages, empty };
}

describe("ListSecrets", () => {
  it("a name filter is a case-sensitive prefix; a filtered page may be short or empty and still go on", async () => {
    const { names, pages, empty } = await listAll({ Filters: [{ Key: "name", Values: ["team-b/"] }], MaxResults: 5 });
    expect(names).toEqual(["team-b/svc-0", "team-b/svc-1", "team-b/svc-2", "team-b/svc-3", "team-b/svc-4"]);
    // 36 secrets in windows of 5: the team-a windows come back empty, with a NextToken.
    expect(pages).toBe(8);
    expect(empty).toBeGreaterThan(0);
    expect((await listAll({ Filters: [{ Key: "name", Values: ["Team-a/"] }] })).names).toEqual(["Team-a/upper"]);
  });

  it("leaves out secrets planned for deletion unless asked; values of a filter are alternatives, `!` negates", async () => {
    const a = await listAll({ Filters: [{ Key: "name", Values: ["team-a/"] }] });
    expect(a.names).toHaveLength(29);
    expect(a.names).not.toContain("team-a/svc-29");
    const planned = await listAll({
      Filters: [{ Key: "name", Values: ["team-a/svc-2"] }],
      IncludePlannedDeletion: true,
    });
    expect(planned.names).toContain("team-a/svc-29");
    const either = await listAll({ Filters: [{ Key: "name", Values: ["team-a/svc-1", "team-b/svc-1"] }] });
    expect(either.names.sort()).toEqual([
      "team-a/svc-1",
      "team-a/svc-10",
      "team-a/svc-11",
      "team-a/svc-12",
      "team-a/svc-13",
      "team-a/svc-14",
      "team-a/svc-15",
      "team-a/svc-16",
      "team-a/svc-17",
      "team-a/svc-18",
      "team-a/svc-19",
      "team-b/svc-1",
    ]);
    const not = await listAll({ Filters: [{ Key: "name", Values: ["team-b/", "!team-b/svc-0"] }] });
    expect(not.names).toEqual(["team-b/svc-1", "team-b/svc-2", "team-b/svc-3", "team-b/svc-4"]);
  });

  it("filters on tags and (not case-sensitive) description; filters together must all match", async () => {
    expect((await listAll({ Filters: [{ Key: "tag-value", Values: ["pay"] }] })).names).toEqual(["team-b/svc-0"]);
    expect((await listAll({ Filters: [{ Key: "description", Values: ["billing"] }] })).names).toHaveLength(5);
    const both = await listAll({
      Filters: [
        { Key: "description", Values: ["billing"] },
        { Key: "tag-key", Values: ["own"] },
      ],
    });
    expect(both.names).toEqual(["team-b/svc-0"]);
    expect((await listAll({ Filters: [{ Key: "all", Values: ["payments"] }] })).names).toEqual(["team-b/svc-0"]);
  });

  it("entries carry stages and tags, never a value; SortOrder desc reverses", async () => {
    const out = await client.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["team-b/svc-0"] }] }));
    const entry = out.SecretList?.[0];
    expect(Object.values(entry?.SecretVersionsToStages ?? {})).toEqual([["AWSCURRENT"]]);
    expect(entry?.Tags).toEqual([{ Key: "owner", Value: "payments" }]);
    expect(JSON.stringify(out)).not.toContain("SecretString");
    const desc = await listAll({ Filters: [{ Key: "name", Values: ["team-b/"] }], SortOrder: "desc" });
    expect(desc.names[0]).toBe("team-b/svc-4");
  });

  it("refuses out-of-range MaxResults, unknown filter keys, bad values and foreign tokens with AWS's error types", async () => {
    const err = (input: ListSecretsCommandInput) =>
      client.send(new ListSecretsCommand(input)).then(
        () => "ok",
        (e: Error) => e.name,
      );
    expect(await err({ MaxResults: 101 })).toBe("ValidationException");
    expect(await err({ MaxResults: 0 })).toBe("ValidationException");
    expect(await err({ Filters: [{ Key: "nope" as "name", Values: ["x"] }] })).toBe("ValidationException");
    expect(await err({ Filters: [{ Key: "name", Values: ["a*b"] }] })).toBe("ValidationException");
    expect(await err({ Filters: [{ Key: "name", Values: [] }] })).toBe("ValidationException");
    expect(await err({ NextToken: "garbage" })).toBe("InvalidNextTokenException");
    const first = await client.send(new ListSecretsCommand({ MaxResults: 2 }));
    expect(first.NextToken).toBeTruthy();
    // A token belongs to the request that made it.
    expect(
      await err({ MaxResults: 2, NextToken: first.NextToken, Filters: [{ Key: "name", Values: ["team-b/"] }] }),
    ).toBe("InvalidNextTokenException");
  });
});

describe("BatchGetSecretValue", () => {
  it("reads up to 20 secrets by name or ARN; a missing or deleted one is an entry of Errors", async () => {
    const arn = (await client.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["team-a/svc-3"] }] })))
      .SecretList?.[0]?.ARN as string;
    const out = await client.send(
      new BatchGetSecretValueCommand({ SecretIdList: ["team-a/svc-1", arn, "team-a/svc-29", "no/such"] }),
    );
    expect(out.SecretValues?.map((v) => [v.Name, v.SecretString, v.VersionStages])).toEqual([
      ["team-a/svc-1", '{"i":1}', ["AWSCURRENT"]],
      ["team-a/svc-3", '{"i":3}', ["AWSCURRENT"]],
    ]);
    expect(out.SecretValues?.[0]?.CreatedDate).toBeInstanceOf(Date);
    expect(out.Errors?.map((e) => [e.SecretId, e.ErrorCode])).toEqual([
      ["team-a/svc-29", "InvalidRequestException"],
      ["no/such", "ResourceNotFoundException"],
    ]);
  });

  it("pages through Filters with MaxResults up to 20", async () => {
    const names: string[] = [];
    let NextToken: string | undefined;
    let calls = 0;
    do {
      const out = await client.send(
        new BatchGetSecretValueCommand({ Filters: [{ Key: "name", Values: ["team-a/"] }], MaxResults: 20, NextToken }),
      );
      calls += 1;
      names.push(...(out.SecretValues ?? []).map((v) => v.Name ?? ""));
      NextToken = out.NextToken;
    } while (NextToken);
    expect(names).toHaveLength(29);
    expect(calls).toBe(2);
  });

  it("takes SecretIdList or Filters, not both nor neither, at most 20 ids, MaxResults only with Filters", async () => {
    const err = (input: BatchGetSecretValueCommandInput) =>
      client.send(new BatchGetSecretValueCommand(input)).then(
        () => "ok",
        (e: Error) => e.name,
      );
    expect(await err({})).toBe("InvalidParameterException");
    expect(await err({ SecretIdList: ["a"], Filters: [{ Key: "name", Values: ["a"] }] })).toBe(
      "InvalidParameterException",
    );
    expect(await err({ SecretIdList: Array.from({ length: 21 }, (_, i) => `team-a/svc-${i}`) })).toBe(
      "ValidationException",
    );
    expect(await err({ SecretIdList: ["team-a/svc-1"], MaxResults: 5 })).toBe("InvalidParameterException");
    expect(await err({ Filters: [{ Key: "name", Values: ["team-a/"] }], MaxResults: 21 })).toBe("ValidationException");
  });

  it("throttles beyond 100 calls a second, ListSecrets and BatchGetSecretValue each, and counts calls by operation", async () => {
    await new Promise((r) => setTimeout(r, 1_100)); // a full bucket
    emulator.resetStats();
    // The quota's clock stands still during the burst, so a slow machine cannot refill it.
    const clock = vi.spyOn(performance, "now").mockReturnValue(performance.now());
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: Error) => e.name,
      );
    const burst = (n: number, send: () => Promise<unknown>) =>
      Promise.all(Array.from({ length: n }, () => outcome(send())));
    const [batch, list] = await Promise.all([
      burst(130, () => client.send(new BatchGetSecretValueCommand({ SecretIdList: ["team-a/svc-1"] }))),
      burst(120, () => client.send(new ListSecretsCommand({ MaxResults: 1 }))),
    ]).finally(() => clock.mockRestore());
    expect(batch.filter((r) => r === "ok")).toHaveLength(100);
    expect(batch.filter((r) => r === "ThrottlingException")).toHaveLength(30);
    expect(list.filter((r) => r === "ok")).toHaveLength(100);
    expect(list.filter((r) => r === "ThrottlingException")).toHaveLength(20);
    expect(emulator.stats().calls.BatchGetSecretValue).toBe(130);
    expect(emulator.stats().calls.ListSecrets).toBe(120);
    expect(emulator.stats().throttled).toBe(50);
  });
});
