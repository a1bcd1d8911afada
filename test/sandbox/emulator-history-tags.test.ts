/**
 * The Secrets Manager emulator's stage history (issue 16, item 12) and its tag operations, on the
 * real HTTP server through the real AWS SDK: every label move and PutSecretValue recorded with its
 * time, in process and on `GET /__emulator/history`; UntagResource like AWS (unknown keys ignored);
 * ListSecrets returning Tags; TagResource and UntagResource outside the write quota.
 */
import {
  CreateSecretCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  DescribeSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import type { StageEvent } from "../../src/sandbox/secrets-manager/secrets-state.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

let emulator: SecretsManagerEmulator;
let now = Date.UTC(2026, 10, 23, 10, 0, 0);
beforeAll(async () => {
  emulator = await startSecretsManagerEmulator({ clock: () => now });
});
afterAll(async () => emulator.close());
const client = () => createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 });
const strip = (events: StageEvent[]) => events.map(({ seq: _seq, secret: _secret, ...rest }) => rest);

describe("Secrets Manager emulator: stage history", () => {
  it("records a rotation's put, promote and pending removal, with times, in process and over HTTP", async () => {
    const c = client();
    const t0 = now;
    const created = await c.send(new CreateSecretCommand({ Name: "hist/one", SecretString: "value-a" }));
    now += 1_000;
    const token = "11111111-2222-4333-8444-555555555555";
    await c.send(
      new PutSecretValueCommand({
        SecretId: "hist/one",
        SecretString: "value-b",
        ClientRequestToken: token,
        VersionStages: ["AWSPENDING"],
      }),
    );
    now += 1_000;
    // A retry with the same token creates nothing and moves nothing, but is recorded.
    await c.send(
      new PutSecretValueCommand({
        SecretId: "hist/one",
        SecretString: "value-b",
        ClientRequestToken: token,
        VersionStages: ["AWSPENDING"],
      }),
    );
    now += 1_000;
    await c.send(
      new UpdateSecretVersionStageCommand({
        SecretId: "hist/one",
        VersionStage: "AWSCURRENT",
        MoveToVersionId: token,
        RemoveFromVersionId: created.VersionId,
      }),
    );
    now += 1_000;
    await c.send(
      new UpdateSecretVersionStageCommand({
        SecretId: "hist/one",
        VersionStage: "AWSPENDING",
        RemoveFromVersionId: token,
      }),
    );
    const a = created.VersionId;
    const expected = [
      { at: t0, op: "CreateSecret", versionId: a, stages: ["AWSCURRENT"], created: true },
      { at: t0, op: "CreateSecret", stage: "AWSCURRENT", movedTo: a },
      { at: t0 + 1_000, op: "PutSecretValue", versionId: token, stages: ["AWSPENDING"], created: true },
      { at: t0 + 1_000, op: "PutSecretValue", stage: "AWSPENDING", movedTo: token },
      { at: t0 + 2_000, op: "PutSecretValue", versionId: token, stages: ["AWSPENDING"], created: false },
      { at: t0 + 3_000, op: "UpdateSecretVersionStage", stage: "AWSCURRENT", movedTo: token, removedFrom: a },
      { at: t0 + 3_000, op: "UpdateSecretVersionStage", stage: "AWSPREVIOUS", movedTo: a },
      { at: t0 + 4_000, op: "UpdateSecretVersionStage", stage: "AWSPENDING", removedFrom: token },
    ];
    expect(strip(emulator.history("hist/one"))).toEqual(expected);
    // By ARN too.
    expect(strip(emulator.history(created.ARN))).toEqual(expected);

    const res = await fetch(`${emulator.url}/__emulator/history?secret=${encodeURIComponent("hist/one")}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: StageEvent[] };
    expect(strip(body.events)).toEqual(expected);
    expect(body.events.every((e) => e.secret === "hist/one")).toBe(true);
    // seq orders events across secrets; no value ever appears.
    const seqs = body.events.map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(JSON.stringify(body)).not.toMatch(/value-[ab]/);
  });

  it("records AWSPREVIOUS following the replaced version, and lists every secret without a filter", async () => {
    const c = client();
    await c.send(new CreateSecretCommand({ Name: "hist/two", SecretString: "x1" }));
    const v2 = await c.send(new PutSecretValueCommand({ SecretId: "hist/two", SecretString: "x2" }));
    const v3 = await c.send(new PutSecretValueCommand({ SecretId: "hist/two", SecretString: "x3" }));
    const moves = emulator.history("hist/two").filter((e) => e.stage === "AWSPREVIOUS");
    expect(moves.at(-1)).toMatchObject({ movedTo: v2.VersionId, op: "PutSecretValue" });
    expect(moves.at(-1)?.removedFrom).not.toBeUndefined();
    expect(
      emulator
        .history("hist/two")
        .filter((e) => e.stage === "AWSCURRENT")
        .at(-1),
    ).toMatchObject({ movedTo: v3.VersionId, removedFrom: v2.VersionId });
    const all = (await (await fetch(`${emulator.url}/__emulator/history`)).json()) as { events: StageEvent[] };
    expect(new Set(all.events.map((e) => e.secret))).toEqual(new Set(["hist/one", "hist/two"]));
  });
});

describe("Secrets Manager emulator: tags", () => {
  it("UntagResource removes the named tags and ignores unknown keys; ListSecrets returns Tags", async () => {
    const c = client();
    await c.send(new CreateSecretCommand({ Name: "tags/one", SecretString: "v" }));
    await c.send(new CreateSecretCommand({ Name: "tags/two", SecretString: "v" }));
    await c.send(
      new TagResourceCommand({
        SecretId: "tags/one",
        Tags: [
          { Key: "team", Value: "voice" },
          { Key: "rotated-by", Value: "key-rotator" },
          { Key: "env", Value: "prod" },
        ],
      }),
    );
    await c.send(new UntagResourceCommand({ SecretId: "tags/one", TagKeys: ["env", "no-such-tag"] }));
    const described = await c.send(new DescribeSecretCommand({ SecretId: "tags/one" }));
    expect(described.Tags).toEqual([
      { Key: "team", Value: "voice" },
      { Key: "rotated-by", Value: "key-rotator" },
    ]);
    const listed = await c.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["tags/"] }] }));
    const byName = Object.fromEntries((listed.SecretList ?? []).map((s) => [s.Name, s.Tags]));
    expect(byName).toEqual({
      "tags/one": [
        { Key: "team", Value: "voice" },
        { Key: "rotated-by", Value: "key-rotator" },
      ],
      "tags/two": [],
    });
  });

  it("UntagResource names a bad TagKeys and an unknown secret like AWS", async () => {
    const c = client();
    await expect(c.send(new UntagResourceCommand({ SecretId: "tags/none", TagKeys: ["a"] }))).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });
    await expect(
      c.send(new UntagResourceCommand({ SecretId: "tags/one", TagKeys: undefined as unknown as string[] })),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
  });

  it("TagResource and UntagResource do not spend the write quota, and are not counted as writes", async () => {
    const c = client();
    await c.send(new CreateSecretCommand({ Name: "tags/quota", SecretString: "v" }));
    emulator.setWriteTps(1);
    emulator.resetStats();
    try {
      for (let i = 0; i < 10; i++) {
        await c.send(new TagResourceCommand({ SecretId: "tags/quota", Tags: [{ Key: "k", Value: String(i) }] }));
        await c.send(new UntagResourceCommand({ SecretId: "tags/quota", TagKeys: ["k"] }));
      }
      expect(emulator.stats()).toMatchObject({
        writes: 0,
        throttled: 0,
        calls: { TagResource: 10, UntagResource: 10 },
      });
      // The quota still binds the writes it covers: one token, the second put is throttled.
      await c.send(new PutSecretValueCommand({ SecretId: "tags/quota", SecretString: "w1" }));
      await expect(
        c.send(new PutSecretValueCommand({ SecretId: "tags/quota", SecretString: "w2" })),
      ).rejects.toMatchObject({ name: "ThrottlingException" });
    } finally {
      emulator.setWriteTps(undefined);
    }
  });
});
