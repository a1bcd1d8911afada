/**
 * What `rotate --wait` says while a rotation waits, from the job's saved state and the clock:
 * grace until when; revocation deferred while the old key is still used (at N/min, from the
 * worker's open "old-key-in-use" alert), until at most when; a person awaited until which
 * deadline; or a job no worker has taken. Pure: rotate.command.ts reads, this words.
 */
import { type RotationState, Step } from "../rotation/rotation-state.js";
import { humanDuration } from "./output.js";

export interface WaitFacts {
  data: RotationState;
  /** BullMQ's state of the job: waiting, prioritized, delayed, active, ... */
  state: string;
  now: number;
  maxGraceExtensionMs: number;
  /** Operator-assisted credentials: how long a person has before the wait escalates. */
  operatorDeadlineMs?: number | undefined;
  /** The old key's use per minute, from the worker's open old-key-in-use alert. */
  oldKeyPerMinute?: number | undefined;
}

export interface WaitDescription {
  kind: "grace" | "deferred" | "operator";
  /** Until when (epoch ms): the end of grace, the bound of the deferral, the person's deadline. */
  until: number;
  text: string;
}

const at = (ms: number, now: number) => `${new Date(ms).toISOString()} (in ${humanDuration(Math.max(0, ms - now))})`;

export function describeWait(f: WaitFacts): WaitDescription | undefined {
  const { data, now } = f;
  if (data.step === Step.Grace && data.graceUntil !== undefined && !data.emergency) {
    if (now < data.graceUntil)
      return {
        kind: "grace",
        until: data.graceUntil,
        text: `grace until ${at(data.graceUntil, now)}: consumers re-read the secret before the old key is revoked`,
      };
    if ((data.graceExtendedMs ?? 0) > 0 || f.oldKeyPerMinute !== undefined) {
      const bound = data.graceUntil + f.maxGraceExtensionMs;
      const rate = f.oldKeyPerMinute === undefined ? "" : ` at ${f.oldKeyPerMinute}/min`;
      return {
        kind: "deferred",
        until: bound,
        text: `revocation deferred while the old key is still used${rate}, until at most ${at(bound, now)}`,
      };
    }
  }
  if ((data.step === Step.AwaitPair || data.step === Step.AwaitRevoke) && f.operatorDeadlineMs !== undefined) {
    const since = data.askedAt ?? now;
    const deadline = since + f.operatorDeadlineMs;
    const what =
      data.step === Step.AwaitPair ? "a new pair (key-rotator submit)" : "the old pair's revocation in the dashboard";
    return {
      kind: "operator",
      until: deadline,
      text: `awaiting the operator: ${what}, until ${at(deadline, now)}${now > deadline ? " (OVERDUE: escalated)" : ""}`,
    };
  }
  return undefined;
}

/** BullMQ states in which a job waits for a worker to take it. */
export function awaitsAWorker(state: string): boolean {
  return state === "waiting" || state === "prioritized" || state === "waiting-children";
}
