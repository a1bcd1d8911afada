/**
 * The audit trail's own stream: one JSON line per event (who asked, from where, why; credential,
 * rotation, version and key ids; never a value), appended to `KEY_ROTATOR_AUDIT_LOG` and, when
 * `KEY_ROTATOR_AUDIT_WEBHOOK_URL` is set, posted there HMAC-signed and retried. Redis keeps a
 * capped copy for `history`; this stream is the one that outlives Redis and its cap (docs/audit.md).
 *
 * Harder to forge: each line carries `prev`, the hash of the line before it in this process's
 * chain, and `hash`, over `prev` and the line itself: an HMAC with `KEY_ROTATOR_AUDIT_KEY` when one
 * is set (then a line can only be made by whoever holds the key), SHA-256 otherwise (then a line
 * removed or edited breaks the chain, which `verifyAuditChain` finds). Whoever can write Redis can
 * forge nothing here.
 *
 * Must not: carry a secret value, block a rotation on a slow webhook, or throw at its caller.
 */
import { appendFileSync } from "node:fs";
import { createHash, createHmac, randomUUID } from "node:crypto";

export type AuditVia = "cli" | "http" | "leak" | "worker";

export interface AuditActor {
  /** The person or program: an admin token's name, --actor, $KEY_ROTATOR_ACTOR, the OS user. */
  name: string;
  via: AuditVia;
  /** Where from: the HTTP peer's address, the CLI's host. */
  address?: string;
}

export type AuditValue = string | number | boolean | null | undefined | AuditActor | Record<string, number | undefined>;

export interface AuditEvent {
  /** rotation.requested, rotation.finished, emergency.refused, emergency.forced, leak.reported, pair.submitted */
  event: string;
  credentialId?: string;
  rotationId?: string;
  actor?: AuditActor;
  reason?: string;
  emergency?: boolean;
  [field: string]: AuditValue;
}

export interface AuditLine extends AuditEvent {
  at: string;
  /** This process's chain: its id, and the line's place in it. */
  writer: string;
  seq: number;
  prev: string;
  hash: string;
}

export interface AuditSink {
  /** The line written, or undefined when the stream has nowhere to write. */
  emit(event: AuditEvent, at?: number): AuditLine | undefined;
  /** Waits (bounded) for webhook posts still under way: a CLI calls it before it exits. */
  flush(timeoutMs?: number): Promise<void>;
}

/**
 * `cli:alice@host`, `http:oncall-bot@10.0.0.7`, `leak:github@140.82.115.1`, `worker`: the actor as
 * one string, the shape a rotation's saved state and the Redis history keep.
 */
export function actorString(a: AuditActor): string {
  return `${a.via}:${a.name}${a.address ? `@${a.address}` : ""}`;
}

export function parseActor(text: string | undefined): AuditActor | undefined {
  if (!text) return undefined;
  const m = /^(cli|http|leak|worker|admin-http):([^@]*)(?:@(.+))?$/.exec(text);
  if (!m) return { name: text, via: "worker" };
  const via = (m[1] === "admin-http" ? "http" : m[1]) as AuditVia;
  return { name: m[2] || "unknown", via, ...(m[3] ? { address: m[3] } : {}) };
}

export interface AuditLogOptions {
  /** Append-only file of JSON lines ("-" or unset: none). */
  file?: string | undefined;
  /** Key of the chain's HMAC; without one the chain is plain SHA-256. */
  key?: string | undefined;
  webhook?: { url: string; secret: string } | undefined;
  /** Where a failure of the stream itself is said (never the event's content beyond its name). */
  warn?: (message: string) => void;
  fetch?: typeof fetch;
}

const GENESIS = "0".repeat(64);

export class AuditLog implements AuditSink {
  readonly #writer = randomUUID();
  #seq = 0;
  #prev = GENESIS;
  readonly #pending = new Set<Promise<void>>();

  constructor(private readonly options: AuditLogOptions) {}

