/**
 * The record of finished rotations per credential, for `status` and `history`. Kept in Redis as a
 * capped list of JSON records (ids, times, outcomes: nothing secret). Redis can be lost; the
 * store's versions remain the record of what was rotated, and `history` falls back to them.
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

const KEEP = 100;

export class RotationHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  #key(credentialId: string): string {
    return `${this.prefix}:history:${credentialId}`;
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
    await this.redis.multi().lpush(this.#key(state.credentialId), JSON.stringify(entry)).ltrim(this.#key(state.credentialId), 0, KEEP - 1).exec();
  }

  /** Newest first. */
  async list(credentialId: string, limit = KEEP): Promise<HistoryRecord[]> {
    const raw = await this.redis.lrange(this.#key(credentialId), 0, limit - 1);
    return raw.flatMap((line) => {
      try {
        return [JSON.parse(line) as HistoryRecord];
      } catch {
        return [];
      }
    });
  }
}
