/**
 * The JustCall adapter: asks `GET /v2/account` (seed 000) whether a `key:secret` pair is accepted.
 * JustCall has no key API, so verifying is all the product does there; pairs are made and revoked
 * by a person. A refusal (401) and a forbidden pair (403) are verdicts; anything else that is not
 * a clear answer is a VendorError. Must not: put the pair in an error, a log or a metric label,
 * follow redirects (the Authorization header would travel), or retry by itself.
 */
import { HttpCallError, httpCall } from "../../core/http-call.js";
import { ConfigError, InvalidStateError, RateLimitedError, VendorError } from "../../core/errors.js";
import { type Clock, type KeyVerifier, type Verdict, systemClock } from "../../core/ports.js";
import type { SecretValue } from "../../core/secret.js";

export interface JustCallVerifierOptions {
  baseUrl: string;
  timeoutMs?: number;
  /** Called once per HTTP call with the operation and the status, or "error" when none came. */
  onRequest?: (operation: string, status: number | "error") => void;
  clock?: Clock;
}

export const JUSTCALL_REFUSED_REASON = "refused: invalid API key or secret";
export const JUSTCALL_FORBIDDEN_REASON = "forbidden: the plan or the user has no API access";

/** The seed gives no Retry-After or rate-limit headers; without a hint, try again after this. */
const DEFAULT_RETRY_AFTER_MS = 60_000;
// Visible ASCII only: anything else cannot go in a header intact, and an HTTP client may trim a
// trailing space that JustCall refuses, so a pair other clients cannot use would verify here.
// The stored-value shape allows only [A-Za-z0-9_-] on both sides of the colon anyway.
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export class JustCallVerifier implements KeyVerifier {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #onRequest: JustCallVerifierOptions["onRequest"];
  readonly #clock: Clock;

  constructor(options: JustCallVerifierOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new ConfigError([`baseUrl ${options.baseUrl}: not a URL`]);
    }
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !loopback)
      throw new ConfigError([
        `baseUrl ${options.baseUrl}: JustCall is reached over https://; plain HTTP would expose the pair`,
      ]);
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#onRequest = options.onRequest;
    this.#clock = options.clock ?? systemClock;
  }

  /** `pair` is `api_key:api_secret` (vendorSecretOf). Safe to repeat; throws VendorError when unreachable. */
  async verify(pair: SecretValue): Promise<Verdict> {
    const value = pair.reveal();
    if (!HEADER_SAFE.test(value) || value.indexOf(":") <= 0) {
      throw new InvalidStateError(
        "JustCall verify: the pair is not `api_key:api_secret` in visible ASCII; check the stored value's shape",
      );
    }
    const reply = await this.#get("verify", "/v2/account", value);
    if (reply.status === 401) return { valid: false, status: 401, reason: JUSTCALL_REFUSED_REASON };
    if (reply.status === 403) return { valid: false, status: 403, reason: JUSTCALL_FORBIDDEN_REASON };
    if (reply.status === 429) {
      const retryAt = this.#retryAt(reply.retryAfter);
      throw new RateLimitedError(
        `JustCall verify: rate limited (429); try again after ${new Date(retryAt).toISOString()}`,
        retryAt,
      );
    }
    if (reply.status !== 200) {
      // 5xx and 408 pass; any other status (404, 3xx) means the base URL or the API changed.
      const retryable = reply.status >= 500 || reply.status === 408;
      throw new VendorError(
        `JustCall verify answered ${reply.status}${retryable ? "" : "; check the JustCall base URL"}`,
        { retryable, status: reply.status },
      );
    }
    if (!isSuccess(reply.text)) {
      throw new VendorError('JustCall verify answered 200 with a body that is not `{"status":"success",...}` JSON', {
        retryable: true,
        status: 200,
      });
    }
    return { valid: true };
  }

  async #get(
    operation: string,
    path: string,
    authorization: string,
  ): Promise<{ status: number; text: string; retryAfter: string | null }> {
    try {
      const reply = await httpCall(`${this.#baseUrl}${path}`, {
        method: "GET",
        headers: { authorization, "content-type": "application/json", accept: "application/json" },
        timeoutMs: this.#timeoutMs,
      });
      this.#onRequest?.(operation, reply.status);
      return { status: reply.status, text: reply.text, retryAfter: reply.headers["retry-after"] ?? null };
    } catch (err) {
      this.#onRequest?.(operation, "error");
      const why = err instanceof HttpCallError ? err.message : "the connection failed";
      // The cause is kept for its type and code only; it carries no header.
      throw new VendorError(`JustCall ${operation}: ${why}`, { retryable: true, cause: err });
    }
  }

  #retryAt(retryAfter: string | null): number {
    const now = this.#clock.now();
    return Math.min(this.#hintedRetryAt(retryAfter, now), now + 86_400_000);
  }

  /** Retry-After as seconds or an HTTP date; a hint beyond a day is capped by the caller. */
  #hintedRetryAt(retryAfter: string | null, now: number): number {
    if (retryAfter !== null) {
      const seconds = Number(retryAfter);
      if (retryAfter.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return now + seconds * 1000;
      const date = Date.parse(retryAfter);
      if (!Number.isNaN(date)) return Math.max(now, date);
    }
    return now + DEFAULT_RETRY_AFTER_MS;
  }
}

function isSuccess(text: string): boolean {
  try {
    const body: unknown = JSON.parse(text);
    return typeof body === "object" && body !== null && (body as { status?: unknown }).status === "success";
  } catch {
    return false;
  }
}
