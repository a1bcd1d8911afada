/**
 * The Secrets Manager client keeps one SigV4 signer per auth scheme (createSecretsManagerClient):
 * each request is still signed with the credentials of that moment, and for the client's region.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsSecretStore, createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? "");
    req.resume();
    req.on("end", () =>
      res
        .writeHead(200, { "content-type": "application/x-amz-json-1.1" })
        .end(JSON.stringify({ ARN: "arn:x", Name: "s", Versions: [] })),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const credentialOf = (authorization: string | undefined) => /Credential=([^,\s]+)/.exec(authorization ?? "")?.[1];

describe("the Secrets Manager client's signing", () => {
  it("signs each request with the credentials of its moment: an expired set is refreshed, not kept", async () => {
    let issued = 0;
    const client = createSecretsManagerClient({
      endpoint: url,
      region: "eu-west-1",
      maxAttempts: 1,
      // Each set expires at once, as an assumed role's does when its hour is up.
      credentials: async () => ({
        accessKeyId: `AKID${++issued}`,
        secretAccessKey: "secret",
        sessionToken: "token",
        expiration: new Date(Date.now() - 1_000),
      }),
    });
    const store = new AwsSecretStore(client);
    seen.length = 0;
    await store.listVersions("s");
    await store.listVersions("s");
    await store.listVersions("s");
    // The SDK asks the provider more than once a request; what counts is that no set is used twice.
    const keys = seen.map((a) => Number(credentialOf(a)?.split("/")[0]?.replace("AKID", "")));
    expect(keys).toHaveLength(3);
    expect(keys[0]).toBeGreaterThan(0);
    expect(keys[1]).toBeGreaterThan(keys[0] ?? Infinity);
    expect(keys[2]).toBeGreaterThan(keys[1] ?? Infinity);
    expect(seen.every((a) => credentialOf(a)?.endsWith("/eu-west-1/secretsmanager/aws4_request"))).toBe(true);
  });

  it("two clients of two regions sign for their own region", async () => {
    const credentials = { accessKeyId: "AKIDSTATIC", secretAccessKey: "secret" };
    const east = new AwsSecretStore(createSecretsManagerClient({ endpoint: url, region: "us-east-1", credentials }));
    const west = new AwsSecretStore(createSecretsManagerClient({ endpoint: url, region: "us-west-2", credentials }));
    seen.length = 0;
    await east.listVersions("s");
    await west.listVersions("s");
    await east.listVersions("s");
    expect(seen.map((a) => credentialOf(a)?.split("/")[2])).toEqual(["us-east-1", "us-west-2", "us-east-1"]);
  });
});
