/**
 * POST /v1/leaks (src/http/leak-webhook.ts) and named admin tokens, over real HTTP: a bad or
 * missing signature gets 401; a leaked value that is a live key starts an emergency with the
 * report's URL as its reason, bounded like any (a refusal still answers 202); no match gets the
 * same 202; GitHub's secret_scanning_alert payload (which names the alert, not the secret) has its
 * secret read from the alert's REST URL; the leaked value is in no answer, log line or audit line.
 */
import { createHash, createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AuditLog, resetAuditLog } from "../../src/audit/audit-log.js";
import { parseAdminTokens, tokenName } from "../../src/http/admin-tokens.js";
import { startHttpServer } from "../../src/http/http-server.js";
import { githubAlertSecret, storeLeakMatcher } from "../../src/http/leak-matcher.js";
import { EmergencyRefusedError } from "../../src/queue/emergency-limits.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { FakeStore } from "../support/fake-ports.js";

const SECRET = "leak-webhook-secret-0123456789";
const LIVE_KEY = "sk_live_THISKEYISLIVE0123456789";
const OLD_KEY = "sk_live_PREVIOUSKEY987654321";
const JC_SECRET = "jc-secret-abcdefghijklmnop";
const DIR = mkdtempSync(join(tmpdir(), "kr-leaks-"));
const AUDIT = join(DIR, "audit.jsonl");

const store = new FakeStore([]);
store.seed("s/cc", "v-1", JSON.stringify({ vendor: "callcov", apiKey: OLD_KEY, keyId: "key_1" }));
store.secrets.get("s/cc")?.push({
  versionId: "v-2",
  stages: [],
  value: JSON.stringify({ vendor: "callcov", apiKey: LIVE_KEY, keyId: "key_2" }),
  createdAt: new Date(),
});
// v-2 current, v-1 previous: both may still work at the vendor.
const versions = store.secrets.get("s/cc") ?? [];
versions[0] = { ...(versions[0] as (typeof versions)[number]), stages: ["AWSPREVIOUS"] };
versions[1] = { ...(versions[1] as (typeof versions)[number]), stages: ["AWSCURRENT"] };
store.seed("s/jc", "j-1", JSON.stringify({ vendor: "justcall", apiKey: "jc-public-key", apiSecret: JC_SECRET }));

const rotations: Array<Record<string, unknown>> = [];
const logs: string[] = [];
let refuseNext = false;
let alerts: Record<string, string> = {};
let server: Awaited<ReturnType<typeof startHttpServer>>;
let github: ReturnType<typeof createServer>;
let githubUrl = "";

beforeAll(async () => {
  github = createServer((req, res) => {
    const secret = req.headers.authorization === "Bearer gh-token" ? alerts[req.url ?? ""] : undefined;
    res.writeHead(secret ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify(secret ? { number: 7, secret } : { message: "Not Found" }));
  });
  await new Promise<void>((r) => github.listen(0, "127.0.0.1", r));
  githubUrl = `http://127.0.0.1:${(github.address() as { port: number }).port}`;
  server = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    registry: createMetrics({ defaultMetrics: false }).registry,
    readyChecks: [],
    adminTokens: parseAdminTokens(
      `# name sha256\nalice ${sha256hex("alice-token-0123456789")}\noncall-bot sha256:${sha256hex("bot-token-0123456789")}\n`,
      "tokens",
    ),
    admin: {
      has: (id) => id === "cc" || id === "jc",
      rotate: async (r) => {
        rotations.push(r);
        if (refuseNext) {
          refuseNext = false;
          throw new EmergencyRefusedError("refused: cooldown", "cooldown", 60);
        }
        return { jobId: `rotation-${r.credentialId}`, rotationId: `r-${r.credentialId}`, joined: false };
      },
    },
    leaks: {
      secret: SECRET,
      match: storeLeakMatcher(store, [
        { id: "cc", secretId: "s/cc" },
        { id: "jc", secretId: "s/jc" },
      ]),
      alertSecret: githubAlertSecret({ token: "gh-token", apiOrigin: githubUrl }),
      log: (fields, message) => logs.push(JSON.stringify({ ...fields, message })),
    },
  });
});
afterAll(async () => {
  await server.close();
  github.close();
  resetAuditLog();
  rmSync(DIR, { recursive: true, force: true });
});
beforeEach(() => {
  rotations.length = 0;
  logs.length = 0;
  resetAuditLog(new AuditLog({ file: AUDIT }));
});

const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");

