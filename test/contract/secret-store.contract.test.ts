/**
 * The SecretStore contract, run over every implementation: today the AWS SDK adapter against the
 * emulator over real HTTP, and the in-memory fake the unit tests use (so the fake cannot drift).
 */
import { CreateSecretCommand, DeleteSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidStateError, StoreError, SupersededError } from "../../src/core/errors.js";
import type { SecretStore } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { AwsSecretStore, createSecretsManagerClient } from "../../src/store/aws-secret-store.js";
import { FakeStore } from "../support/fake-ports.js";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

const VALUE = '{"apiKey":"sk_live_contractsecretvalue"}';
const T1 = "00000000-0000-4000-a000-000000000001";
const T2 = "00000000-0000-4000-a000-000000000002";

interface Harness {
  store: SecretStore;
  /** Creates a secret whose AWSCURRENT is `v0` holding VALUE; returns its id. */
  create(name: string): Promise<{ secretId: string; v0: string }>;
  deleteSecret(secretId: string): Promise<void>;
}

let emulator: SecretsManagerEmulator;
beforeAll(async () => {
  emulator = await startSecretsManagerEmulator();
});
afterAll(async () => emulator.close());

const implementations: Array<[string, () => Harness]> = [
  [
    "AwsSecretStore on the emulator",
    () => {
      const client = createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 });
      return {
        store: new AwsSecretStore(client),
        async create(name) {
          const out = await client.send(
            new CreateSecretCommand({
              Name: name,
              SecretString: VALUE,
              ClientRequestToken: "00000000-0000-4000-a000-0000000000v0".replace("v0", "00"),
            }),
          );
          return { secretId: name, v0: out.VersionId ?? "" };
        },
        async deleteSecret(secretId) {
          await client.send(new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: 7 }));
        },
      };
    },
  ],
  [
    "FakeStore",
    () => {
      const fake = new FakeStore([]);
      return {
        store: fake,
        async create(name) {
          fake.seed(name, "v0", VALUE);
          return { secretId: name, v0: "v0" };
        },
        async deleteSecret(secretId) {
          fake.secrets.delete(secretId);
        },
      };
    },
  ],
];

