/**
 * The record of finished rotations per credential, for `status` and `history`. Kept in Redis as a
 * capped list of JSON records (ids, times, outcomes: nothing secret). Redis can be lost; the
 * store's versions remain the record of what was rotated, and `history` falls back to them.
 *
 * Also the one hash "credential -> its last completed rotation id", for people and tests to read.
 * Nothing decides by it: whether a rotation is finished is the secret's own finished-marker (a
 * tag the rotation sets last), which Redis can neither lose nor forge.
 *
 * And the audit trail of emergency requests that did not simply start a rotation: each refused one
 * (cooldown, global cap) and each forced one, with who asked and why. Its own capped list, so a
 * flood of refusals neither pushes finished rotations out of `history` nor becomes `status`'s
 * "last result".
 */
import type { Redis } from "ioredis";
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

/** One emergency request in the audit trail: refused (and why), or forced past its cooldown. */
export interface AuditRecord {
  at: number;
  credentialId: string;
  event: "emergency.refused" | "emergency.forced";
  actor: string;
  /** The reason the person gave. */
  reason?: string;
  /** Why it was refused: cooldown, global-cap. */
  refusedFor?: string;
  retryAfterSeconds?: number;
}

const KEEP = 100;
/** Enough for a minute's flood of refusals for one credential (600 requests) to be kept whole. */
const KEEP_AUDIT = 1_000;

export class RotationHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
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
    const key = this.#key(state.credentialId);
    const tx = this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, KEEP - 1);
    if (result === "completed") tx.hset(this.#completedKey, state.credentialId, state.rotationId);
    await tx.exec();
  }

  async audit(entry: AuditRecord): Promise<void> {
    const key = this.#auditKey(entry.credentialId);
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, KEEP_AUDIT - 1)
      .exec();
  }

  /** The audit trail of emergency requests for a credential, newest first. */
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
