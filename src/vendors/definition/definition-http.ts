/**
 * Sends one call of a vendor definition: fills its templates, adds management auth where asked,
 * waits out a 429 within bounds, and renews a refused management session once. Knows nothing of
 * keys or rotations (definition-vendor.ts gives each call its meaning).
 *
 * Must not: follow a redirect (httpCall never does), send anywhere but the credential's base URL,
 * put a secret in a URL, or quote a header, a body or an answer in an error.
 */
import {
  ConfigError,
  InvalidStateError,
  OutcomeUnknownError,
  RateLimitedError,
  VendorError,
} from "../../core/errors.js";
import { HttpCallError, type HttpReply, httpCall } from "../../core/http-call.js";
import { type Clock, systemClock } from "../../core/ports.js";
import { SecretValue } from "../../core/secret.js";
import type { AuthDefinition, CallDefinition, VendorDefinition } from "./definition-schema.js";
import { atPointer, render, renderJson } from "./template.js";

export interface DefinitionHttpOptions {
  definition: VendorDefinition;
  baseUrl: string;
  /** The credential's own fields (templates' `fields.*`). */
  fields: Readonly<Record<string, string>>;
  /** The management secret's keys (templates' `secret.*`), read at the moment of use. */
  loadManagementSecret?: () => Promise<Record<string, SecretValue>>;
  clock?: Clock;
  timeoutMs?: number;
  onRequest?: (operation: string, status: number | "error") => void;
  sleep?: (ms: number) => Promise<void>;
  /** Overrides the definition's `rateLimit.maxWait` (tests). */
  maxRateLimitWaitMs?: number;
}

/** Values a call's templates may name besides `fields.*`: `name`, `keyId`, `key.*`. */
export type CallValues = Record<string, string | SecretValue>;

interface Session {
  token: SecretValue;
  expiresAt: number;
  refreshToken: SecretValue | undefined;
  refreshExpiresAt: number;
}

/** A reset further away than this is not believed; the job is simply retried later. */
const MAX_RETRY_AT_MS = 86_400_000;
// Visible ASCII only: anything else cannot go in a header intact (and a trimmed trailing space
// would make a value verify here that other clients cannot use).
const HEADER_SAFE = /^[\x20-\x7e]*$/;

export class DefinitionHttp {
  readonly name: string;
  readonly #o: DefinitionHttpOptions & { clock: Clock; timeoutMs: number; sleep: (ms: number) => Promise<void> };
  readonly #origin: string;
  readonly #base: string;
  #secret: Promise<Record<string, SecretValue>> | undefined;
  #session: Session | undefined;
  #sessionPromise: Promise<Session> | undefined;

