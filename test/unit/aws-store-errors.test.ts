/**
 * What the SDK store adapter says when Secrets Manager's answer is broken: the error names the
 * operation and the secret, and never quotes the body, which may hold the secret's value.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeError, StoreError } from "../../src/core/errors.js";
import { AwsSecretStore, createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

const SECRET = "sk_live_Q7vLm2XpR9tKw4Zc8Hn3Jd6F";
/** Node's JSON errors quote about ten characters of the text: look for any six of the secret. */
const piecesOf = (s: string) => Array.from({ length: s.length - 5 }, (_, i) => s.slice(i, i + 6));
const answers: Record<string, { status: number; body: string }> = {
  truncated: {
    status: 200,
    body: `{"ARN":"arn:x","Name":"s","VersionId":"v1","SecretString":"{\\"apiKey\\":\\"${SECRET}`,
  },
  "not json": { status: 200, body: `${SECRET} is not JSON at all` },
  "a 500 with a body that is not JSON": { status: 500, body: `<html>${SECRET}</html>` },
};
let server: Server;
let url: string;
let answer = answers.truncated;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= "test";
  process.env.AWS_SECRET_ACCESS_KEY ??= "test";
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () =>
      res.writeHead(answer?.status ?? 200, { "content-type": "application/x-amz-json-1.1" }).end(answer?.body),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("AwsSecretStore on a broken answer", () => {
  it.each(Object.keys(answers))("%s: a StoreError naming the call, with no part of the body", async (name) => {
    answer = answers[name];
    const store = new AwsSecretStore(
      createSecretsManagerClient({ endpoint: url, region: "us-east-1", maxAttempts: 1 }),
    );
    const err = await store.read("team/callcov", { stage: "AWSCURRENT" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain("GetSecretValue on secret team/callcov");
    for (const text of [(err as Error).message, describeError(err), inspect(err, { depth: 10 }), JSON.stringify(err)]) {
      for (const piece of piecesOf(SECRET)) expect(text).not.toContain(piece);
    }
  });
});
