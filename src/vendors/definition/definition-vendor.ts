/**
 * A vendor's adapter made from its definition: create, list, revoke and verify, each one call (or
 * one call per page) through DefinitionHttp, its answer read with the definition's pointers and
 * statuses. Knows nothing of stores, alerts or order (the flows decide those).
 *
 * The key the engine hands `verify` is the key's parts as JSON (`keyPartsSecret`), so a vendor
 * whose verify needs an id besides the secret (Twilio's SK… and its secret) is served as well as
 * one that takes a single key.
 *
 * Must not: put a key, a token or an answer's text in an error or a log.
 */
import { InvalidStateError, OutcomeUnknownError, VendorError } from "../../core/errors.js";
import type { HttpReply } from "../../core/http-call.js";
import type { CreatedKey, KeyApiVendor, KeyVerifier, ListedKey, UsageSample, Verdict } from "../../core/ports.js";
import { SecretValue } from "../../core/secret.js";
import { type DefinitionHttp, parseJson } from "./definition-http.js";
import type { KeyApiDefinition, VendorDefinition, VerifyCallDefinition } from "./definition-schema.js";
import { atPointer, render } from "./template.js";

/**
 * A bounded read of the key list: each page is capped by httpCall (8 MiB), and the whole by a count
 * of pages and keys far above any account, so a vendor that pages forever or loops its cursor ends
 * in an error instead of an endless read.
 */
const MAX_LIST_PAGES = 10_000;
const MAX_LIST_KEYS = 1_000_000;
/** Key ids go into URL paths: printable ASCII only. */
const KEY_ID = /^[\x21-\x7e]{1,200}$/;

/** The secret verify takes: a key's parts (`id` and `secret`, or an operator key's parts) as JSON. */
export function keyPartsSecret(parts: Record<string, string>): SecretValue {
  return new SecretValue(JSON.stringify(parts));
}

export class DefinitionVerifier implements KeyVerifier {
  constructor(
    protected readonly http: DefinitionHttp,
    protected readonly definition: VendorDefinition,
  ) {}

  async verify(key: SecretValue): Promise<Verdict> {
    const call: VerifyCallDefinition = this.definition.calls.verify;
    const r = await this.http.send("verify", call, keyValues(key, this.http.name), { management: false });
    if (call.status.refused.includes(r.status))
      return { valid: false, status: r.status, reason: `refused: ${call.reasons.refused}` };
    if (call.status.forbidden.includes(r.status))
      return { valid: false, status: r.status, reason: `forbidden: ${call.reasons.forbidden}` };
    this.http.expect(r, call.status.ok, "verify");
    const body = parseJson(r.text);
    const expect = call.expect;
    if (body === undefined || (expect !== undefined && atPointer(body, expect.pointer) !== expect.equals))
      throw new VendorError(
        `${this.definition.name} verify answered ${r.status} with a body that is not the documented answer`,
        { retryable: true, status: r.status },
      );
    const usage = usageFrom(this.definition, r, this.http.now());
    return usage ? { valid: true, usage } : { valid: true };
  }
}

export class DefinitionKeyApi extends DefinitionVerifier implements KeyApiVendor {
  readonly #d: KeyApiDefinition;
  readonly #prefix: string | undefined;

  constructor(http: DefinitionHttp, definition: KeyApiDefinition, fields: Readonly<Record<string, string>>) {
    super(http, definition);
    this.#d = definition;
    const values = Object.fromEntries(Object.entries(fields).map(([k, v]) => [`fields.${k}`, v]));
    this.#prefix = definition.key.prefix === undefined ? undefined : render(definition.key.prefix, values);
  }

  async createKey(name: string): Promise<CreatedKey> {
    const call = this.#d.calls.create;
    const r = await this.http.send("create", call, { name }, { management: true, idempotent: false });
    if (call.status.forbidden.includes(r.status))
      throw new VendorError(
        `${this.#d.name} refused to create a key (${r.status}): the management credential lacks permission or the plan has no key API`,
        { retryable: false, status: r.status },
      );
    this.http.expect(r, call.status.ok, "create");
    const body = parseJson(r.text);
    const key = atPointer(body, call.answer.key);
    const keyId = idAt(body, call.answer.id);
    // The key may exist though the answer is unusable: the rotation's retry cleans it up by name.
    if (typeof key !== "string" || key === "" || keyId === undefined)
      throw new OutcomeUnknownError(
        `${this.#d.name} create key answered ${r.status} with an unusable body (no key or key id where the definition says)`,
      );
    if (this.#prefix !== undefined && !key.startsWith(this.#prefix)) {
      await this.revokeKey(keyId);
      throw new InvalidStateError(
        `${this.#d.name} made key ${keyId} without the expected prefix ${this.#prefix}…; it was revoked`,
      );
    }
    const named = call.answer.name === undefined ? name : atPointer(body, call.answer.name);
    return {
      keyId,
      name: typeof named === "string" ? named : name,
      key: new SecretValue(key),
      createdAt: dateAt(body, call.answer.createdAt, this.http.now()),
    };
  }

  async revokeKey(keyId: string): Promise<"revoked" | "already-gone"> {
    if (!KEY_ID.test(keyId)) throw new InvalidStateError(`${this.#d.name} revoke: key id is not printable ASCII`);
    const call = this.#d.calls.revoke;
    const r = await this.http.send("revoke", call, { keyId }, { management: true });
    if (call.status.gone.includes(r.status)) return "already-gone";
    this.http.expect(r, call.status.ok, "revoke");
    return "revoked";
  }

