/**
 * The record of finished rotations per credential, for `status` and `history`. Kept in Redis as a
 * capped list of JSON records (ids, times, outcomes: nothing secret). Redis can be lost; the
 * store's versions remain the record of what was rotated, and `history` falls back to them.
 *
 * Also the one hash "credential -> its last completed rotation id", for people and tests to read.
 * Nothing decides by it: whether a rotation is finished is the secret's own finished-marker (a
 * tag the rotation sets last), which Redis can neither lose nor forge.
 *
 * And the audit trail: who asked for what and why (a rotation requested from the CLI, the admin
 * API or a leak report; each emergency refused by its bounds or forced past them; a pair handed
 * in). Its own capped list, so a flood of refusals neither pushes finished rotations out of
 * `history` nor becomes `status`'s "last result".
 *
 * Every record and audit entry also goes to the audit stream (src/audit/audit-log.ts), which is
 * append-only, hash-chained and outside Redis: the copy that survives Redis's loss, its cap and a
 * forger with write access to it (docs/audit.md).
 */
import type { Redis } from "ioredis";
import { type AuditSink, auditLog, parseActor } from "../audit/audit-log.js";
import type { RotationState } from "../rotation/rotation-state.js";

export type RotationResultKind = "completed" | "rolled-back" | "failed";

export interface HistoryRecord {
  credentialId: string;
  rotationId: string;
  result: RotationResultKind;
  trigger: string;
  emergency: boolean;
  actor?: string;
  reason?: string;
  outcome?: string;
  startedAt: number;
  finishedAt: number;
  stepTimes?: RotationState["stepTimes"];
}

export type AuditEventName =
  "emergency.refused" | "emergency.forced" | "rotation.requested" | "leak.reported" | "pair.submitted";

/** One request in the audit trail: who asked for what, and what became of it. */
export interface AuditRecord {
  at: number;
  credentialId: string;
  event: AuditEventName;
  /** `via:name@address` (audit-log.ts actorString). */
  actor: string;
  /** The reason the person gave (for a leak: the report's URL). */
  reason?: string;
  /** Why it was refused: cooldown, global-cap. */
  refusedFor?: string;
  retryAfterSeconds?: number;
  emergency?: boolean;
  rotationId?: string;
  /** Joined a rotation in flight instead of starting one. */
  joined?: boolean;
  /** `--direct`: run in the CLI's own process, without the queue. */
  direct?: boolean;
  /** Asked of the worker over its local socket (KEY_ROTATOR_SOCKET), which started it in its lane. */
  socket?: boolean;
  /** How it ended, when the request's own process saw the end (--direct). */
  outcome?: string;
}

const KEEP = 100;
/** Enough for a minute's flood of refusals for one credential (600 requests) to be kept whole. */
const KEEP_AUDIT = 1_000;

export class RotationHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly sink: AuditSink = auditLog(),
  ) {}

  #key(credentialId: string): string {
    return `${this.prefix}:history:${credentialId}`;
  }

  get #completedKey(): string {
    return `${this.prefix}:completed`;
  }

  async record(state: RotationState, result: RotationResultKind, finishedAt: number): Promise<void> {
    const entry: HistoryRecord = {
      credentialId: state.credentialId,
      rotationId: state.rotationId,
      result,
      trigger: state.trigger,
      emergency: state.emergency,
      ...(state.actor ? { actor: state.actor } : {}),
      ...(state.reason ? { reason: state.reason } : {}),
      ...(state.outcome ? { outcome: state.outcome } : {}),
      startedAt: state.startedAt,
      finishedAt,
      ...(state.stepTimes ? { stepTimes: state.stepTimes } : {}),
    };
    this.sink.emit(
      {
        event: "rotation.finished",
        credentialId: state.credentialId,
        rotationId: state.rotationId,
        result,
        trigger: state.trigger,
        emergency: state.emergency,
        actor: parseActor(state.actor) ?? { name: state.trigger, via: "worker" },
        reason: state.reason,
        outcome: state.outcome,
        oldVersionId: state.oldVersionId,
        oldKeyId: state.oldKeyId,
        newKeyId: state.newKeyId,
        startedAt: new Date(state.startedAt).toISOString(),
      },
      finishedAt,
    );
    const key = this.#key(state.credentialId);
    const tx = this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, KEEP - 1);
    if (result === "completed") tx.hset(this.#completedKey, state.credentialId, state.rotationId);
    await tx.exec();
  }

  /**
   * A step of a rotation done: an event on the audit stream only. Redis keeps the finished record;
   * a write there per step would cost every rotation six more for what the stream already has.
   */
  step(state: RotationState, step: string, durationMs: number): void {
    this.sink.emit({
      event: "rotation.step",
      credentialId: state.credentialId,
      rotationId: state.rotationId,
      step,
      next: state.step,
      trigger: state.trigger,
      emergency: state.emergency,
      actor: parseActor(state.actor) ?? { name: state.trigger, via: "worker" },
      durationMs,
      oldVersionId: state.oldVersionId,
      oldKeyId: state.oldKeyId,
      newKeyId: state.newKeyId,
    });
  }

  /** Into the audit stream first (it does not need Redis), then the capped Redis copy. */
  async audit(entry: AuditRecord): Promise<void> {
    const { at, actor, ...rest } = entry;
    this.sink.emit({ ...rest, actor: parseActor(actor) ?? { name: "unknown", via: "worker" } }, at);
    const key = this.#auditKey(entry.credentialId);
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, KEEP_AUDIT - 1)
      .exec();
  }

  /** The audit trail of a credential, newest first. */
  async auditTrail(credentialId: string, limit = KEEP_AUDIT): Promise<AuditRecord[]> {
    return parseLines<AuditRecord>(await this.redis.lrange(this.#auditKey(credentialId), 0, limit - 1));
  }

  #auditKey(credentialId: string): string {
    return `${this.prefix}:audit:${credentialId}`;
  }

  /** Credential id -> the id of its last completed rotation, for every credential that has one. */
  async completedRotations(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.#completedKey)));
  }

  /** Newest first. */
  async list(credentialId: string, limit = KEEP): Promise<HistoryRecord[]> {
    return parseLines<HistoryRecord>(await this.redis.lrange(this.#key(credentialId), 0, limit - 1));
  }
}

function parseLines<T>(raw: string[]): T[] {
  return raw.flatMap((line) => {
    try {
      return [JSON.parse(line) as T];
    } catch {
      return [];
    }
  });
}
