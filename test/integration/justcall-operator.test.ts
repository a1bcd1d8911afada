/**
 * The operator-assisted JustCall rotation with a real worker process; the simulator's dashboard
 * surface plays the person who makes and revokes pairs, and `key-rotator submit` hands pairs in.
 */
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { GetSecretValueCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it } from "vitest";
import type { AwaitingOperator, CredentialStatus } from "../../src/cli/status.command.js";

/** A row of `status --json` (docs/json.md): usage as an object, null for what is absent. */
type StatusRow = Omit<CredentialStatus, "usage" | "awaitingOperator"> & {
  usage: { observable: boolean; perMinute: number | null };
  awaitingOperator: AwaitingOperator | null;
};
import { alertReceiver, until } from "../support/alert-receiver.js";
import { startPrivateRedis } from "../support/private-redis.js";
import { startCli } from "../../src/demo/cli-process.js";
import { type JustCallWorldOptions, type World, leaks, startWorld } from "../support/rotation-world.js";

async function submit(world: World, id: string, stdin: string) {
  const p = startCli(["submit", id], { env: world.env, stdin });
  const code = await p.exited;
  return { code, output: p.lines.join("\n") };
}

async function statusJson(world: World, id: string): Promise<StatusRow> {
  const p = startCli(["status", id, "--json"], { env: world.env });
  expect(await p.exited).toBe(0);
  const line = p.lines.find((l) => l.startsWith("{"));
  const row = (JSON.parse(line ?? "{}") as { credentials?: StatusRow[] }).credentials?.[0];
  if (!row) throw new Error(`no status row in:\n${p.lines.join("\n")}`);
  return row;
}

/**
 * Pieces of secrets in `text`, not only whole values: every word (a run of letters, digits, - and
 * _) of at least `min` characters that occurs inside a secret. `leaks` would miss "key 3fa9…".
 * Four characters suits alerts' words; log lines, full of numbers, are scanned from eight. `shown`
 * are words the alert may carry (the API key's first and last four, as JustCall's dashboard lists
 * it): one of them occurs inside a 36-digit hex secret by chance (CI saw it once), and is no leak.
 * Numbers (a count, a port) are scanned from eight for the same reason.
 */
function fragmentLeaks(text: string, secrets: string[], min = 4, shown: string[] = []): string[] {
  const words = new Set(text.match(/[A-Za-z0-9_-]+/g) ?? []);
  const least = (w: string) => (/^\d+$/.test(w) ? Math.max(min, 8) : min);
  return [...words]
    .filter((w) => w.length >= least(w) && !shown.includes(w) && secrets.some((s) => s.includes(w)))
    .map((w) => `${w.slice(0, 2)}… (${w.length} chars)`);
}

/** Both halves of every JustCall pair the world has seen: keys from the dashboard, secrets as handed out. */
function justcallSecrets(world: World): string[] {
  return [...world.sandbox.justcall.listPairs().map((p) => p.apiKey), ...world.jcSecrets];
}

async function current(world: World, secretId: string) {
  const out = await world.client.send(new GetSecretValueCommand({ SecretId: secretId }));
  return {
    versionId: out.VersionId,
    value: JSON.parse(out.SecretString ?? "{}") as { apiKey: string; apiSecret: string },
  };
}