describe.each(implementations)("SecretStore contract: %s", (_name, make) => {
  let n = 0;
  const fresh = async () => {
    const h = make();
    const created = await h.create(`contract/secret-${Date.now()}-${n++}`);
    return { ...h, ...created };
  };

  it("putPending is idempotent for the same token and value: one version", async () => {
    const h = await fresh();
    expect(await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'))).toBe(T1);
    expect(await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'))).toBe(T1);
    const versions = await h.store.listVersions(h.secretId);
    expect(versions.map((v) => [v.versionId, v.stages]).sort()).toEqual(
      [
        [h.v0, ["AWSCURRENT"]],
        [T1, ["AWSPENDING"]],
      ].sort(),
    );
  });

  it("the same token with another value is refused and changes nothing", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    const err = await h.store
      .putPending(h.secretId, T1, new SecretValue('{"n":2,"secret":"sk_live_mustnotleak"}'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidStateError);
    expect((err as Error).message).not.toContain("mustnotleak");
    expect((await h.store.read(h.secretId, { versionId: T1 })).value.reveal()).toBe('{"n":1}');
  });

  it("promote moves AWSCURRENT and labels the old version AWSPREVIOUS; twice is a no-op", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.promote(h.secretId, T1, h.v0);
    await h.store.promote(h.secretId, T1, h.v0);
    const stages = Object.fromEntries(
      (await h.store.listVersions(h.secretId)).map((v) => [v.versionId, [...v.stages].sort()]),
    );
    expect(stages[T1]).toEqual(["AWSCURRENT", "AWSPENDING"]);
    expect(stages[h.v0]).toEqual(["AWSPREVIOUS"]);
    expect((await h.store.read(h.secretId, { stage: "AWSCURRENT" })).versionId).toBe(T1);
  });

  it("promote from a version that no longer holds AWSCURRENT moves nothing and says it was superseded", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.promote(h.secretId, T1, h.v0);
    await h.store.putPending(h.secretId, T2, new SecretValue('{"n":2}'));
    await expect(h.store.promote(h.secretId, T2, h.v0)).rejects.toBeInstanceOf(SupersededError);
    expect((await h.store.read(h.secretId, { stage: "AWSCURRENT" })).versionId).toBe(T1);
    // Without a version to move from, the current holder is looked up.
    await h.store.promote(h.secretId, T2);
    expect((await h.store.read(h.secretId, { stage: "AWSCURRENT" })).versionId).toBe(T2);
    expect((await h.store.read(h.secretId, { stage: "AWSPREVIOUS" })).versionId).toBe(T1);
  });

  it("the finished-marker is kept on the secret, replaced by a later one, and absent at first", async () => {
    const h = await fresh();
    expect(await h.store.finishedRotation(h.secretId)).toBeUndefined();
    await h.store.markFinished(h.secretId, T1);
    await h.store.markFinished(h.secretId, T2);
    expect(await h.store.finishedRotation(h.secretId)).toBe(T2);
  });

  it("removePending unstages a pending version and is safe to repeat", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.removePending(h.secretId, T1);
    await h.store.removePending(h.secretId, T1);
    const pending = (await h.store.listVersions(h.secretId)).filter((v) => v.stages.includes("AWSPENDING"));
    expect(pending).toEqual([]);
    expect((await h.store.read(h.secretId, { stage: "AWSCURRENT" })).versionId).toBe(h.v0);
  });

  // The due check derives a rotation id from every version; a rolled-back version that went
  // unlisted gave the next attempt the same id, and the credential was never rotated again.
  it("listVersions lists a version left with no stage (rolled back)", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.removePending(h.secretId, T1);
    const versions = await h.store.listVersions(h.secretId);
    expect(versions.map((v) => [v.versionId, v.stages]).sort()).toEqual(
      [
        [h.v0, ["AWSCURRENT"]],
        [T1, []],
      ].sort(),
    );
  });

  it("reads by stage and by version id", async () => {
    const h = await fresh();
    await h.store.putPending(h.secretId, T1, new SecretValue('{"n":1}'));
    expect((await h.store.read(h.secretId, { stage: "AWSPENDING" })).versionId).toBe(T1);
    expect((await h.store.read(h.secretId, { versionId: h.v0 })).value.reveal()).toBe(VALUE);
    await expect(h.store.read(h.secretId, { versionId: T2 })).rejects.toBeInstanceOf(InvalidStateError);
  });

  it("listSecrets lists the secrets under a prefix with their stages and the finished-marker, not deleted ones", async () => {
    const prefix = `contract/list-${Date.now()}-${n++}/`;
    const h = make();
    const a = await h.create(`${prefix}a`);
    const b = await h.create(`${prefix}b`);
    const gone = await h.create(`${prefix}gone`);
    await h.create(`contract/elsewhere-${Date.now()}-${n++}`);
    await h.store.putPending(a.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.markFinished(b.secretId, T2);
    await h.deleteSecret(gone.secretId);
    const listed = await h.store.listSecrets([prefix]);
    expect(listed.map((s) => s.name).sort()).toEqual([a.secretId, b.secretId]);
    const byName = new Map(listed.map((s) => [s.name, s]));
    expect(byName.get(a.secretId)?.stages).toEqual({ [a.v0]: ["AWSCURRENT"], [T1]: ["AWSPENDING"] });
    expect(byName.get(b.secretId)?.tags["key-rotator:finished"]).toBe(T2);
    expect(byName.get(a.secretId)?.arn).toBeTruthy();
  });

  it("listSecretsPage reads the listing in name order a page at a time; a page's token reads on from there later; another listing's token is refused", async () => {
    const prefix = `contract/pages-${Date.now()}-${n++}/`;
    const h = make();
    const page = h.store.listSecretsPage?.bind(h.store);
    if (!page) throw new Error("the store cannot page its listing");
    // Made out of name order.
    for (const i of [3, 0, 104, 1, 2, 101, 100, 103, 102]) await h.create(`${prefix}${String(i).padStart(3, "0")}`);
    const names: string[] = [];
    const tokens: Array<string | undefined> = [];
    let token: string | undefined;
    do {
      tokens.push(token);
      const read = await page([prefix], token);
      names.push(...read.secrets.map((s) => s.name));
      token = read.next;
    } while (token);
    expect(names).toEqual([...names].sort());
    expect(names.map((s) => s.slice(prefix.length))).toEqual([
      "000",
      "001",
      "002",
      "003",
      "100",
      "101",
      "102",
      "103",
      "104",
    ]);
    // The last page read again from its token (as a shard would): the same secrets.
    const last = await page([prefix], tokens.at(-1));
    expect(last.secrets.length).toBeGreaterThan(0);
    expect(names).toEqual(expect.arrayContaining(last.secrets.map((s) => s.name)));
    if (tokens.length > 1) await expect(page([`${prefix}0`], tokens[1])).rejects.toBeInstanceOf(StoreError);
  });

  it("readCurrent reads the current version of many secrets; a missing or deleted one is a failure of its own", async () => {
    const prefix = `contract/batch-${Date.now()}-${n++}/`;
    const h = make();
    const made = [];
    for (let i = 0; i < 23; i++) made.push(await h.create(`${prefix}${i}`));
    const first = made[0] as { secretId: string; v0: string };
    await h.store.putPending(first.secretId, T1, new SecretValue('{"n":1}'));
    await h.store.promote(first.secretId, T1, first.v0);
    const deleted = made[1] as { secretId: string };
    await h.deleteSecret(deleted.secretId);
    const ids = [...made.map((m) => m.secretId), `${prefix}never-made`];
    const out = await h.store.readCurrent(ids);
    expect(out.read.size).toBe(22);
    expect(out.read.get(first.secretId)?.versionId).toBe(T1);
    expect(out.read.get(first.secretId)?.value.reveal()).toBe('{"n":1}');
    expect(out.read.get(first.secretId)?.stages).toContain("AWSCURRENT");
    expect(out.read.get((made[2] as { secretId: string }).secretId)?.value.reveal()).toBe(VALUE);
    expect(out.failed.get(deleted.secretId)).toBeInstanceOf(InvalidStateError);
    expect(out.failed.get(`${prefix}never-made`)).toBeInstanceOf(InvalidStateError);
  });

  it("a deleted or unknown secret is an InvalidStateError naming the secret", async () => {
    const h = await fresh();
    await h.deleteSecret(h.secretId);
    const err = await h.store.listVersions(h.secretId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidStateError);
    expect((err as Error).message).toContain(h.secretId);
    await expect(h.store.read("contract/never-made", { stage: "AWSCURRENT" })).rejects.toBeInstanceOf(
      InvalidStateError,
    );
  });
});