  emit(event: AuditEvent, at = Date.now()): AuditLine | undefined {
    // Nowhere to write it: no line, and no chain (the hash is CPU every rotation step would pay).
    if (!this.options.file && !this.options.webhook) return undefined;
    const body = { ...strip(event), at: new Date(at).toISOString(), writer: this.#writer, seq: ++this.#seq };
    const prev = this.#prev;
    const bodyText = JSON.stringify(body);
    const hash = chainHash(this.options.key, prev, bodyText);
    const line: AuditLine = { ...body, prev, hash };
    this.#prev = hash;
    // JSON.stringify(line), from the body's text (prev and hash are hex: nothing to escape).
    const text = `${bodyText.slice(0, -1)},"prev":"${prev}","hash":"${hash}"}`;
    if (this.options.file) {
      try {
        appendFileSync(this.options.file, `${text}\n`, { mode: 0o600 });
      } catch (err) {
        this.options.warn?.(
          `audit: cannot append ${line.event} to ${this.options.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
    }
    if (this.options.webhook) this.#post(this.options.webhook, text, line.event);
    return line;
  }

  #post(webhook: { url: string; secret: string }, text: string, event: string): void {
    const signature = `sha256=${createHmac("sha256", webhook.secret).update(text).digest("hex")}`;
    const doFetch = this.options.fetch ?? fetch;
    const attempt = async () => {
      for (let i = 0; i < 4; i++) {
        try {
          const res = await doFetch(webhook.url, {
            method: "POST",
            headers: { "content-type": "application/json", "x-keyrotator-signature": signature },
            body: text,
            signal: AbortSignal.timeout(5_000),
          });
          if (res.ok) return;
          if (res.status < 500 && res.status !== 429) break;
        } catch {
          // retried below
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** i));
      }
      this.options.warn?.(`audit: the webhook did not take ${event} after 4 tries`);
    };
    const p = attempt().finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async flush(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#pending]),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  }
}

/** The line's own fields: an event's field of one of these names is not written (the line's would replace it). */
const LINE_FIELDS = new Set(["at", "writer", "seq", "prev", "hash"]);

/**
 * The event's fields that are written: none undefined, and none named as the line's own. An
 * event's `hash` was hashed into the chain and then replaced by the line's, so the line could
 * never be verified.
 */
function strip(event: AuditEvent): AuditEvent {
  const kept: Record<string, AuditValue> = {};
  for (const name of Object.keys(event))
    if (event[name] !== undefined && !LINE_FIELDS.has(name)) kept[name] = event[name];
  return kept as AuditEvent;
}

/** `body`: the line without prev and hash, as JSON. */
function chainHash(key: string | undefined, prev: string, body: string): string {
  const text = `${prev}\n${body}`;
  return key ? createHmac("sha256", key).update(text).digest("hex") : createHash("sha256").update(text).digest("hex");
}

/**
 * Checks the chains in an audit file's lines: each writer's lines in order, each `prev` the hash
 * before it, each `hash` recomputed. Returns the problems found (none: intact).
 */
export function verifyAuditChain(lines: string[], key?: string): string[] {
  const last = new Map<string, { seq: number; hash: string }>();
  const problems: string[] = [];
  lines.forEach((text, i) => {
    if (text.trim() === "") return;
    let line: AuditLine;
    try {
      line = JSON.parse(text) as AuditLine;
    } catch {
      problems.push(`line ${i + 1}: not JSON`);
      return;
    }
    const { prev, hash, ...body } = line;
    const before = last.get(line.writer) ?? { seq: 0, hash: GENESIS };
    if (line.seq !== before.seq + 1)
      problems.push(`line ${i + 1}: writer ${line.writer} skips from ${before.seq} to ${line.seq}`);
    if (prev !== before.hash) problems.push(`line ${i + 1}: prev does not match the line before it`);
    if (chainHash(key, prev, JSON.stringify(body)) !== hash)
      problems.push(`line ${i + 1}: hash does not match its content`);
    last.set(line.writer, { seq: line.seq, hash });
  });
  return problems;
}

let shared: AuditSink | undefined;

/** The process's audit stream, from the environment (KEY_ROTATOR_AUDIT_*), made once. */
export function auditLog(env: NodeJS.ProcessEnv = process.env): AuditSink {
  if (shared) return shared;
  const url = env.KEY_ROTATOR_AUDIT_WEBHOOK_URL?.trim();
  const secret = env.KEY_ROTATOR_AUDIT_WEBHOOK_SECRET?.trim();
  const file = env.KEY_ROTATOR_AUDIT_LOG?.trim();
  shared = new AuditLog({
    file: file && file !== "-" ? file : undefined,
    key: env.KEY_ROTATOR_AUDIT_KEY?.trim() || undefined,
    webhook: url && secret ? { url, secret } : undefined,
    warn: (m) => process.stderr.write(`key-rotator: ${m}\n`),
  });
  return shared;
}

/** Tests: the next auditLog() reads the environment again. */
export function resetAuditLog(sink?: AuditSink): void {
  shared = sink;
}

/** Waits (bounded) for the process's audit webhook posts, if the stream was ever used. */
export async function flushAuditLog(timeoutMs = 5_000): Promise<void> {
  await shared?.flush(timeoutMs);
}
