/**
 * The CallCov adapter: single calls to CallCov's API (create, verify, revoke, list keys), per
 * seeds 001/002. Key management uses a JWT session from the management login, refreshed five
 * minutes before the access token expires and re-made when the refresh token has expired. A 429
 * waits for X-RateLimit-Reset (bounded) and retries. Knows nothing of stores, alerts or order.
 * Must not: put a key, password or token in an error message or log.
 */
import { z } from "zod";
import {
  ConfigError,
  InvalidStateError,
  OutcomeUnknownError,
  RateLimitedError,
  VendorError,
} from "../../core/errors.js";
import {
  type Clock,
  type CreatedKey,
  type KeyApiVendor,
  type ListedKey,
  type UsageSample,
  type Verdict,
  systemClock,
} from "../../core/ports.js";
import { HttpCallError, type HttpReply, httpCall } from "../../core/http-call.js";
import { SecretValue } from "../../core/secret.js";

export interface CallCovVendorOptions {
  baseUrl: string;
  mode: "live" | "test";
  loadLogin: () => Promise<{ email: string; password: SecretValue }>;
  clock?: Clock;
  timeoutMs?: number;
  onRequest?: (operation: string, status: number | "error") => void;
  sleep?: (ms: number) => Promise<void>;
  maxRateLimitWaitMs?: number;
}

const REFRESH_AHEAD_MS = 5 * 60_000;
const loginBody = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.number().positive(),
});
const refreshBody = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().positive(),
});
/** Key ids go into URL paths: printable ASCII only. */
const keyId = z.string().regex(/^[\x21-\x7e]{1,200}$/, "expected a key id of printable ASCII characters");
const createdBody = z.object({ id: keyId, name: z.string(), key: z.string().min(1), created_at: z.string() });
const listBody = z.object({
  data: z.array(z.object({ id: keyId, name: z.string(), created_at: z.string() })),
  // DESIGN.md: the list pages; a vendor that does not page sends no next_cursor (or null).
  next_cursor: z.string().min(1).max(2_000).nullable().optional(),
});
/**
 * A bounded read of the key list: each page is capped by httpCall (8 MiB), and the whole by a count
 * of pages and keys far above any account (a million keys), so a vendor that pages forever or
 * loops its cursor ends in an error instead of an endless read.
 */
const MAX_LIST_PAGES = 10_000;
const MAX_LIST_KEYS = 1_000_000;
/** A reset further away than this is not believed; the job is simply retried later. */
const MAX_RETRY_AT_MS = 86_400_000;

interface Session {
  access: SecretValue;
  accessExpires: number;
  refresh: SecretValue;
  refreshExpires: number;
}
type Reply = HttpReply;
type Auth = { kind: "management" } | { kind: "key"; key: SecretValue } | { kind: "none" };

export class CallCovVendor implements KeyApiVendor {
  readonly #o: Required<Omit<CallCovVendorOptions, "onRequest">> & Pick<CallCovVendorOptions, "onRequest">;
  #session: Session | undefined;
  #sessionPromise: Promise<Session> | undefined;

