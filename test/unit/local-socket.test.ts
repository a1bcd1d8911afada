/**
 * The worker's local socket and the CLI's side of it, with a fake admin port and fake workers on
 * real Unix sockets in a temp folder: the socket takes emergencies only, with a CLI-shaped actor,
 * for its own inventory, a bounded body; the CLI ends the command only on an answer it can trust
 * (started, refused by the bounds, unknown credential) and goes through the queue on anything else
 * (an error status, a malformed or oversized answer, a 202 for another credential).
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { type Server, createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emergencyViaWorker } from "../../src/cli/worker-socket.js";
import { type LocalSocket, listenOnSocket } from "../../src/http/local-socket.js";
import type { RotateAsked } from "../../src/http/rotate-answer.js";
import { EmergencyRefusedError } from "../../src/queue/emergency-limits.js";
import type { AuditRecord } from "../../src/queue/rotation-history-store.js";
import type { Out } from "../../src/cli/output.js";

let dir = "";
let inventory = "";
let socket: LocalSocket | undefined;
let fake: Server | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kr-sock-unit-"));
  inventory = join(dir, "inventory.yaml");
  writeFileSync(inventory, "credentials: []\n");
});
afterEach(async () => {
  await socket?.close();
  socket = undefined;
  await new Promise<void>((r) => (fake ? fake.close(() => r()) : r()));
  fake = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const ACTOR = "cli:alice@host-1";

async function worker(refuse = false) {
  const asked: RotateAsked[] = [];
  const audited: AuditRecord[] = [];
  socket = await listenOnSocket({
    path: join(dir, "kr.sock"),
    inventory,
    admin: {
      has: (id) => id === "cc-prod",
      rotate: async (r) => {
        asked.push(r);
        if (refuse)
          throw new EmergencyRefusedError("emergency for cc-prod refused: cooldown; retry in 42s", "cooldown", 42);
        return { jobId: "rotation-1", rotationId: "r-1", joined: false };
      },
    },
    audit: async (e) => void audited.push(e),
    timeoutMs: 5_000,
    warn: () => undefined,
  });
  return { asked, audited, path: socket.path };
}

function post(
  path: string,
  body: string,
  credential = "cc-prod",
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: path,
        method: "POST",
        path: `/v1/credentials/${credential}/rotate`,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const ask = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ emergency: true, reason: "leaked", actor: ACTOR, inventory, ...over });

describe("the worker's local socket", () => {
  it("starts an emergency with the CLI's actor and reason, and audits it as the CLI's request", async () => {
    const w = await worker();
    const answer = await post(w.path, ask());
    expect(answer).toEqual({
      status: 202,
      body: { credentialId: "cc-prod", jobId: "rotation-1", rotationId: "r-1", joined: false },
    });
    expect(w.asked).toEqual([{ credentialId: "cc-prod", emergency: true, actor: ACTOR, reason: "leaked" }]);
    expect(w.audited).toEqual([
      expect.objectContaining({
        event: "rotation.requested",
        actor: ACTOR,
        reason: "leaked",
        rotationId: "r-1",
        socket: true,
      }),
    ]);
  });

  it("refuses what is not a CLI's emergency for its own inventory, and starts nothing", async () => {
    const w = await worker();
    const cases: Array<[string, string, number, string]> = [
      ["an actor of the admin API's shape", ask({ actor: "http:admin@10.0.0.7" }), 400, "bad_request"],
      ["a scheduled-style rotation", ask({ emergency: false }), 400, "bad_request"],
      ["--force without a reason", ask({ force: true, reason: undefined }), 400, "bad_request"],
      ["a field it does not know", ask({ extra: 1 }), 400, "bad_request"],
      ["a relative inventory path", ask({ inventory: "inventory.yaml" }), 400, "bad_request"],
      ["another inventory file", ask({ inventory: join(dir, "other.yaml") }), 409, "other_inventory"],
      ["a body past 16 KiB", ask({ reason: "x".repeat(17_000) }), 413, "too_large"],
      ["not JSON", "{", 400, "bad_request"],
    ];
    for (const [what, body, status, error] of cases) {
      const answer = await post(w.path, body);
      expect({ what, status: answer.status, error: answer.body.error }).toEqual({ what, status, error });
    }
    expect((await post(w.path, ask(), "nope")).body).toMatchObject({ error: "unknown_credential" });
    expect(w.asked).toEqual([]);
    expect(w.audited).toEqual([]);
  });

  it("takes the same inventory named through a link", async () => {
    const w = await worker();
    symlinkSync(inventory, join(dir, "linked.yaml"));
    expect((await post(w.path, ask({ inventory: join(dir, "linked.yaml") }))).status).toBe(202);
  });
});

function capture(): Out & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

/** A fake worker on a socket that answers every request with this status and body. */
async function answering(status: number, body: string): Promise<string> {
  const path = join(dir, "fake.sock");
  fake = createServer((_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((r) => fake?.listen(path, () => r()));
  return path;
}

describe("the CLI's side", () => {
  it("prints what the queued path prints, with socket: true, when the worker started it", async () => {
    await worker();
    const out = capture();
    const code = await emergencyViaWorker(
      join(dir, "kr.sock"),
      "cc-prod",
      { config: inventory, json: true },
      ACTOR,
      out,
    );
    expect(code).toBe(0);
    expect(out.out.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        credential: "cc-prod",
        jobId: "rotation-1",
        rotationId: "r-1",
        joined: false,
        emergency: true,
        actor: ACTOR,
        socket: true,
      },
    ]);
  });

  it("exits 1 with the worker's refusal, and 2 for a credential the worker does not know", async () => {
    await worker(true);
    const out = capture();
    expect(
      await emergencyViaWorker(join(dir, "kr.sock"), "cc-prod", { config: inventory, json: true }, ACTOR, out),
    ).toBe(1);
    expect(JSON.parse(out.out[0] ?? "{}")).toEqual({
      error: {
        code: "emergency_refused",
        message: "emergency for cc-prod refused: cooldown; retry in 42s",
        refusedFor: "cooldown",
        retryAfterSeconds: 42,
      },
    });
    expect(out.err).toEqual(["key-rotator rotate: emergency for cc-prod refused: cooldown; retry in 42s"]);
    const unknown = capture();
    expect(await emergencyViaWorker(join(dir, "kr.sock"), "nope", { config: inventory }, ACTOR, unknown)).toBe(2);
    expect(unknown.err).toEqual([`key-rotator rotate: no credential "nope" in ${inventory}`]);
  });

  it.each([
    [
      "Redis down at the worker",
      503,
      JSON.stringify({ error: "redis_unavailable", message: "Redis does not answer" }),
      "unconfirmed",
    ],
    ["another inventory", 409, JSON.stringify({ error: "other_inventory", message: "…" }), undefined],
    ["an answer that is not JSON", 202, "<html>", "unconfirmed"],
    [
      "a 202 for another credential",
      202,
      JSON.stringify({ credentialId: "cc-other", jobId: "j", rotationId: "r", joined: false }),
      "unconfirmed",
    ],
    [
      "a 202 without a rotation id",
      202,
      JSON.stringify({ credentialId: "cc-prod", jobId: "j", joined: false }),
      "unconfirmed",
    ],
    [
      "a refusal of an unknown kind",
      429,
      JSON.stringify({ error: "emergency_refused", refusedFor: "mood", retryAfterSeconds: 1, message: "m" }),
      undefined,
    ],
    [
      "an answer past 16 KiB",
      202,
      JSON.stringify({ credentialId: "cc-prod", jobId: "j".repeat(20_000), rotationId: "r", joined: false }),
      "unconfirmed",
    ],
    ["a 404 for a route it does not have", 404, JSON.stringify({ error: "not_found", message: "no route" }), undefined],
    ["a 500", 500, JSON.stringify({ error: "internal", message: "boom" }), "unconfirmed"],
  ])("goes through the queue (nothing printed) on %s", async (_what, status, body, through) => {
    // "unconfirmed": the ask may have reached a worker that started it; undefined: it surely did not.
    const path = await answering(status, body);
    const out = capture();
    expect(await emergencyViaWorker(path, "cc-prod", { config: inventory, json: true }, ACTOR, out)).toBe(through);
    expect(out.out).toEqual([]);
  });

  it("goes through the queue when nothing listens at the path", async () => {
    const out = capture();
    expect(
      await emergencyViaWorker(join(dir, "none.sock"), "cc-prod", { config: inventory }, ACTOR, out),
    ).toBeUndefined();
    expect(out.out).toEqual([]);
  });
});
