/**
 * Walks the README's "Try it in five minutes" as a newcomer would: the commands are read from the
 * README itself (so the two cannot drift apart) and run as real processes, in order, against
 * `sandbox --seed` and the environment it prints. Two liberties, both said here: the inventory is
 * written to a temporary folder instead of the checkout, and before `submit` the test waits until
 * the worker has asked for the pair (a person reading the README is slower than that).
 */
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CliProcess, startCli } from "../../src/demo/cli-process.js";

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
  }, 180_000);
});
