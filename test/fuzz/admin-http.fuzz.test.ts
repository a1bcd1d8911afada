/**
 * Fuzzing the worker's HTTP surface (DESIGN.md rule 6, http-server.ts "Must not"): arbitrary
 * methods, request targets, Authorization headers and bodies (strings, JSON, > 16 KiB). The server
 * always answers; the status is the one the documented routing gives; a non-2xx answer is JSON
 * with `error` and `message`, never a stack trace, never the admin token; and only a well-formed
 * body with the right token on /v1/credentials/cc/rotate starts a rotation (202).
 * All traffic goes to 127.0.0.1.
 */
import { request } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
import { startHttpServer } from "../../src/http/http-server.js";
import { RUNS, STACK_FRAME, anyString, visibleAscii } from "./fuzz-support.js";

const TOKEN = "t0ken-0123456789abcdef";
const MAX_BODY = 16 * 1024;
let server: Awaited<ReturnType<typeof startHttpServer>>;
let port = 0;
let rotateCalls = 0;

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    registry: createMetrics({ defaultMetrics: false }).registry,
    readyChecks: [],
    adminToken: TOKEN,
    admin: {
      has: (id) => id === "cc",
      rotate: async () => {
        rotateCalls++;
        return { jobId: "j", rotationId: "r", joined: false };
      },
    },
  });
  port = Number(new URL(server.url).port);
});
afterAll(async () => server.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request on a fresh connection; rejects only on a socket error (which the property forbids). */
function send(method: string, path: string, authorization: string | undefined, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": String(body.length),
          ...(authorization !== undefined ? { authorization } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The body the admin endpoint accepts: a JSON object with a reason and maybe emergency, nothing else. */
function wellFormed(raw: string): boolean {
  let json: unknown;
  try {
    json = raw.length === 0 ? {} : JSON.parse(raw);
  } catch {
    return false;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  if (!Object.keys(o).every((k) => k === "emergency" || k === "reason")) return false;
  if (o.emergency !== undefined && typeof o.emergency !== "boolean") return false;
  if (typeof o.reason !== "string") return false;
  const reason = o.reason.trim();
  return reason.length >= 1 && reason.length <= 500;
}

/** The status the documented routing gives (healthz/readyz/metrics, the admin route, 404 else). */
function expectedStatus(method: string, path: string, authorization: string | undefined, body: Buffer): number {
  // The request target is read as a path, as HTTP means it: up to the query, no normalizing.
  const pathname = path.split("?")[0] ?? "/";
  if (method === "GET" && ["/healthz", "/readyz", "/metrics"].includes(pathname)) return 200;
  const rotate = /^\/v1\/credentials\/([^/]+)\/rotate$/.exec(pathname);
  if (!rotate) return 404;
  if (method !== "POST") return 405;
  try {
    decodeURIComponent(rotate[1] ?? "");
  } catch {
    return 400;
  }
  // The HTTP parser drops spaces and tabs around a header value.
  const presented = /^Bearer (.+)$/.exec((authorization ?? "").replace(/^[ \t]+|[ \t]+$/g, ""))?.[1];
  if (presented !== TOKEN) return 401;
  if (decodeURIComponent(rotate[1] ?? "") !== "cc") return 404;
  if (body.length > MAX_BODY) return 413;
  return wellFormed(body.toString("utf8")) ? 202 : 400;
}

// Two bugs this suite found are fixed (targets starting with // or /\ were read as an authority;
// a malformed %-escape answered 500); their cases stay below as regression tests, and the main
// property now covers such targets too.
function outsideKnownBugs(_path: string): boolean {
  return true;
}

const method = fc.constantFrom("GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");

const segment = fc.oneof(
  fc.constantFrom("cc", "%63c", "%63%63", "cc%2F", "CC", "cc%20", "..", ".", "nope", "cc-prod", "%", "%E0%A4%A"),
  visibleAscii(1, 12).filter((s) => !s.includes("/") && !s.includes("?") && !s.includes("#")),
);
const path = fc
  .oneof(
    fc.constantFrom(
      "/v1/credentials/cc/rotate",
      "/v1/credentials/cc/rotate?x=1",
      "/v1/credentials/cc/rotate#frag",
      "/v1/credentials/cc/rotate/",
      "/v1/credentials/cc/../cc/rotate",
      "/v1/credentials//rotate",
      "/healthz",
      "/readyz",
      "/metrics",
      "/metrics?x",
      "/",
      "/v1",
      "/v1/credentials/cc",
      "/V1/credentials/cc/rotate",
    ),
    segment.map((s) => `/v1/credentials/${s}/rotate`),
    visibleAscii(0, 40).map((s) => `/${s}`),
    fc
      .tuple(visibleAscii(0, 10), visibleAscii(0, 10))
      .map(([a, b]) => `/v1/credentials/cc/rotate${a.startsWith("?") ? a : `?${a}`}#${b}`),
  )
  .filter((p) => !p.includes(TOKEN));

// Header values Node's client accepts: tab and visible ASCII (spaces included).
const headerText = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    fc.constant("\t"),
  ),
  maxLength: 60,
});
const authorization = fc.oneof(
  fc.constant(undefined),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constant(`Bearer ${TOKEN}`),
  fc.constantFrom(
    `bearer ${TOKEN}`,
    `Bearer  ${TOKEN}`,
    `Bearer ${TOKEN} `,
    ` Bearer ${TOKEN}`,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(0, -1)}`,
    TOKEN,
    `Basic ${Buffer.from(`u:${TOKEN}`).toString("base64")}`,
    "Bearer ",
    "Bearer",
    "",
  ),
  headerText,
  headerText.map((s) => `Bearer ${s}`),
);

const reasonish = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom("", " ", "\t\n", "leaked", "x".repeat(500), ` ${"y".repeat(500)} `, "z".repeat(501)),
  anyString,
);
const bodyText = fc.oneof(
  fc.constant(""),
  anyString,
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        emergency: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
        reason: fc.oneof(reasonish, fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.record({ emergency: fc.boolean(), reason: reasonish }, { requiredKeys: ["reason"] }).map((o) => JSON.stringify(o)),
  fc.record({ reason: reasonish, extra: fc.jsonValue({ maxDepth: 1 }) }).map((o) => JSON.stringify(o)),
  fc.constantFrom(
    '{"reason":"x","__proto__":{"emergency":true}}',
    '{"reason":"x","reason":""}',
    '{"emergency":true,"reason":"x"}',
    "null",
    "[]",
    '"reason"',
    "{",
    '\ufeff{"reason":"x"}',
  ),
  // Bigger than the 16 KiB limit, sometimes a valid body padded with spaces.
  fc.integer({ min: MAX_BODY + 1, max: 64 * 1024 }).map((n) => `{"reason":"big"}${" ".repeat(n)}`),
  fc
    .integer({ min: MAX_BODY - 200, max: MAX_BODY + 200 })
    .map((n) => JSON.stringify({ reason: "r".repeat(Math.max(1, n - 14)) })),
);

describe("admin HTTP under fuzzing", () => {
  it("always answers with the routed status, JSON errors without stack or token; only a good request rotates", async () => {
    const seen = new Map<number, number>();
    // One request in five is aimed at the happy path (POST, the right token, a good-looking body),
    // so the 202 branch and its near misses are reached on every run.
    const aimed = fc.tuple(
      fc.constant("POST"),
      fc.constantFrom("/v1/credentials/cc/rotate", "/v1/credentials/%63c/rotate", "/v1/credentials/cc/rotate?x=1"),
      fc.constantFrom(`Bearer ${TOKEN}`, `Bearer ${TOKEN} `),
      fc
        .record({ emergency: fc.boolean(), reason: reasonish }, { requiredKeys: ["reason"] })
        .map((o) => JSON.stringify(o)),
    );
    const random = fc.tuple(method, path.filter(outsideKnownBugs), authorization, bodyText);
    const requestArb = fc.oneof({ weight: 1, arbitrary: aimed }, { weight: 4, arbitrary: random });
    await fc.assert(
      fc.asyncProperty(requestArb, async ([m, p, auth, text]) => {
        const body = Buffer.from(text, "utf8");
        const before = rotateCalls;
        const answer = await send(m, p, auth, body);
        const want = expectedStatus(m, p, auth, body);
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        expect(answer.status, `${m} ${p} auth=${JSON.stringify(auth)} body=${JSON.stringify(text.slice(0, 80))}`).toBe(
          want,
        );
        expect([200, 202, 400, 401, 404, 405, 413]).toContain(answer.status);
        expect(rotateCalls - before).toBe(answer.status === 202 ? 1 : 0);
        expect(answer.text).not.toContain(TOKEN);
        expect(answer.text).not.toMatch(STACK_FRAME);
        if (answer.status === 401) expect(answer.headers["www-authenticate"]).toBe("Bearer");
        if (m === "HEAD" || answer.status === 200) return;
        const json = JSON.parse(answer.text) as Record<string, unknown>;
        if (answer.status === 202) {
          expect(json).toEqual({ credentialId: "cc", jobId: "j", rotationId: "r", joined: false });
        } else {
          expect(typeof json.error).toBe("string");
          expect(typeof json.message).toBe("string");
          // The request body is never echoed (a long body would show whole in the message).
          if (text.length >= 24) expect(json.message).not.toContain(text);
        }
      }),
      { numRuns: RUNS },
    );
    // The generators reach every branch worth reaching.
    for (const status of [202, 400, 401, 404, 405])
      expect(seen.get(status) ?? 0, `status ${status} seen`).toBeGreaterThan(0);
  });

  it("a huge body with the right token is refused with 413 without a socket error, any number of times", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_BODY + 1, max: 256 * 1024 }),
        fc.constantFrom("x", "{", " "),
        async (n, fill) => {
          const before = rotateCalls;
          const answer = await send("POST", "/v1/credentials/cc/rotate", `Bearer ${TOKEN}`, Buffer.alloc(n, fill));
          expect(answer.status).toBe(413);
          expect(JSON.parse(answer.text)).toEqual({
            error: "too_large",
            message: `the body is larger than ${MAX_BODY} bytes`,
          });
          expect(rotateCalls).toBe(before);
        },
      ),
      { numRuns: 50 },
    );
  });

  // BUG (src/http/http-server.ts, handle): the credential segment goes through
  // decodeURIComponent outside any check, so a malformed %-escape throws URIError and the catch-all
  // answers 500 {"error":"internal","message":"URI malformed"} instead of a 400/404. It happens
  // before the token check, so anyone can provoke it. Reproduce:
  //   POST /v1/credentials/%E0%A4%A/rotate (any or no Authorization) -> 500
  //   POST /v1/credentials/%/rotate -> 500
  it("fixed: a malformed %-escape in the credential id answers 400/404, not 500", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("%", "%E0%A4%A", "%zz", "cc%", "%C3"), authorization, async (seg, auth) => {
        const answer = await send("POST", `/v1/credentials/${seg}/rotate`, auth, Buffer.from('{"reason":"x"}'));
        expect([400, 401, 404]).toContain(answer.status);
      }),
      { numRuns: 20 },
    );
  });

  // BUG (src/http/http-server.ts, handle): `new URL(req.url, "http://localhost")` reads a
  // request target that starts with `//` (or `/\`) as an authority. So
  //   POST //anything/v1/credentials/cc/rotate  (right token, good body) -> 202, a rotation starts
  // although the path is not the admin route, and
  //   GET /\[  ->  500 {"error":"internal","message":"Invalid URL"}  (no token needed).
  it("fixed: request targets starting with // or /\\ are routed as paths", async () => {
    const before = rotateCalls;
    const a = await send(
      "POST",
      "//evil.example/v1/credentials/cc/rotate",
      `Bearer ${TOKEN}`,
      Buffer.from('{"reason":"x"}'),
    );
    const b = await send("GET", "/\\[", undefined, Buffer.alloc(0));
    expect({ a: a.status, b: b.status, rotations: rotateCalls - before }).toEqual({ a: 404, b: 404, rotations: 0 });
  });
});