  constructor(options: DefinitionHttpOptions) {
    const name = options.definition.name;
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new ConfigError([`baseUrl ${options.baseUrl}: not a URL`]);
    }
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback))
      throw new ConfigError([
        `baseUrl ${options.baseUrl}: ${name} is reached over https:// (plain HTTP would expose keys)`,
      ]);
    if (url.username || url.password || url.search || url.hash)
      throw new ConfigError([`baseUrl ${options.baseUrl}: no user, query or fragment in a base URL`]);
    this.name = name;
    this.#origin = url.origin;
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#o = {
      clock: systemClock,
      timeoutMs: 10_000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...options,
    };
  }

  /**
   * One call; `management` adds the definition's management auth. A 429 is waited out or thrown as
   * RateLimitedError; a transport failure of a call that is not safe to repeat is OutcomeUnknownError.
   */
  async send(
    operation: string,
    call: CallDefinition,
    values: CallValues,
    o: { management: boolean; idempotent?: boolean; path?: string; query?: Record<string, string> },
  ): Promise<HttpReply> {
    const rl = this.#o.definition.rateLimit;
    const maxWait = this.#o.maxRateLimitWaitMs ?? rl.maxWait;
    for (let attempt = 0; ; attempt++) {
      const auth = o.management ? await this.#authHeaders() : {};
      const r = await this.#once(operation, call, values, auth, o);
      if (r.status === 429) {
        const retryAt = this.retryAt(r);
        const wait = retryAt - this.#o.clock.now();
        if (wait > maxWait || attempt >= 3)
          throw new RateLimitedError(
            `${this.name} ${operation}: rate limited until ${new Date(retryAt).toISOString()}`,
            retryAt,
          );
        await this.#o.sleep(Math.max(0, wait));
        continue;
      }
      if (o.management && attempt === 0 && call.status.refused.includes(r.status) && this.#renewable()) {
        this.#session = undefined;
        this.#secret = undefined;
        continue;
      }
      // Refused again with a freshly read secret: no retry will help until a person fixes it.
      if (o.management && call.status.refused.includes(r.status) && this.#renewable())
        throw new VendorError(
          `${this.name} ${operation}: the vendor refused the management credential (${r.status}); check the management secret and its permissions`,
          { retryable: false, status: r.status },
        );
      return r;
    }
  }

  now(): number {
    return this.#o.clock.now();
  }

  /** Throws VendorError unless the answer's status is one of `ok`: 5xx and 408 are retryable. */
  expect(r: HttpReply, ok: number[], operation: string): void {
    if (ok.includes(r.status)) return;
    throw new VendorError(`${this.name} ${operation} answered ${r.status}`, {
      retryable: r.status >= 500 || r.status === 408,
      status: r.status,
    });
  }

  /** When a rate-limited call may be tried again: the reset header, Retry-After, or the fallback. */
  retryAt(r: HttpReply): number {
    const rl = this.#o.definition.rateLimit;
    const now = this.#o.clock.now();
    const reset = rl.reset ? Number(r.headers[rl.reset.header.toLowerCase()]) : Number.NaN;
    let at = now + rl.fallbackWait;
    if (rl.reset && Number.isFinite(reset) && reset >= 0)
      at = rl.reset.unit === "epoch-seconds" ? reset * 1000 + 50 : now + reset * 1000;
    else {
      const hint = r.headers[rl.retryAfter.toLowerCase()];
      const seconds = Number(hint);
      if (hint !== undefined && hint.trim() !== "" && Number.isFinite(seconds) && seconds >= 0)
        at = now + seconds * 1000;
      else if (hint !== undefined && !Number.isNaN(Date.parse(hint))) at = Math.max(now, Date.parse(hint));
    }
    return Math.min(at, now + MAX_RETRY_AT_MS);
  }

  #renewable(): boolean {
    const auth = this.#auth();
    return auth !== undefined && auth.kind !== "none";
  }

  #auth(): AuthDefinition | undefined {
    const d = this.#o.definition;
    return d.flow === "key-api" ? d.management.auth : undefined;
  }

  async #once(
    operation: string,
    call: CallDefinition,
    values: CallValues,
    auth: Record<string, string>,
    o: { idempotent?: boolean; path?: string; query?: Record<string, string> },
  ): Promise<HttpReply> {
    const filled = this.#values(values);
    const path = o.path ?? render(call.path, filled, true);
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(call.query)) query.set(k, render(v, filled));
    for (const [k, v] of Object.entries(o.query ?? {})) query.set(k, v);
    const url = new URL(`${this.#base}${path}${query.size > 0 ? `${path.includes("?") ? "&" : "?"}${query}` : ""}`);
    // Belt to the schema's braces: whatever a path holds, the call goes to the credential's host.
    if (url.origin !== this.#origin || !url.pathname.startsWith(new URL(this.#base).pathname))
      throw new InvalidStateError(`${this.name} ${operation}: the path leaves the credential's base URL; refused`);
    const headers: Record<string, string> = { accept: "application/json" };
    for (const [k, v] of Object.entries(call.headers)) headers[k.toLowerCase()] = render(v, filled);
    if (call.basic)
      headers.authorization = basicAuth(render(call.basic.username, filled), render(call.basic.password, filled));
    // Management auth comes filled already: a secret is never read as a template.
    for (const [k, v] of Object.entries(auth)) headers[k.toLowerCase()] = v;
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(renderJson(call.body, filled));
      headers["content-type"] = "application/json";
    } else if (call.form !== undefined) {
      body = new URLSearchParams(
        Object.entries(call.form).map(([k, v]): [string, string] => [k, render(v, filled)]),
      ).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    for (const [k, v] of Object.entries(headers))
      if (!HEADER_SAFE.test(v))
        throw new InvalidStateError(
          `${this.name} ${operation}: header ${k} would hold characters a header cannot carry; check the stored value's shape`,
        );
    try {
      const reply = await httpCall(url.toString(), {
        method: call.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: this.#o.timeoutMs,
      });
      this.#o.onRequest?.(operation, reply.status);
      return reply;
    } catch (err) {
      this.#o.onRequest?.(operation, "error");
      const why = err instanceof HttpCallError ? err.message : "the connection failed";
      if (o.idempotent === false)
        throw new OutcomeUnknownError(
          `${this.name} ${operation}: ${why} after the request was sent; the outcome is unknown`,
          err,
        );
      throw new VendorError(`${this.name} ${operation}: ${why}`, { retryable: true, cause: err });
    }
  }

  #values(values: CallValues): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#o.fields)) out[`fields.${k}`] = v;
    for (const [k, v] of Object.entries(values)) out[k] = typeof v === "string" ? v : v.reveal();
    return out;
  }

  async #managementSecret(): Promise<Record<string, SecretValue>> {
    const load = this.#o.loadManagementSecret;
    if (!load) return {};
    this.#secret ??= load().catch((err: unknown) => {
      this.#secret = undefined;
      throw err;
    });
    return this.#secret;
  }

  async #authHeaders(): Promise<Record<string, string>> {
    const auth = this.#auth();
    if (!auth || auth.kind === "none") return {};
    if (auth.kind === "login") {
      const s = await this.#sessionNow(auth);
      const session = { "session.token": s.token.reveal() };
      return Object.fromEntries(Object.entries(auth.headers).map(([k, v]) => [k, render(v, session)]));
    }
    // The credential's fields too: an account id is not a secret, but Basic auth may name it.
    const values = { ...this.#values({}), ...prefixed("secret", await this.#managementSecret()) };
    if (auth.kind === "headers")
      return Object.fromEntries(Object.entries(auth.headers).map(([k, v]) => [k, render(v, values)]));
    return { authorization: basicAuth(render(auth.username, values), render(auth.password, values)) };
  }

  /** A valid session: made lazily, renewed ahead of expiry, re-made when renewing fails. */
  async #sessionNow(auth: Extract<AuthDefinition, { kind: "login" }>): Promise<Session> {
    const now = this.#o.clock.now();
    const s = this.#session;
    if (s && now < s.expiresAt - auth.renewAhead) return s;
    this.#sessionPromise ??= (
      s && auth.refresh && s.refreshToken && now < s.refreshExpiresAt
        ? this.#renew(auth, s).catch(() => this.#login(auth))
        : this.#login(auth)
    ).finally(() => {
      this.#sessionPromise = undefined;
    });
    this.#session = await this.#sessionPromise;
    return this.#session;
  }

  async #login(auth: Extract<AuthDefinition, { kind: "login" }>): Promise<Session> {
    const secret = await this.#managementSecret();
    const r = await this.#once("login", auth.login, prefixedSecrets("secret", secret), {}, {});
    if (auth.login.status.refused.includes(r.status))
      throw new VendorError(`${this.name} refused the management login (${r.status}): check the management secret`, {
        retryable: false,
        status: r.status,
      });
    this.expect(r, auth.login.status.ok, "login");
    return this.#sessionFrom(r, auth.login.answer, auth, undefined, "login");
  }

  async #renew(auth: Extract<AuthDefinition, { kind: "login" }>, s: Session): Promise<Session> {
    if (!auth.refresh || !s.refreshToken) throw new InvalidStateError("no refresh");
    const r = await this.#once("refresh", auth.refresh, { "session.refreshToken": s.refreshToken }, {}, {});
    this.expect(r, auth.refresh.status.ok, "refresh");
    return this.#sessionFrom(r, auth.refresh.answer, auth, s, "refresh");
  }

  #sessionFrom(
    r: HttpReply,
    answer: { token: string; refreshToken?: string | undefined; expiresIn: string },
    auth: Extract<AuthDefinition, { kind: "login" }>,
    previous: Session | undefined,
    operation: string,
  ): Session {
    const body = parseJson(r.text);
    const token = atPointer(body, answer.token);
    const expiresIn = Number(atPointer(body, answer.expiresIn));
    const refresh = answer.refreshToken === undefined ? undefined : atPointer(body, answer.refreshToken);
    if (typeof token !== "string" || token === "" || !Number.isFinite(expiresIn) || expiresIn <= 0)
      throw new VendorError(`${this.name} ${operation} answered with an unusable body (no token or lifetime)`, {
        retryable: true,
        status: r.status,
      });
    const now = this.#o.clock.now();
    const fresh = typeof refresh === "string" && refresh !== "";
    return {
      token: new SecretValue(token),
      expiresAt: now + expiresIn * 1000,
      refreshToken: fresh ? new SecretValue(refresh) : previous?.refreshToken,
      refreshExpiresAt: fresh
        ? now + (auth.refreshTokenLifetime ?? Number.POSITIVE_INFINITY) - 60_000
        : (previous?.refreshExpiresAt ?? 0),
    };
  }
}

/** The body as JSON, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function prefixed(ns: string, values: Record<string, SecretValue>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${ns}.${k}`, v.reveal()]));
}

function prefixedSecrets(ns: string, values: Record<string, SecretValue>): CallValues {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${ns}.${k}`, v]));
}
