import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from "../../src/sandbox/secrets-manager-emulator.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

let emulator: SecretsManagerEmulator;
beforeAll(async () => {
  emulator = await startSecretsManagerEmulator();
});
afterAll(async () => emulator.close());

const raw = (headers: Record<string, string>, body: string) =>
  fetch(emulator.url, { method: "POST", headers: { "content-type": "application/x-amz-json-1.1", ...headers }, body });
const signed = {
  authorization:
    "AWS4-HMAC-SHA256 Credential=test/20261123/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc",
};

describe("Secrets Manager emulator, raw wire protocol", () => {
  it("refuses a request without a SigV4 Authorization header", async () => {
    const res = await raw({ "x-amz-target": "secretsmanager.ListSecrets" }, "{}");
    expect(res.status).toBe(400);
    expect(res.headers.get("x-amzn-errortype")).toBe("MissingAuthenticationTokenException");
    expect(((await res.json()) as { __type: string }).__type).toBe("MissingAuthenticationTokenException");
  });

  it("names an unknown X-Amz-Target", async () => {
    const res = await raw({ ...signed, "x-amz-target": "secretsmanager.RotateEverything" }, "{}");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      __type: "UnknownOperationException",
      message: "Unknown operation secretsmanager.RotateEverything.",
    });
  });

  it("answers a malformed JSON body with SerializationException, not a crash", async () => {
    const res = await raw({ ...signed, "x-amz-target": "secretsmanager.GetSecretValue" }, "{not json");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { __type: string }).__type).toBe("SerializationException");
    expect((await raw({ ...signed, "x-amz-target": "secretsmanager.ListSecrets" }, "{}")).status).toBe(200);
  });

  it("names a missing required field", async () => {
    const res = await raw({ ...signed, "x-amz-target": "secretsmanager.GetSecretValue" }, "{}");
    expect(await res.json()).toEqual({
      __type: "InvalidParameterException",
      message: "SecretId is required and must be a non-empty string.",
    });
  });
});

describe("Secrets Manager emulator through the real SDK", () => {
  const client = () => createSecretsManagerClient({ endpoint: emulator.url, maxAttempts: 1 });

  it("moving AWSCURRENT without naming its holder is refused like AWS", async () => {
    const c = client();
    await c.send(new CreateSecretCommand({ Name: "emu/stage-check", SecretString: "a" }));
    const put = await c.send(
      new PutSecretValueCommand({ SecretId: "emu/stage-check", SecretString: "b", VersionStages: ["AWSPENDING"] }),
    );
    await expect(
      c.send(
        new UpdateSecretVersionStageCommand({
          SecretId: "emu/stage-check",
          VersionStage: "AWSCURRENT",
          MoveToVersionId: put.VersionId,
        }),
      ),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
    expect((await c.send(new GetSecretValueCommand({ SecretId: "emu/stage-check" }))).SecretString).toBe("a");
  });

  it("removing AWSCURRENT without moving it is refused like AWS, and the secret keeps its current version", async () => {
    const c = client();
    const created = await c.send(new CreateSecretCommand({ Name: "emu/remove-current", SecretString: "a" }));
    await expect(
      c.send(
        new UpdateSecretVersionStageCommand({
          SecretId: "emu/remove-current",
          VersionStage: "AWSCURRENT",
          RemoveFromVersionId: created.VersionId,
        }),
      ),
    ).rejects.toMatchObject({
      name: "InvalidParameterException",
      message:
        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.",
    });
    const current = await c.send(new GetSecretValueCommand({ SecretId: "emu/remove-current" }));
    expect(current).toMatchObject({ VersionId: created.VersionId, SecretString: "a", VersionStages: ["AWSCURRENT"] });
    // Moving it (naming the holder) is still allowed.
    const put = await c.send(
      new PutSecretValueCommand({ SecretId: "emu/remove-current", SecretString: "b", VersionStages: ["AWSPENDING"] }),
    );
    await c.send(
      new UpdateSecretVersionStageCommand({
        SecretId: "emu/remove-current",
        VersionStage: "AWSCURRENT",
        MoveToVersionId: put.VersionId,
        RemoveFromVersionId: created.VersionId,
      }),
    );
    expect((await c.send(new GetSecretValueCommand({ SecretId: "emu/remove-current" }))).SecretString).toBe("b");
  });

  it("a PutSecretValue without stages makes the new version current and the old previous", async () => {
    const c = client();
    const created = await c.send(new CreateSecretCommand({ Name: "emu/put-current", SecretString: "a" }));
    await c.send(new PutSecretValueCommand({ SecretId: "emu/put-current", SecretString: "b" }));
    const previous = await c.send(
      new GetSecretValueCommand({ SecretId: "emu/put-current", VersionStage: "AWSPREVIOUS" }),
    );
    expect(previous.VersionId).toBe(created.VersionId);
  });

  it("a dropped connection surfaces as an error at the client and the emulator keeps serving", async () => {
    const c = client();
    emulator.faults.add({ kind: "reset", match: "ListSecrets", count: 1 });
    await expect(
      c.send(new CreateSecretCommand({ Name: "emu/after-reset", SecretString: "a" })),
    ).resolves.toBeDefined();
    const res = await raw({ ...signed, "x-amz-target": "secretsmanager.ListSecrets" }, "{}").catch((e: unknown) => e);
    expect(res).toBeInstanceOf(Error);
    expect((await raw({ ...signed, "x-amz-target": "secretsmanager.ListSecrets" }, "{}")).status).toBe(200);
  });

  it("counts calls per operation for benchmarks", async () => {
    emulator.resetStats();
    await client().send(new CreateSecretCommand({ Name: "emu/count", SecretString: "a" }));
    expect(emulator.stats().calls).toEqual({ CreateSecret: 1 });
  });
});
