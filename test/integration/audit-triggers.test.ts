/**
 * The audit stream names every way a rotation is started, from a real worker process: a scheduled
 * rotation (trigger schedule, actor the worker), an admin call by a named token (its name and
 * address), a leak report (the scanner, the report's URL as the reason), and a rotation resumed
 * from the store after Redis lost everything (trigger resume); each shows in
 * `history` too. The stream is the worker's KEY_ROTATOR_AUDIT_LOG, chained and intact, with no
 * secret in it; so is each step. (The CLI's own requests: cli-json.test.ts; --direct: direct-audit.)
 */
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../src/audit/audit-log.js";
import type { CliProcess } from "../../src/demo/cli-process.js";
import { type World, leaks, startWorld } from "../support/rotation-world.js";
import { dropPrefix } from "../support/redis.js";

const TOKEN = "alice-admin-token-0123456789";
const LEAK_SECRET = "leak-webhook-secret-0123456789";
const AUDIT_KEY = "audit-chain-key-0123456789";
const dir = mkdtempSync(join(tmpdir(), "kr-audit-it-"));
const auditFile = join(dir, "audit.jsonl");
const tokensFile = join(dir, "tokens");
let world: World;
let worker: CliProcess;
let http = "";

beforeAll(async () => {
  writeFileSync(tokensFile, `alice ${createHash("sha256").update(TOKEN).digest("hex")}\n`);
  world = await startWorld({ credentials: 3, grace: "1s", everyById: { "cred-0": "2s" } });
  worker = await world.startWorker({
    KEY_ROTATOR_AUDIT_LOG: auditFile,
    KEY_ROTATOR_AUDIT_KEY: AUDIT_KEY,
    KEY_ROTATOR_ADMIN_TOKENS_FILE: tokensFile,
    KEY_ROTATOR_LEAK_WEBHOOK_SECRET: LEAK_SECRET,
  });
  const ready = worker.lines.find((l) => l.includes('"worker.ready"')) ?? "{}";
  http = (JSON.parse(ready) as { http: string }).http;
}, 60_000);
afterAll(async () => {
  await world?.close();
  rmSync(dir, { recursive: true, force: true });
});

function events(): Array<Record<string, unknown>> {
  if (!existsSync(auditFile)) return [];
  return readFileSync(auditFile, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until(check: () => boolean, what: string, timeoutMs = 25_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${readFileSync(auditFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("audit events for each trigger", () => {
  it("schedule: the worker's rotation, trigger schedule", async () => {
    await until(
      () => events().some((e) => e.event === "rotation.finished" && e.credentialId === "cred-0"),
      "a scheduled rotation",
    );
    expect(events().find((e) => e.event === "rotation.finished" && e.credentialId === "cred-0")).toMatchObject({
      trigger: "schedule",
      result: "completed",
      emergency: false,
      actor: { via: "worker", name: "schedule" },
    });
  });

  it("admin HTTP: the token's name and the caller's address", async () => {
    const c = world.creds[1];
    if (!c) throw new Error("no credential");
    const res = await fetch(`${http}/v1/credentials/${c.id}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ emergency: true, reason: "key in a screenshot" }),
    });
    expect(res.status).toBe(202);
    await world.waitRotated(c);
    await until(() => events().some((e) => e.event === "rotation.finished" && e.credentialId === c.id), "its record");
    const actor = { name: "alice", via: "http", address: "127.0.0.1" };
    // Each step is an event of its own, in order, by the same actor.
    expect(
      events()
        .filter((e) => e.credentialId === c.id && e.event === "rotation.step")
        .map((e) => e.step),
    ).toEqual(["create", "verify", "promote", "grace", "revoke", "confirm"]);
    expect(events().filter((e) => e.credentialId === c.id && e.event !== "rotation.step")).toEqual([
      expect.objectContaining({ event: "rotation.requested", actor, reason: "key in a screenshot", emergency: true }),
      expect.objectContaining({ event: "rotation.finished", actor, emergency: true, result: "completed" }),
    ]);
  });

  it("leak: the scanner, the report's URL as the reason; the value nowhere", async () => {
    const c = world.creds[2];
    if (!c) throw new Error("no credential");
    const { apiKey } = await world.currentKey(c);
    const body = JSON.stringify({ secret: apiKey, url: "https://scanner.example/incidents/9", source: "gitguardian" });
    const res = await fetch(`${http}/v1/leaks`, {
      method: "POST",
      headers: { "x-keyrotator-signature": `sha256=${createHmac("sha256", LEAK_SECRET).update(body).digest("hex")}` },
      body,
    });
    expect(res.status).toBe(202);
    await world.waitRotated(c);
    await until(() => events().some((e) => e.event === "rotation.finished" && e.credentialId === c.id), "its record");
    expect(events().find((e) => e.event === "rotation.finished" && e.credentialId === c.id)).toMatchObject({
      trigger: "emergency",
      emergency: true,
      actor: { name: "scanner", via: "leak", address: "127.0.0.1" },
      reason: "leak reported: https://scanner.example/incidents/9",
    });
    expect(events().some((e) => e.event === "leak.reported" && e.matched === 1)).toBe(true);
  });

  it("the stream is one intact chain, keyed, and holds no secret; history shows the names", async () => {
    const text = readFileSync(auditFile, "utf8");
    expect(verifyAuditChain(text.trim().split("\n"), AUDIT_KEY)).toEqual([]);
    expect(leaks(text, world.secrets())).toEqual([]);
    expect(leaks(worker.lines.join("\n"), world.secrets())).toEqual([]);
    const history = await world.redis.lrange(`${world.prefix}:history:cred-2`, 0, -1);
    expect(history.join("\n")).toContain('"actor":"leak:scanner@127.0.0.1"');
  });
});

describe("audit events: resume after Redis lost everything", () => {
  it("a rotation cut in grace and its Redis keys dropped is resumed from the store: trigger resume", async () => {
    const w = await startWorld({ grace: "3s" });
    const file = join(dir, "resume.jsonl");
    try {
      const c = w.creds[0];
      if (!c) throw new Error("no credential");
      const first = await w.startWorker({ KEY_ROTATOR_AUDIT_LOG: file });
      await w.enqueue(c.id);
      const deadline = Date.now() + 20_000;
      while (!(await w.stagesOf(c)).some((v) => v.stages.includes("AWSCURRENT") && v.stages.includes("AWSPENDING"))) {
        if (Date.now() > deadline) throw new Error("the rotation did not reach grace");
        await new Promise((r) => setTimeout(r, 50));
      }
      await first.kill("SIGKILL");
      await dropPrefix(w.redis, w.prefix);
      await w.startWorker({ KEY_ROTATOR_AUDIT_LOG: file });
      await w.waitRotated(c);
      const finished = () =>
        existsSync(file)
          ? readFileSync(file, "utf8")
              .trim()
              .split("\n")
              .map((l) => JSON.parse(l) as Record<string, unknown>)
              .filter((e) => e.event === "rotation.finished")
          : [];
      const end = Date.now() + 10_000;
      while (finished().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(finished()).toEqual([
        expect.objectContaining({
          credentialId: c.id,
          trigger: "resume",
          result: "completed",
          actor: expect.objectContaining({ via: "worker", name: "resume" }),
        }),
      ]);
    } finally {
      await w.close();
    }
  }, 60_000);
});
