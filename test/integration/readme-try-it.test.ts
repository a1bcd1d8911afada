/**
 * Walks the README's "Try it in five minutes" as a newcomer would: the commands are read from the
 * README itself (so the two cannot drift apart) and run as real processes, in order, against
 * `sandbox --seed` and the environment it prints. Two liberties, both said here: the inventory is
 * written to a temporary folder instead of the checkout, and before `submit` the test waits until
 * the worker has asked for the pair (a person reading the README is slower than that). At the
 * end it asks the SendGrid simulator, as SendGrid would be asked, what the README's rotation of
 * sg-demo (a vendor added as a definition) left: the current key accepted, the previous refused.
 */
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, describe, expect, it } from "vitest";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";
import { SANDBOX_SENDGRID } from "../../src/sandbox/sendgrid-sim.js";
import { createSecretsManagerClient } from "../../src/store/aws-secret-store.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const section = README.slice(README.indexOf("## Try it in five minutes"), README.indexOf("## How a rotation works"));
const CLI = "npx tsx src/cli/main.ts ";

/** The README's command lines, in order, comments cut off. */
function steps(): string[] {
  return section
    .split("\n")
    .filter((l) => l.startsWith("    ") && (l.trim().startsWith(CLI) || l.trim().startsWith("curl ")))
    .map((l) => l.trim().replace(/\s+#\s.*$/, ""));
}

/** Shell words: spaces split, double quotes group ("$VAR" expanded from env). */
function words(line: string, env: Record<string, string>): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|(\S+)/g)) {
    const w = m[1] ?? m[2] ?? "";
    out.push(w.replace(/\$([A-Z_]+)/g, (_, name: string) => env[name] ?? ""));
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "kr-readme-"));
const running: CliProcess[] = [];
afterAll(async () => {
  for (const p of running) await p.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

async function runToEnd(args: string[], env: Record<string, string>, stdin?: string) {
  const p = startCli(args, { env, ...(stdin !== undefined ? { stdin } : {}) });
  const code = await p.exited;
  return { code, text: p.lines.join("\n") };
}

describe("README: try it in five minutes", () => {
  it("every command of the path works, in order, with nothing but what the README says", async () => {
    const lines = steps();
    expect(lines[0]).toBe(`${CLI}sandbox --seed`);
    expect(lines.length).toBeGreaterThanOrEqual(9);

    const sandbox = startCli([...words(lines[0]?.slice(CLI.length) ?? "", {}), "--inventory", join(dir, "inv.yaml")]);
    running.push(sandbox);
    const seeded = JSON.parse(await sandbox.waitForLine(/^\{"secretsManager"/, 30_000)) as {
      sendgrid: string;
      credentials: string[];
    };
    expect(seeded.credentials).toEqual(["cc-demo", "jc-demo", "tw-demo", "sg-demo", "dd-demo"]);
    const exportLine = await sandbox.waitForLine(/^\s+export /, 30_000);
    const env: Record<string, string> = {};
    for (const pair of exportLine
      .trim()
      .replace(/^export /, "")
      .split(" ")) {
      const [k = "", ...v] = pair.split("=");
      env[k] = v.join("=");
    }
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(["AWS_ENDPOINT_URL_SECRETS_MANAGER", "KEY_ROTATOR_CONFIG", "SANDBOX_JUSTCALL_URL"]),
    );
    env.LOG_LEVEL = "info";

    const seen: string[] = [];
    for (const line of lines.slice(1)) {
      if (line.startsWith(`${CLI}worker`)) {
        const worker = startCli(["worker"], { env });
        running.push(worker);
        await worker.waitForLine(/worker ready/, 30_000);
        seen.push("worker");
        continue;
      }
      if (line.startsWith("curl ")) {
        const [curl, submit] = line.split(" | ");
        const url = words(curl ?? "", env).find((w) => w.startsWith("http")) ?? "";
        // A person reads the alert before making the pair: wait until the worker has asked.
        for (let i = 0; i < 100; i++) {
          const s = await runToEnd(["status", "jc-demo", "--json"], env);
          if (s.text.includes('"step":"await-pair"')) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const pair = await (await fetch(url, { method: "POST" })).text();
        const r = await runToEnd(words(submit?.slice(CLI.length) ?? "", env), env, pair);
        expect(r.code, r.text).toBe(0);
        expect(r.text).toMatch(/pair accepted by JustCall/);
        seen.push("submit");
        continue;
      }
      const args = words(line.slice(CLI.length), env);
      const r = await runToEnd(args, env);
      expect(r.code, `${line}\n${r.text}`).toBe(0);
      seen.push(`${args[0] ?? ""}: ${r.text}`);
    }
    const all = seen.join("\n");
    expect(all).toMatch(/status: credential +vendor/);
    expect(all).toMatch(/plan: Plan for the next 365 days/);
    expect(all).toMatch(/rotate: [^]*grace until [^]*done: cc-demo rotated/);
    expect(all).toMatch(/history: [^]*cli:me@/);
    expect(all).toMatch(/"credential":"jc-demo"/);
    for (const [id, vendor] of [
      ["tw-demo", "twilio"],
      ["sg-demo", "sendgrid"],
      ["dd-demo", "datadog"],
    ])
      expect(all).toMatch(new RegExp(`status: [^]*\\b${id} +${vendor}\\b`));
    expect(all).toMatch(/rotate: [^]*grace until [^]*done: sg-demo rotated/);

    // What SendGrid says of the keys now: the current one accepted, the previous refused and gone.
    const store = createSecretsManagerClient({
      endpoint: env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? "",
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID ?? "", secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "" },
    });
    const stage = async (VersionStage: string) =>
      JSON.parse(
        (await store.send(new GetSecretValueCommand({ SecretId: "sandbox/sendgrid/sg-demo", VersionStage })))
          .SecretString ?? "{}",
      ) as { apiKey: string; keyId: string };
    const [current, previous] = [await stage("AWSCURRENT"), await stage("AWSPREVIOUS")];
    store.destroy();
    const scopes = async (key: string) =>
      (await fetch(`${seeded.sendgrid}/v3/scopes`, { headers: { authorization: `Bearer ${key}` } })).status;
    expect(current.keyId).not.toBe(previous.keyId);
    expect(await scopes(current.apiKey)).toBe(200);
    expect(await scopes(previous.apiKey)).toBe(401);
    const keys = (await (await fetch(`${seeded.sendgrid}/__sim/keys`)).json()) as {
      data: Array<{ id: string; active: boolean }>;
    };
    const active = keys.data.filter((k) => k.active && k.id !== SANDBOX_SENDGRID.managementKeyId).map((k) => k.id);
    expect(active).toEqual([current.keyId]);
  }, 180_000);
});
