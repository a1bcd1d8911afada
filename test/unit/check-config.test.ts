/** check-config refuses what the worker refuses at start, not only what the schema refuses. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkConfigCommand } from "../../src/cli/check-config.command.js";

const dir = mkdtempSync(join(tmpdir(), "kr-check-"));
const secretFile = join(dir, "hook-secret");
writeFileSync(secretFile, "s3cret-hmac-value");

const inventory = (o: { baseUrl?: string; hmacFile?: string } = {}) => `
alertRoutes:
  ops: { type: slack, webhookUrl: { env: KR_TEST_SLACK_URL } }
  hook: { type: webhook, url: "https://hooks.example.test/kr", hmacSecret: { file: ${o.hmacFile ?? secretFile} } }
credentials:
  - id: cc-prod
    vendor: callcov
    secretId: prod/cc
    baseUrl: ${o.baseUrl ?? "https://api.callcov.test"}
    managementSecretId: prod/cc-login
    rotation: { every: 90d }
    alerts: { warning: [ops, hook], critical: [ops] }
`;

async function check(text: string, env: NodeJS.ProcessEnv, json = false) {
  const file = join(dir, `inv-${Math.random()}.yaml`);
  writeFileSync(file, text);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await checkConfigCommand(
    file,
    { json },
    { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) },
    env,
  );
  return { code, stdout, stderr, file };
}

describe("check-config agrees with the worker", () => {
  const env = { KR_TEST_SLACK_URL: "https://hooks.slack.test/x" };

  it("passes when every variable and file the inventory names is there", async () => {
    const r = await check(inventory(), env);
    expect(r.stderr).toEqual([]);
    expect(r.code).toBe(0);
  });

  it("refuses a variable that is not set, a file it cannot read and plain HTTP to another host, all at once", async () => {
    const r = await check(inventory({ baseUrl: "http://api.callcov.test", hmacFile: join(dir, "missing") }), {
      KR_TEST_SLACK_URL: "",
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual([
      `${r.file}: alertRoutes.ops.webhookUrl: environment variable KR_TEST_SLACK_URL is not set`,
      expect.stringMatching(new RegExp(`^${r.file}: alertRoutes\\.hook\\.hmacSecret: .*${join(dir, "missing")}`)),
      `${r.file}: credentials[0].baseUrl: http://api.callcov.test: plain HTTP to a host other than this machine; the worker refuses it, use https://`,
    ]);
  });

  it("accepts plain HTTP to this machine (the sandbox), and never prints what a file holds", async () => {
    expect((await check(inventory({ baseUrl: "http://127.0.0.1:4010" }), env)).code).toBe(0);
    const r = await check(inventory({ hmacFile: "/dev/zero" }), env, true);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout.join("")) as { ok: boolean; problems: string[] };
    expect(doc.ok).toBe(false);
    expect(doc.problems).toEqual([expect.stringContaining("alertRoutes.hook.hmacSecret")]);
    expect(r.stdout.join("")).not.toContain("s3cret-hmac-value");
  });
});