  constructor(options: CallCovVendorOptions) {
    const url = new URL(options.baseUrl);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !loopback)
      throw new ConfigError([`baseUrl ${options.baseUrl}: CallCov rejects plain HTTP; use https://`]);
    this.#o = {
      clock: systemClock,
      timeoutMs: 10_000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      maxRateLimitWaitMs: 70_000,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
  }

  async createKey(name: string): Promise<CreatedKey> {
    const r = await this.#request(
      "create",
      "POST",
      "/api/v1/api-keys/",
      { kind: "management" },
      JSON.stringify({ name }),
      false,
    );
    if (r.status === 403)
      throw new VendorError(
        "CallCov refused to create a key (403): the management login lacks permission or the plan has no key API",
        { retryable: false, status: 403 },
      );
    this.#expect(r, [201, 200], "create");
    const parsed = parseBody(r.text, createdBody);
    // The key may exist even though the answer is unusable: the rotation's retry cleans it up by name.
    if (!parsed.ok)
      throw new OutcomeUnknownError(
        `CallCov create key answered ${r.status} with an unusable body (${parsed.problem})`,
      );
    const key = new SecretValue(parsed.value.key);
    if (!parsed.value.key.startsWith(`sk_${this.#o.mode}_`)) {
      await this.revokeKey(parsed.value.id);
      throw new InvalidStateError(
        `CallCov made key ${parsed.value.id} of the wrong mode for a ${this.#o.mode} credential (expected sk_${this.#o.mode}_…); it was revoked`,
      );
    }
    return {
      keyId: parsed.value.id,
      name: parsed.value.name,
      key,
      createdAt: dateOr(parsed.value.created_at, this.#o.clock.now()),
    };
  }

  async verify(key: SecretValue): Promise<Verdict> {
    const r = await this.#request("verify", "GET", "/api/v1/health", { kind: "key", key });
    if (r.status === 401) return { valid: false, status: 401, reason: "refused: invalid or missing API key" };
    if (r.status === 403)
      return { valid: false, status: 403, reason: "forbidden: the key lacks permission for this resource" };
    this.#expect(r, [200], "verify");
    if (!parseBody(r.text, z.unknown()).ok)
      throw new VendorError("CallCov health answered 200 with a body that is not JSON", {
        retryable: true,
        status: 200,
      });
    const usage = usageFrom(r.headers);
    return usage ? { valid: true, usage } : { valid: true };
  }

  async revokeKey(keyId: string): Promise<"revoked" | "already-gone"> {
    const r = await this.#request("revoke", "DELETE", `/api/v1/api-keys/${encodeURIComponent(keyId)}`, {
      kind: "management",
    });
    if (r.status === 404) return "already-gone";
    this.#expect(r, [204, 200], "revoke");
    return "revoked";
  }

  async listKeys(options: { limit?: number } = {}): Promise<ListedKey[]> {
    const keys: ListedKey[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 1; ; page++) {
      const path = `/api/v1/api-keys/${cursor === undefined ? "" : `?cursor=${encodeURIComponent(cursor)}`}`;
      const r = await this.#request("list", "GET", path, { kind: "management" });
      this.#expect(r, [200], "list");
      const parsed = parseBody(r.text, listBody);
      if (!parsed.ok)
        throw new VendorError(`CallCov list keys answered with an unusable body (${parsed.problem})`, {
          retryable: true,
          status: r.status,
        });
      for (const k of parsed.value.data) keys.push({ keyId: k.id, name: k.name, createdAt: dateOr(k.created_at, 0) });
      const next = parsed.value.next_cursor ?? undefined;
      if (next === undefined || keys.length >= (options.limit ?? Number.POSITIVE_INFINITY)) return keys;
      if (seen.has(next))
        throw new VendorError(`CallCov list keys: page ${page} names a cursor already read (a loop)`, {
          retryable: true,
        });
      if (page >= MAX_LIST_PAGES || keys.length >= MAX_LIST_KEYS)
        throw new VendorError(
          `CallCov list keys: more than ${MAX_LIST_PAGES} pages or ${MAX_LIST_KEYS} keys; the read was stopped`,
          { retryable: false },
        );
      seen.add(next);
      cursor = next;
    }
  }

  #expect(r: Reply, ok: number[], operation: string): void {
    if (ok.includes(r.status)) return;
    throw new VendorError(`CallCov ${operation} answered ${r.status}`, {
      retryable: r.status >= 500 || r.status === 408,
      status: r.status,
    });
  }

  /** One HTTP call with auth, timeout, 429 waits and one re-login on a refused session. */
  async #request(
    operation: string,
    method: string,
    path: string,
    auth: Auth,
    body?: string,
    idempotent = true,
  ): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (auth.kind === "key") headers["x-api-key"] = auth.key.reveal();
      if (auth.kind === "management") headers.authorization = `Bearer ${(await this.#token()).reveal()}`;
      const r = await this.#send(operation, method, path, headers, body, idempotent);
      if (r.status === 429) {
        const reset = Number(r.headers["x-ratelimit-reset"]);
        const now = this.#o.clock.now();
        const retryAt =
          Number.isFinite(reset) && reset > 0 ? Math.min(reset * 1000 + 50, now + MAX_RETRY_AT_MS) : now + 1_000;
        const wait = retryAt - this.#o.clock.now();
        if (wait > this.#o.maxRateLimitWaitMs || attempt >= 3)
          throw new RateLimitedError(
            `CallCov ${operation}: rate limited until ${new Date(retryAt).toISOString()}`,
            retryAt,
          );
        await this.#o.sleep(Math.max(0, wait));
        continue;
      }
      if (r.status === 401 && auth.kind === "management" && attempt === 0) {
        this.#session = undefined;
        continue;
      }
      return r;
    }
  }

  async #send(
    operation: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    idempotent: boolean,
  ): Promise<Reply> {
    let reply: Reply;
    try {
      // Never follows a redirect: the key or the session token in the headers would travel with it.
      reply = await httpCall(`${this.#o.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: this.#o.timeoutMs,
      });
    } catch (err) {
      this.#o.onRequest?.(operation, "error");
      const why = err instanceof HttpCallError ? err.message : "the connection failed";
      if (!idempotent)
        throw new OutcomeUnknownError(
          `CallCov ${operation}: ${why} after the request was sent; the outcome is unknown`,
          err,
        );
      throw new VendorError(`CallCov ${operation}: ${why}`, { retryable: true, cause: err });
    }
    this.#o.onRequest?.(operation, reply.status);
    return reply;
  }

  /** A valid access token: logged in lazily, refreshed ahead of expiry, re-made when refresh fails. */
  async #token(): Promise<SecretValue> {
    const now = this.#o.clock.now();
    const s = this.#session;
    if (s && now < s.accessExpires - REFRESH_AHEAD_MS) return s.access;
    this.#sessionPromise ??= (
      s && now < s.refreshExpires ? this.#refresh(s).catch(() => this.#login()) : this.#login()
    ).finally(() => {
      this.#sessionPromise = undefined;
    });
    this.#session = await this.#sessionPromise;
    return this.#session.access;
  }

  async #login(): Promise<Session> {
    const login = await this.#o.loadLogin();
    const r = await this.#send(
      "login",
      "POST",
      "/api/v1/auth/login",
      { "content-type": "application/json" },
      JSON.stringify({ email: login.email, password: login.password.reveal() }),
      true,
    );
    if (r.status === 401)
      throw new VendorError("CallCov refused the management login (401): check the management secret", {
        retryable: false,
        status: 401,
      });
    this.#expect(r, [200], "login");
    const parsed = parseBody(r.text, loginBody);
    if (!parsed.ok)
      throw new VendorError(`CallCov login answered with an unusable body (${parsed.problem})`, {
        retryable: true,
        status: r.status,
      });
    const now = this.#o.clock.now();
    return {
      access: new SecretValue(parsed.value.access_token),
      accessExpires: now + parsed.value.expires_in * 1000,
      refresh: new SecretValue(parsed.value.refresh_token),
      refreshExpires: now + 7 * 86_400_000 - 60_000,
    };
  }

  async #refresh(s: Session): Promise<Session> {
    const r = await this.#send(
      "refresh",
      "POST",
      "/api/v1/auth/refresh",
      { "content-type": "application/json" },
      JSON.stringify({ refresh_token: s.refresh.reveal() }),
      true,
    );
    this.#expect(r, [200], "refresh");
    const parsed = parseBody(r.text, refreshBody);
    if (!parsed.ok)
      throw new VendorError(`CallCov refresh answered with an unusable body (${parsed.problem})`, {
        retryable: true,
        status: r.status,
      });
    const now = this.#o.clock.now();
    return {
      access: new SecretValue(parsed.value.access_token),
      accessExpires: now + parsed.value.expires_in * 1000,
      refresh: parsed.value.refresh_token ? new SecretValue(parsed.value.refresh_token) : s.refresh,
      refreshExpires: parsed.value.refresh_token ? now + 7 * 86_400_000 - 60_000 : s.refreshExpires,
    };
  }
}

function parseBody<T>(text: string, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "not JSON" };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    problem: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
  };
}

function usageFrom(h: Record<string, string>): UsageSample | undefined {
  const limit = Number(h["x-ratelimit-limit"]);
  const remaining = Number(h["x-ratelimit-remaining"]);
  const resetAt = Number(h["x-ratelimit-reset"]);
  if (![limit, remaining, resetAt].every((n) => Number.isFinite(n)) || h["x-ratelimit-limit"] === undefined)
    return undefined;
  return { limit, remaining, resetAt };
}

function dateOr(text: string, fallback: number): Date {
  const t = Date.parse(text);
  return new Date(Number.isNaN(t) ? fallback : t);
}