describe("JustCall operator-assisted rotation", () => {
  let world: World | undefined;
  let hook: Server | undefined;
  let stopRedis: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await world?.close();
    await stopRedis?.();
    hook?.close();
    world = undefined;
    stopRedis = undefined;
  });

  /** A world with one JustCall credential whose alerts go to a local receiver. */
  async function justCallWorld(jcOptions: Partial<JustCallWorldOptions>, extra: { redisUrl?: string } = {}) {
    const r = await alertReceiver();
    hook = r.server;
    const w = (world = await startWorld({ webhookUrl: r.url, ...extra, jc: { count: 1, ...jcOptions } }));
    const jc = w.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    return { r, w, jc };
  }

  it("the leak scan finds a secret's prefix, not only the whole value", () => {
    const key = "3fa9c0d1e2b34a5f6a7b8c9d";
    expect(leaks(`revoke the old pair (key ${key.slice(0, 4)}…)`, [key])).toEqual([]);
    expect(fragmentLeaks(`revoke the old pair (key ${key.slice(0, 4)}…)`, [key])).toHaveLength(1);
    expect(fragmentLeaks(`the pair stored on 2026-03-12 (version ${randomUUID()})`, [key])).toEqual([]);
  });

  it("asks for a pair, takes it from submit, promotes it, asks for the old pair's revocation and confirms it", async () => {
    const { r, w, jc } = await justCallWorld({ every: "2s", remindEvery: "1s" });
    await w.startWorker();
    await until(() => r.got.some((a) => a.credentialId === jc.id && a.kind === "pair-needed"), "the pair-needed alert");
    expect(r.got.find((a) => a.kind === "pair-needed")?.summary).toContain(`key-rotator submit ${jc.id}`);

    const pair = w.sandbox.justcall.generatePair();
    w.jcSecrets.push(pair.apiSecret);
    const submitted = await submit(w, jc.id, `${pair.apiKey}\n${pair.apiSecret}\n`);
    expect(submitted.code).toBe(0);
    expect(submitted.output).toContain("pair accepted by JustCall and staged");
    expect(submitted.output).not.toContain(pair.apiSecret);

    await until(() => r.got.some((a) => a.kind === "revoke-old-pair"), "the revoke-old-pair alert");
    const promoted = await current(w, jc.secretId);
    expect(promoted.value.apiKey).toBe(pair.apiKey);
    const oldVersion = (await w.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).find((v) =>
      v.stages.includes("AWSPREVIOUS"),
    );
    expect(r.got.find((a) => a.kind === "revoke-old-pair")?.summary).toMatch(
      new RegExp(
        `revoke the old pair \\(API key ${jc.apiKey.slice(0, 4)}…${jc.apiKey.slice(-4)}, the pair stored on \\d{4}-\\d{2}-\\d{2}[^)]*, version ${oldVersion?.versionId ?? "?"}\\)`,
      ),
    );
    w.sandbox.justcall.revokePair(jc.apiKey);
    await until(
      async () =>
        (await w.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).every(
          (v) => !v.stages.includes("AWSPENDING"),
        ),
      "the rotation to finish",
    );
    // Alerts are sent in the background: the resolve follows the store's last write.
    await until(
      () => r.got.some((a) => a.kind === "revoke-old-pair" && a.action === "resolve"),
      "the resolve of revoke-old-pair",
      10_000,
    );
    expect(leaks(w.workers.flatMap((x) => x.lines).join("\n"), w.secrets())).toEqual([]);
    expect(leaks(await w.redisDump(), w.secrets())).toEqual([]);
    // The alerts show the old API key's first and last four, as JustCall's dashboard lists it; no
    // longer piece of any key, and nothing of any secret.
    const keyPieces = w.sandbox.justcall.listPairs().flatMap((p) => [p.apiKey.slice(0, 4), p.apiKey.slice(-4)]);
    expect(fragmentLeaks(JSON.stringify(r.got), w.jcSecrets, 4, keyPieces)).toEqual([]);
    expect(fragmentLeaks(JSON.stringify(r.got), justcallSecrets(w), 5)).toEqual([]);
    expect(fragmentLeaks(w.workers.flatMap((x) => x.lines).join("\n"), justcallSecrets(w), 8)).toEqual([]);
    expect(fragmentLeaks(await w.redisDump(), justcallSecrets(w), 8)).toEqual([]);
  });

  it("a pair JustCall refuses is turned away with a clear message and changes nothing", async () => {
    world = await startWorld({ jc: { count: 1 } });
    const jc = world.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const before = await current(world, jc.secretId);
    const refused = await submit(world, jc.id, "abcdef123456:ffffffffffffffffffff\n");
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(
      /JustCall refused this pair \(401: refused: invalid API key or secret\); nothing was stored/,
    );
    expect(await current(world, jc.secretId)).toEqual(before);
    expect(
      (await world.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).some((v) =>
        v.stages.includes("AWSPENDING"),
      ),
    ).toBe(false);
  });

  it.each([
    ["empty input", ""],
    ["one field", "abcdef123456\n"],
    ["extra whitespace", " abcdef123456\nsecretsecret\n"],
    ["binary", "\u0000\u0001\u0002\n\u00ff\n"],
  ])("%s on standard input: exit 2, a clear error, nothing stored", async (_what, input) => {
    world = await startWorld({ jc: { count: 1 } });
    const jc = world.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const before = await current(world, jc.secretId);
    const bad = await submit(world, jc.id, input);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/the pair on standard input is not usable: .+ \(nothing was stored\)/);
    expect(await current(world, jc.secretId)).toEqual(before);
  });

  it("escalates when the old pair is never revoked past the deadline", async () => {
    const { r, w, jc } = await justCallWorld({ every: "2s", remindEvery: "1s", deadline: "2s" });
    await w.startWorker();
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    const pair = w.sandbox.justcall.generatePair();
    expect((await submit(w, jc.id, `${pair.apiKey}:${pair.apiSecret}\n`)).code).toBe(0);
    await until(
      () => r.got.some((a) => a.kind === "revoke-old-pair-overdue" && a.severity === "critical"),
      "the escalation",
      40_000,
    );
    // Reminders keep their own pace (1s here): the router's hour of repeat suppression must not eat them.
    await until(
      () => r.got.filter((a) => a.kind === "revoke-old-pair" && a.action === "trigger").length >= 2,
      "a second reminder",
      10_000,
    );
  });

  it("a single-pair account: revoke first, then submit; the time without a working pair is reported", async () => {
    const { r, w, jc } = await justCallWorld({ every: "2s", remindEvery: "1s", singlePair: true });
    const worker = await w.startWorker();
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    expect(r.got.find((a) => a.kind === "pair-needed")?.summary).toContain("allows one pair: revoke the current pair");
    expect(() => w.sandbox.justcall.generatePair()).toThrow(/one active API key/);
    w.sandbox.justcall.revokePair(jc.apiKey);
    await new Promise((res) => setTimeout(res, 1_500));
    const pair = w.sandbox.justcall.generatePair();
    expect((await submit(w, jc.id, `${pair.apiKey}\n${pair.apiSecret}\n`)).code).toBe(0);
    await worker.waitForLine(/rotation completed/, 30_000);
    const finished = worker.lines.find((l) => l.includes('"rotation.finished"'));
    expect(finished).toMatch(/no working pair for \d+ s/);
  });
  it("submitting the pair already in use is refused: exit 2, nothing stored", async () => {
    world = await startWorld({ jc: { count: 1 } });
    const jc = world.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const before = await current(world, jc.secretId);
    const stagesBefore = await world.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" });
    const same = await submit(world, jc.id, `${jc.apiKey}\n${jc.apiSecret}\n`);
    expect(same.code).toBe(2);
    expect(same.output).toContain(
      `this is the pair already in use by ${jc.id}; generate a new pair in JustCall (Settings → API & Webhooks) first`,
    );
    expect(fragmentLeaks(same.output, [jc.apiKey, jc.apiSecret])).toEqual([]);
    expect(await current(world, jc.secretId)).toEqual(before);
    expect(await world.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).toEqual(stagesBefore);
  });

  it("the worker never promotes a staged pair that is the current one: it unstages it and asks again", async () => {
    const { r, w, jc } = await justCallWorld({ remindEvery: "1s" });
    const worker = await w.startWorker();
    await w.enqueue(jc.id);
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    const before = await current(w, jc.secretId);
    // Written straight into the store, past `submit` and its own check.
    await w.client.send(
      new PutSecretValueCommand({
        SecretId: jc.secretId,
        ClientRequestToken: randomUUID(),
        VersionStages: ["AWSPENDING"],
        SecretString: JSON.stringify({ vendor: "justcall", apiKey: jc.apiKey, apiSecret: jc.apiSecret }),
      }),
    );
    await until(() => r.got.some((a) => a.kind === "pair-already-current"), "the pair-already-current alert");
    await until(
      async () =>
        (await w.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).every(
          (v) => !v.stages.includes("AWSPENDING"),
        ),
      "the pair to be unstaged",
    );
    expect(await current(w, jc.secretId)).toEqual(before);
    expect(r.got.some((a) => a.kind === "revoke-old-pair")).toBe(false);
    expect(w.sandbox.justcall.listPairs().find((p) => p.apiKey === jc.apiKey)?.active).toBe(true);
    await worker.waitForLine(/awaiting a new pair from an operator/);
    expect(fragmentLeaks(JSON.stringify(r.got) + worker.lines.join("\n"), [jc.apiKey, jc.apiSecret])).toEqual([]);
  }, 60_000);

  it("Redis flushed while the old pair's revocation is awaited: the worker keeps waiting for it and asks for no new pair", async () => {
    const r = await alertReceiver();
    hook = r.server;
    const privateRedis = await startPrivateRedis();
    stopRedis = privateRedis.stop;
    world = await startWorld({ webhookUrl: r.url, redisUrl: privateRedis.url, jc: { count: 1, remindEvery: "1s" } });
    const w = world;
    const jc = w.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const worker = await w.startWorker();
    await w.enqueue(jc.id);
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    const pair = w.sandbox.justcall.generatePair();
    w.jcSecrets.push(pair.apiSecret);
    expect((await submit(w, jc.id, `${pair.apiKey}\n${pair.apiSecret}\n`)).code).toBe(0);
    await until(() => r.got.some((a) => a.kind === "revoke-old-pair"), "the revoke-old-pair alert");
    await until(
      () => r.got.some((a) => a.kind === "pair-needed" && a.action === "resolve"),
      "the resolve of pair-needed",
    );

    const alertsBefore = r.got.length;
    const linesBefore = worker.lines.length;
    await w.redis.flushall();
    const since = () => worker.lines.slice(linesBefore);
    await until(
      () => since().some((l) => l.includes('"due-check.resume"')),
      "the due check to resume the rotation from the store",
    );
    await until(
      () => since().some((l) => l.includes("awaiting the revocation of the old pair")),
      "the resumed rotation to wait for the revocation",
      20_000,
    );
    expect(since().some((l) => l.includes("awaiting a new pair"))).toBe(false);
    expect(r.got.slice(alertsBefore).filter((a) => a.kind === "pair-needed")).toEqual([]);

    w.sandbox.justcall.revokePair(jc.apiKey);
    await until(
      async () =>
        (await w.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).every(
          (v) => !v.stages.includes("AWSPENDING"),
        ),
      "the rotation to finish",
    );
    await worker.waitForLine((l) => l.includes('"rotation.finished"') && l.includes("completed"));
    expect((await current(w, jc.secretId)).value.apiKey).toBe(pair.apiKey);
    expect(r.got.slice(alertsBefore).filter((a) => a.kind === "pair-needed")).toEqual([]);
    expect(w.sandbox.justcall.stats().generated).toBe(2);
  }, 60_000);

  it("status shows a rotation waiting on a person: since when, and the deadline", async () => {
    const { r, w, jc } = await justCallWorld({ remindEvery: "1s", deadline: "2h" });
    await w.startWorker();
    await w.enqueue(jc.id);
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    // The job's data is saved just after the alert goes out.
    let waitingForPair = await statusJson(w, jc.id);
    await until(
      async () => (waitingForPair = await statusJson(w, jc.id)).awaitingOperator !== null,
      "status to show the wait",
    );
    expect(waitingForPair.awaitingOperator).toMatchObject({ for: "new-pair", overdue: false });
    expect(waitingForPair.usage).toEqual({ observable: false, perMinute: null });
    const since = Date.parse(waitingForPair.awaitingOperator?.since ?? "");
    expect(Date.now() - since).toBeLessThan(60_000);
    expect(Date.parse(waitingForPair.awaitingOperator?.deadline ?? "") - since).toBe(2 * 3_600_000);
    const human = startCli(["status", jc.id], { env: w.env });
    expect(await human.exited).toBe(0);
    expect(human.lines.join("\n")).toMatch(/awaiting operator \(a new pair\) since \S+Z, deadline \S+Z/);

    const pair = w.sandbox.justcall.generatePair();
    w.jcSecrets.push(pair.apiSecret);
    expect((await submit(w, jc.id, `${pair.apiKey}\n${pair.apiSecret}\n`)).code).toBe(0);
    await until(() => r.got.some((a) => a.kind === "revoke-old-pair"), "the revoke-old-pair alert");
    let waitingForRevoke = await statusJson(w, jc.id);
    await until(
      async () => (waitingForRevoke = await statusJson(w, jc.id)).inFlight?.step === "await-revoke",
      "status to show await-revoke",
    );
    expect(waitingForRevoke.awaitingOperator).toMatchObject({ for: "old-pair-revocation", overdue: false });
    const revokeSince = Date.parse(waitingForRevoke.awaitingOperator?.since ?? "");
    expect(revokeSince).toBeGreaterThanOrEqual(since);
    expect(Date.parse(waitingForRevoke.awaitingOperator?.deadline ?? "") - revokeSince).toBe(2 * 3_600_000);
  }, 60_000);
});
