/**
 * The audit stream (src/audit/audit-log.ts): one JSON line per event in an append-only file, a
 * hash chain that shows an edited or removed line, an HMAC chain only the key's holder can extend,
 * a signed and retried webhook; and the history rebuilt from the store's versions after Redis
 * lost its record (FLUSHALL).
 */
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog, actorString, parseActor, verifyAuditChain } from "../../src/audit/audit-log.js";
import { RotationHistory } from "../../src/queue/rotation-history-store.js";
import { historyRows } from "../../src/cli/history.command.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { startPrivateRedis } from "../support/private-redis.js";
import { connectRedis } from "../../src/queue/redis.js";

const DIR = mkdtempSync(join(tmpdir(), "kr-audit-"));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const alice = { name: "alice", via: "cli" as const, address: "laptop-7" };

describe("AuditLog", () => {
  it("with no file and no webhook writes no line and keeps no chain", () => {
    const log = new AuditLog({});
    expect(log.emit({ event: "rotation.requested", credentialId: "cc", actor: alice })).toBeUndefined();
  });

  it("appends one JSON line per event, chained; an edited or removed line breaks the chain", () => {
    const file = join(DIR, "chain.jsonl");
    const log = new AuditLog({ file });
    log.emit({ event: "rotation.requested", credentialId: "cc", actor: alice, reason: "quarterly", emergency: false });
    log.emit({ event: "emergency.refused", credentialId: "cc", actor: alice, refusedFor: "cooldown" });
    log.emit({ event: "rotation.finished", credentialId: "cc", rotationId: "r-1", result: "completed" });
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      event: "rotation.requested",
      actor: { name: "alice", via: "cli", address: "laptop-7" },
      seq: 1,
      prev: "0".repeat(64),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(verifyAuditChain(lines)).toEqual([]);
    const edited = lines.map((l, i) => (i === 1 ? l.replace("cooldown", "global-cap") : l));
    expect(verifyAuditChain(edited)).toEqual(["line 2: hash does not match its content"]);
    expect(verifyAuditChain([lines[0] ?? "", lines[2] ?? ""])).toEqual([
      expect.stringMatching(/^line 2: writer .* skips from 1 to 3$/),
      "line 2: prev does not match the line before it",
    ]);
  });

  it("writes each line as the JSON of the line it returns: fields in the order given, none undefined", () => {
    const file = join(DIR, "exact.jsonl");
    const log = new AuditLog({ file });
    const emitted = [
      log.emit({ reason: 'a "quoted"\nreason', event: "rotation.requested", credentialId: "cc", outcome: undefined }),
      log.emit({ event: "rotation.step", credentialId: "cc", step: "create", durationMs: 12, actor: alice }),
      // A field named like the line's own is not written: one "hash", one "seq" in the line.
      log.emit({ event: "leak.reported", hash: "not-the-chain", prev: "nor-this", seq: 99, reason: "x" }),
    ];
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toEqual(emitted.map((line) => JSON.stringify(line)));
    expect(Object.keys(emitted[0] ?? {})).toEqual([
      "reason",
      "event",
      "credentialId",
      "at",
      "writer",
      "seq",
      "prev",
      "hash",
    ]);
    expect(emitted[2]).toMatchObject({ event: "leak.reported", reason: "x", seq: 3 });
    expect(lines[2]).not.toContain("not-the-chain");
    expect(lines[2]).not.toContain("nor-this");
    expect(verifyAuditChain(lines)).toEqual([]);
  });

  it("with a key, a chain recomputed without it does not verify", () => {
    const file = join(DIR, "keyed.jsonl");
    new AuditLog({ file, key: "audit-key-0123456789" }).emit({ event: "rotation.requested", credentialId: "cc" });
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(verifyAuditChain(lines, "audit-key-0123456789")).toEqual([]);
    expect(verifyAuditChain(lines)).toEqual(["line 1: hash does not match its content"]);
  });

  it("posts each line to the webhook signed, retrying a 503, and a CLI's flush waits for it", async () => {
    const got: Array<{ body: string; signature: string | undefined }> = [];
    let failures = 1;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (failures-- > 0) return void res.writeHead(503).end();
        got.push({
          body: Buffer.concat(chunks).toString(),
          signature: req.headers["x-keyrotator-signature"] as string,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/audit`;
    try {
      const log = new AuditLog({ webhook: { url, secret: "hook-secret-0123456789" } });
      const line = log.emit({ event: "leak.reported", actor: { name: "github", via: "leak" }, matched: 1 });
      await log.flush();
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0]?.body ?? "")).toEqual(line);
      expect(got[0]?.signature).toBe(
        `sha256=${createHmac("sha256", "hook-secret-0123456789")
          .update(got[0]?.body ?? "")
          .digest("hex")}`,
      );
    } finally {
      server.close();
    }
  });

  it("a file it cannot append to is said once per event, and the caller goes on", () => {
    const warned: string[] = [];
    const blocker = join(DIR, "not-a-dir");
    writeFileSync(blocker, "");
    const log = new AuditLog({ file: join(blocker, "audit.jsonl"), warn: (m) => warned.push(m) });
    expect(() => log.emit({ event: "rotation.requested" })).not.toThrow();
    expect(warned).toEqual([expect.stringMatching(/^audit: cannot append rotation\.requested to .*: ENOTDIR$/)]);
  });

  it("actors as one string and back", () => {
    expect(actorString({ name: "oncall-bot", via: "http", address: "10.0.0.7" })).toBe("http:oncall-bot@10.0.0.7");
    expect(parseActor("http:oncall-bot@10.0.0.7")).toEqual({ name: "oncall-bot", via: "http", address: "10.0.0.7" });
    expect(parseActor("cli:root")).toEqual({ name: "root", via: "cli" });
    expect(parseActor("admin-http")).toEqual({ name: "admin-http", via: "worker" });
    expect(parseActor(undefined)).toBeUndefined();
  });
});

describe("history after Redis lost it", () => {
  it("FLUSHALL: the rotations come back from the store's versions; the audit file still has them", async () => {
    const redisServer = await startPrivateRedis();
    const redis = connectRedis(redisServer.url);
    const file = join(DIR, "flush.jsonl");
    try {
      const history = new RotationHistory(redis, "{kr-test-flush}", new AuditLog({ file }));
      const state: RotationState = {
        credentialId: "cc",
        rotationId: "v-2",
        step: Step.Done,
        emergency: true,
        trigger: "emergency",
        actor: "http:alice@10.0.0.7",
        reason: "leaked in a log",
        startedAt: Date.parse("2026-11-30T04:00:00Z"),
      };
      await history.record(state, "completed", Date.parse("2026-11-30T04:00:05Z"));
      const versions = [
        { versionId: "v-1", createdAt: new Date("2026-09-01T00:00:00Z"), stages: ["AWSPREVIOUS"] },
        { versionId: "v-2", createdAt: new Date("2026-11-30T04:00:01Z"), stages: ["AWSCURRENT", "AWSPENDING"] },
      ];
      expect(historyRows(await history.list("cc"), versions)).toEqual([
        expect.objectContaining({ rotationId: "v-2", source: "redis", actor: "http:alice@10.0.0.7", emergency: true }),
      ]);
      await redis.flushall();
      expect(historyRows(await history.list("cc"), versions)).toEqual([
        {
          rotationId: "v-2",
          source: "store",
          result: "current",
          versionCreatedAt: "2026-11-30T04:00:01.000Z",
          stages: ["AWSCURRENT", "AWSPENDING"],
        },
      ]);
      const [line] = readFileSync(file, "utf8").trim().split("\n");
      expect(JSON.parse(line ?? "")).toMatchObject({
        event: "rotation.finished",
        credentialId: "cc",
        rotationId: "v-2",
        emergency: true,
        trigger: "emergency",
        actor: { name: "alice", via: "http", address: "10.0.0.7" },
        reason: "leaked in a log",
        at: "2026-11-30T04:00:05.000Z",
      });
    } finally {
      redis.disconnect();
      await redisServer.stop();
    }
  });
});