  async listKeys(options: { limit?: number } = {}): Promise<ListedKey[]> {
    const call = this.#d.calls.list;
    const pages = call.pages;
    const keys: ListedKey[] = [];
    const seen = new Set<string>();
    let next: { path?: string; query?: Record<string, string> } = {};
    for (let page = 1; ; page++) {
      const r = await this.http.send("list", call, {}, { management: true, ...next });
      this.http.expect(r, call.status.ok, "list");
      const body = parseJson(r.text);
      const items = atPointer(body, call.answer.items);
      if (!Array.isArray(items))
        throw new VendorError(
          `${this.#d.name} list keys answered with an unusable body (no list where the definition says)`,
          {
            retryable: true,
            status: r.status,
          },
        );
      for (const item of items) {
        const keyId = idAt(item, call.answer.id);
        if (keyId === undefined)
          throw new VendorError(`${this.#d.name} list keys: an entry has no usable key id`, {
            retryable: true,
            status: r.status,
          });
        const named = call.answer.name === undefined ? undefined : atPointer(item, call.answer.name);
        keys.push({
          keyId,
          name: typeof named === "string" ? named : "",
          // A vendor that reports no creation time: the key counts as just made, so the orphan
          // sweep leaves it alone while a rotation of its credential is in flight.
          createdAt: dateAt(item, call.answer.createdAt, this.http.now()),
        });
      }
      const limitReached = keys.length >= (options.limit ?? Number.POSITIVE_INFINITY);
      const following = pages === undefined || limitReached ? undefined : nextPage(pages, body, page, items.length);
      if (following === undefined) return keys;
      const token = JSON.stringify(following);
      if (seen.has(token))
        throw new VendorError(`${this.#d.name} list keys: page ${page} names a page already read (a loop)`, {
          retryable: true,
        });
      if (page >= MAX_LIST_PAGES || keys.length >= MAX_LIST_KEYS)
        throw new VendorError(
          `${this.#d.name} list keys: more than ${MAX_LIST_PAGES} pages or ${MAX_LIST_KEYS} keys; the read was stopped`,
          { retryable: false },
        );
      seen.add(token);
      next = following;
    }
  }
}

/** Where the next page is, or undefined after the last one. */
function nextPage(
  pages: NonNullable<KeyApiDefinition["calls"]["list"]["pages"]>,
  body: unknown,
  page: number,
  count: number,
): { path?: string; query?: Record<string, string> } | undefined {
  if ("cursor" in pages) {
    const cursor = atPointer(body, pages.cursor.answer);
    if (cursor === null || cursor === undefined || cursor === "") return undefined;
    if (typeof cursor !== "string" || cursor.length > 2_000)
      throw new VendorError("list keys: the next-page cursor is not a short string", { retryable: true });
    return { query: { [pages.cursor.query]: cursor } };
  }
  if ("nextPath" in pages) {
    const path = atPointer(body, pages.nextPath);
    if (path === null || path === undefined || path === "") return undefined;
    // A next page is a path on the same host; an absolute URL or a scheme-relative one is refused.
    if (typeof path !== "string" || !/^\/(?!\/)[\x21-\x7e]{0,2000}$/.test(path))
      throw new VendorError("list keys: the next-page path is not a path on the credential's host", {
        retryable: false,
      });
    return { path };
  }
  if (count === 0) return undefined;
  return { query: { [pages.number.query]: String(pages.number.first + page) } };
}

function keyValues(key: SecretValue, vendor: string): Record<string, SecretValue> {
  const parts = parseJson(key.reveal());
  if (parts === null || typeof parts !== "object" || Array.isArray(parts))
    throw new InvalidStateError(
      `${vendor} verify: the key is not in the engine's parts form; check the stored value's shape`,
    );
  const out: Record<string, SecretValue> = {};
  for (const [k, v] of Object.entries(parts)) if (typeof v === "string") out[`key.${k}`] = new SecretValue(v);
  return out;
}

function idAt(doc: unknown, pointer: string): string | undefined {
  const v = atPointer(doc, pointer);
  const id = typeof v === "number" && Number.isSafeInteger(v) ? String(v) : v;
  return typeof id === "string" && KEY_ID.test(id) ? id : undefined;
}

function dateAt(doc: unknown, pointer: string | undefined, fallback: number): Date {
  const v = pointer === undefined ? undefined : atPointer(doc, pointer);
  const t = typeof v === "string" ? Date.parse(v) : Number.NaN;
  return new Date(Number.isNaN(t) ? fallback : t);
}

function usageFrom(d: VendorDefinition, r: HttpReply, now: number): UsageSample | undefined {
  const rl = d.rateLimit;
  if (!rl.perKey || !rl.limit || !rl.remaining || !rl.reset) return undefined;
  const limitText = r.headers[rl.limit.toLowerCase()];
  const limit = Number(limitText);
  const remaining = Number(r.headers[rl.remaining.toLowerCase()]);
  const reset = Number(r.headers[rl.reset.header.toLowerCase()]);
  if (limitText === undefined || ![limit, remaining, reset].every((n) => Number.isFinite(n))) return undefined;
  const resetAt = rl.reset.unit === "epoch-seconds" ? reset : Math.floor(now / 1000) + reset;
  return { limit, remaining, resetAt };
}