describe("AwsSecretStore faults from the emulator", () => {
  it("a throttled write is a retryable StoreError, without the value in its message", async () => {
    const client = createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 });
    const store = new AwsSecretStore(client);
    await client.send(new CreateSecretCommand({ Name: "contract/throttle", SecretString: VALUE }));
    emulator.faults.add({ kind: "rate-limit", match: "PutSecretValue", count: 1 });
    const err = await store
      .putPending("contract/throttle", T1, new SecretValue("sk_live_neverinmessages"))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).retryable).toBe(true);
    expect((err as StoreError).awsType).toBe("ThrottlingException");
    expect((err as Error).message).not.toContain("neverinmessages");
  });

  it("the write quota throttles beyond its rate and the SDK's retries get through", async () => {
    const client = createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 5 });
    const store = new AwsSecretStore(client);
    await client.send(new CreateSecretCommand({ Name: "contract/quota", SecretString: VALUE }));
    emulator.resetStats();
    emulator.setWriteTps(2);
    try {
      for (let i = 0; i < 4; i++)
        await store.putPending(
          "contract/quota",
          `00000000-0000-4000-a000-00000000010${i}`,
          new SecretValue(`{"i":${i}}`),
        );
    } finally {
      emulator.setWriteTps(undefined);
    }
    expect(emulator.stats().throttled).toBeGreaterThan(0);
    expect(emulator.stats().writes).toBe(4);
  });

  it("a 500 is a retryable StoreError", async () => {
    const store = new AwsSecretStore(createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 }));
    emulator.faults.add({ kind: "error", match: "ListSecretVersionIds", count: 1 });
    const err = await store.listVersions("contract/quota").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).retryable).toBe(true);
  });
});
