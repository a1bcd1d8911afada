/**
 * A `--direct` emergency runs without the queue, so nothing else records it. It leaves its own
 * audit event (actor, reason, the emergency and direct flags, how it ended) in the audit stream
 * with Redis down, and when Redis answers it also lands in `history` like any rotation.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { type World, leaks, startWorld } from "../support/rotation-world.js";

const dir = mkdtempSync(join(tmpdir(), "kr-direct-audit-"));

async function cli(world: World, args: string[], env: Record<string, string> = {}) {
  const p = startCli(args, { env: { ...world.env, ...env } });
  const code = await p.exited;
  return { code, text: p.lines.join("\n"), lines: p.lines };
}

describe("rotate --emergency --direct is audited", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("with Redis down: the audit stream has who, why and the emergency flag", async () => {
    world = await startWorld({ grace: "1h" });
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const file = join(dir, "down.jsonl");
    const r = await cli(
      world,
      ["rotate", c.id, "--emergency", "--direct", "--reason", "key in a pastebin", "--actor", "alice", "--json"],
      { REDIS_URL: "redis://127.0.0.1:9", KEY_ROTATOR_AUDIT_LOG: file },
    );
    expect(r.code, r.text).toBe(0);
    const doc = JSON.parse(r.lines.find((l) => l.startsWith('{"credential"')) ?? "{}") as Record<string, unknown>;
    expect(doc).toMatchObject({
      step: "done",
      direct: true,
      emergency: true,
      actor: expect.stringMatching(/^cli:alice@/),
    });
    expect(existsSync(file)).toBe(true);
    const events = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toContainEqual(
      expect.objectContaining({
        event: "emergency.direct",
        credentialId: c.id,
        actor: expect.objectContaining({ name: "alice", via: "cli" }),
        reason: "key in a pastebin",
        emergency: true,
        direct: true,
        step: "done",
      }),
    );
    expect(leaks(readFileSync(file, "utf8") + r.text, world.secrets())).toEqual([]);
  });

  it("with Redis up: history shows the actor, the reason and the emergency", async () => {
    world = await startWorld({ grace: "1h" });
    const c = world.creds[0];
    if (!c) throw new Error("no credential");
    const r = await cli(world, [
      "rotate",
      c.id,
      "--emergency",
      "--direct",
      "--reason",
      "leaked in CI logs",
      "--actor",
      "bob",
    ]);
    expect(r.code, r.text).toBe(0);
    const h = await cli(world, ["history", c.id, "--json"]);
    const doc = JSON.parse(h.lines.find((l) => l.startsWith("{")) ?? "{}") as {
      rotations: Array<Record<string, unknown>>;
      audit: Array<Record<string, unknown>>;
    };
    expect(doc.rotations[0]).toMatchObject({
      source: "redis",
      result: "completed",
      emergency: true,
      trigger: "emergency",
      actor: expect.stringMatching(/^cli:bob@/),
      reason: "leaked in CI logs",
    });
    expect(doc.audit[0]).toMatchObject({ event: "rotation.requested", direct: true, emergency: true });
    const table = await cli(world, ["history", c.id]);
    expect(table.text).toMatch(/emergency \(emergency\)|\(--direct\)/);
  });
});

process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