const sign = (body: string, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

async function report(body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(`${server.url}/v1/leaks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-keyrotator-signature": sign(text), ...headers },
    body: text,
  });
  return { status: res.status, text: await res.text() };
}

function nothingLeaked(...texts: string[]): void {
  const all = [...texts, ...logs, readFileSyncSafe(AUDIT)].join("\n");
  for (const value of [LIVE_KEY, OLD_KEY, JC_SECRET, "sk_live_NOTOURS"]) expect(all).not.toContain(value);
}
function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

describe("POST /v1/leaks", () => {
  it("a missing or wrong signature gets 401 and starts nothing", async () => {
    const body = JSON.stringify({ secret: LIVE_KEY, url: "https://scanner.example/1" });
    for (const signature of [undefined, sign(body, "another-secret-0123456789"), "sha256=zz", sign(`${body} `)]) {
      const res = await fetch(`${server.url}/v1/leaks`, {
        method: "POST",
        headers: signature ? { "x-keyrotator-signature": signature } : {},
        body,
      });
      expect(res.status).toBe(401);
      nothingLeaked(await res.text());
    }
    expect(rotations).toEqual([]);
  });

  it("a live key (current or previous, or a JustCall secret) starts an emergency, the report's URL as reason", async () => {
    const r = await report({ secret: LIVE_KEY, url: "https://scanner.example/incidents/42", source: "gitguardian" });
    expect(r).toEqual({ status: 202, text: '{"status":"accepted"}' });
    expect(rotations).toEqual([
      {
        credentialId: "cc",
        emergency: true,
        reason: "leak reported: https://scanner.example/incidents/42",
        actor: "leak:scanner@127.0.0.1",
      },
    ]);
    await report([{ token: OLD_KEY, type: "callcov_key", url: "https://example.com/blob/1", source: "content" }]);
    await report({ secret: JC_SECRET, url: "https://scanner.example/43" });
    expect(rotations.map((x) => x.credentialId)).toEqual(["cc", "cc", "jc"]);
    nothingLeaked(r.text);
  });

  it("no match: the same 202, nothing started, nothing said about which keys exist", async () => {
    const r = await report({ secret: "sk_live_NOTOURS", url: "https://scanner.example/44" });
    expect(r).toEqual({ status: 202, text: '{"status":"accepted"}' });
    expect(rotations).toEqual([]);
    nothingLeaked(r.text);
  });

  it("bounded like every emergency: a refusal by the cooldown still answers 202, and is the gate's to audit", async () => {
    refuseNext = true;
    const r = await report({ secret: LIVE_KEY, url: "https://scanner.example/45" });
    expect(r.status).toBe(202);
    expect(rotations).toHaveLength(1);
  });

  it("GitHub secret_scanning_alert: the secret is read from the alert's REST URL; other actions are ignored", async () => {
    alerts = { "/repos/acme/app/secret-scanning/alerts/7": LIVE_KEY };
    const payload = {
      action: "created",
      alert: {
        number: 7,
        url: `${githubUrl}/repos/acme/app/secret-scanning/alerts/7`,
        html_url: "https://github.com/acme/app/security/secret-scanning/7",
        secret_type: "callcov_api_key",
        validity: "active",
      },
      repository: { full_name: "acme/app" },
    };
    const text = JSON.stringify(payload);
    const headers = { "x-github-event": "secret_scanning_alert", "x-hub-signature-256": sign(text) };
    const r = await report(text, headers);
    expect(r).toEqual({ status: 202, text: '{"status":"accepted"}' });
    expect(rotations).toEqual([
      expect.objectContaining({
        credentialId: "cc",
        emergency: true,
        reason: "leak reported: https://github.com/acme/app/security/secret-scanning/7",
        actor: "leak:github@127.0.0.1",
      }),
    ]);
    const resolved = JSON.stringify({ ...payload, action: "resolved" });
    expect(
      (await report(resolved, { "x-github-event": "secret_scanning_alert", "x-hub-signature-256": sign(resolved) }))
        .status,
    ).toBe(202);
    const ping = JSON.stringify({ zen: "Keep it logically awesome." });
    expect(await report(ping, { "x-github-event": "ping", "x-hub-signature-256": sign(ping) })).toEqual({
      status: 200,
      text: '{"status":"pong"}',
    });
    expect(rotations).toHaveLength(1);
    nothingLeaked(r.text);
  });

  it("an alert URL outside the configured GitHub API is never fetched", async () => {
    const payload = JSON.stringify({
      action: "created",
      alert: { number: 8, url: "http://169.254.169.254/latest/meta-data/secret-scanning/alerts/8" },
    });
    const r = await report(payload, {
      "x-github-event": "secret_scanning_alert",
      "x-hub-signature-256": sign(payload),
    });
    expect(r.status).toBe(202);
    expect(rotations).toEqual([]);
    expect(logs.join("\n")).toMatch(/could not be read/);
  });

  it("the audit stream records each report, by URL and count, never the value", async () => {
    await report({ secret: LIVE_KEY, url: "https://scanner.example/46" });
    const lines = readFileSync(AUDIT, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({
      event: "leak.reported",
      reason: "https://scanner.example/46",
      matched: 1,
      actor: { name: "scanner", via: "leak", address: "127.0.0.1" },
    });
    nothingLeaked();
  });
});

describe("named admin tokens", () => {
  it("the caller is the token's name and its address", async () => {
    const res = await fetch(`${server.url}/v1/credentials/cc/rotate`, {
      method: "POST",
      headers: { authorization: "Bearer bot-token-0123456789", "content-type": "application/json" },
      body: JSON.stringify({ emergency: true, reason: "pager said so" }),
    });
    expect(res.status).toBe(202);
    expect(rotations.at(-1)).toMatchObject({ actor: "http:oncall-bot@127.0.0.1", reason: "pager said so" });
    const wrong = await fetch(`${server.url}/v1/credentials/cc/rotate`, {
      method: "POST",
      headers: { authorization: "Bearer alice-token-WRONG", "content-type": "application/json" },
      body: JSON.stringify({ emergency: true, reason: "x" }),
    });
    expect(wrong.status).toBe(401);
    expect(readFileSync(AUDIT, "utf8")).toMatch(/"event":"rotation.requested".*"name":"oncall-bot","via":"http"/);
  });

  it("the file: names and hashes, every bad line reported with its number", () => {
    const tokens = parseAdminTokens(`alice ${sha256hex("a-token")}\n`, "f");
    expect(tokenName("a-token", tokens)).toBe("alice");
    expect(tokenName("another", tokens)).toBeUndefined();
    expect(() => parseAdminTokens(`alice nothex\nbob ${sha256hex("x")} extra\nalice ${sha256hex("y")}\n`, "f")).toThrow(
      'f: line 1: expected "<name> <sha256 of the token, 64 hex digits>"; line 2: expected "<name> <sha256 of the token, 64 hex digits>"',
    );
    expect(() => parseAdminTokens("# only a comment\n", "f")).toThrow("f: no token in the file");
  });
});
