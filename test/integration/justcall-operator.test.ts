/**
 * The operator-assisted JustCall rotation with a real worker process; the simulator's dashboard
 * surface plays the person who makes and revokes pairs, and `key-rotator submit` hands pairs in.
 */
import type { Server } from "node:http";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it } from "vitest";
import { alertReceiver, until } from "../support/alert-receiver.js";
import { startCli } from "../../src/sandbox/cli-process.js";
import { type World, leaks, startWorld } from "../support/rotation-world.js";

async function submit(world: World, id: string, stdin: string) {
  const p = startCli(["submit", id], { env: world.env, stdin });
  const code = await p.exited;
  return { code, output: p.lines.join("\n") };
}

async function current(world: World, secretId: string) {
  const out = await world.client.send(new GetSecretValueCommand({ SecretId: secretId }));
  return { versionId: out.VersionId, value: JSON.parse(out.SecretString ?? "{}") as { apiKey: string; apiSecret: string } };
}

describe("JustCall operator-assisted rotation", () => {
  let world: World | undefined;
  let hook: Server | undefined;
  afterEach(async () => {
    await world?.close();
    hook?.close();
    world = undefined;
  });

  it("asks for a pair, takes it from submit, promotes it, asks for the old pair's revocation and confirms it", async () => {
    const r = await alertReceiver();
    hook = r.server;
    world = await startWorld({ webhookUrl: r.url, jc: { count: 1, every: "2s", remindEvery: "1s" } });
    const w = world;
    const jc = w.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
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
    expect((await current(w, jc.secretId)).value.apiKey).toBe(pair.apiKey);
    w.sandbox.justcall.revokePair(jc.apiKey);
    await until(async () => (await w.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).every((v) => !v.stages.includes("AWSPENDING")), "the rotation to finish");
    // Alerts are sent in the background: the resolve follows the store's last write.
    await until(() => r.got.some((a) => a.kind === "revoke-old-pair" && a.action === "resolve"), "the resolve of revoke-old-pair", 10_000);
    expect(leaks(w.workers.flatMap((x) => x.lines).join("\n"), w.secrets())).toEqual([]);
    expect(leaks(await w.redisDump(), w.secrets())).toEqual([]);
  });

  it("a pair JustCall refuses is turned away with a clear message and changes nothing", async () => {
    world = await startWorld({ jc: { count: 1 } });
    const jc = world.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const before = await current(world, jc.secretId);
    const refused = await submit(world, jc.id, "abcdef123456:ffffffffffffffffffff\n");
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/JustCall refused this pair \(401: refused: invalid API key or secret\); nothing was stored/);
    expect(await current(world, jc.secretId)).toEqual(before);
    expect((await world.stagesOf({ id: jc.id, secretId: jc.secretId, keyId: "" })).some((v) => v.stages.includes("AWSPENDING"))).toBe(false);
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
    const r = await alertReceiver();
    hook = r.server;
    world = await startWorld({ webhookUrl: r.url, jc: { count: 1, every: "2s", remindEvery: "1s", deadline: "2s" } });
    const w = world;
    const jc = w.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    await w.startWorker();
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    const pair = w.sandbox.justcall.generatePair();
    expect((await submit(w, jc.id, `${pair.apiKey}:${pair.apiSecret}\n`)).code).toBe(0);
    await until(() => r.got.some((a) => a.kind === "revoke-old-pair-overdue" && a.severity === "critical"), "the escalation", 40_000);
  });

  it("a single-pair account: revoke first, then submit; the time without a working pair is reported", async () => {
    const r = await alertReceiver();
    hook = r.server;
    world = await startWorld({ webhookUrl: r.url, jc: { count: 1, every: "2s", remindEvery: "1s", singlePair: true } });
    const w = world;
    const jc = w.jcCreds[0];
    if (!jc) throw new Error("no JustCall credential");
    const worker = await w.startWorker();
    await until(() => r.got.some((a) => a.kind === "pair-needed"), "the pair-needed alert");
    expect(r.got.find((a) => a.kind === "pair-needed")?.summary).toContain("allows one pair: revoke the current pair");
    expect(() => w.sandbox.justcall.generatePair()).toThrow(/one active API key/);
    w.sandbox.justcall.revokePair(jc.apiKey);
    await new Promise((res) => setTimeout(res, 1_500));
    const pair = w.sandbox.justcall.generatePair();
    expect((await submit(w, jc.id, `${pair.apiKey}\n${pair.apiSecret}\n`)).code).toBe(0);
    await worker.waitForLine(/rotation completed/, 30_000);
    const finished = worker.lines.find((l) => l.includes("\"rotation.finished\""));
    expect(finished).toMatch(/no working pair for \d+ s/);
  });
});
