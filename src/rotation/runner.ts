/**
 * The one runner. Every path that runs a rotation (the queue's job, the emergency lane,
 * `--direct`, the tests) runs an attempt through `runAttempt`, which picks the flow, runs it from
 * the saved state, and says what the attempt's end means:
 *
 *   finished  done, or rolled back by the flow itself (a refused key)
 *   wait      look again at `until` (grace, a person, a vendor's rate limit): a delayed job, not a sleep
 *   retry     a retryable failure with attempts left: run again later from the saved state
 *   failed    given up: the undo the reached step registered has run, and an alert is raised
 *
 * The undo is the flow's (each step registers its compensation in the flow's `UNDO` table): before
 * promote, what the rotation made is given back; after it, the new key is what consumers read, so
 * nothing is undone and a person decides. What is undone is what the store shows of the rotation,
 * never what job data names (revocation.ts).
 *
 * Must not: decide where a rotation runs or how it is retried (the callers do: BullMQ's attempts,
 * the lane's hand-back, `--direct`'s loop), or record history (the queue does, once).
 */
import { RateLimitedError, RotatorError, describeError } from "../core/errors.js";
import type { Alerter } from "../core/ports.js";
import { type RotationCredential, type RotationDeps, rotate, undoKeyApi } from "./key-api-flow.js";
import { type OperatorCredential, type OperatorDeps, operatorRotate } from "./operator-flow.js";
import type { RotationState, Save } from "./rotation-state.js";

/** A credential with its flow and the ports to run it with. */
export type FlowRun =
  | { kind: "key-api"; credential: RotationCredential & { vendor: string }; deps: RotationDeps }
  | { kind: "operator"; credential: OperatorCredential & { vendor: string }; deps: OperatorDeps };

export interface Attempt {
  /** This attempt's number, from 1. */
  number: number;
  /** Attempts allowed in all; past the last, a failure gives up. */
  of: number;
  /** False: never give up in this attempt; a failure is `retry` (the lane hands the job to the queue). */
  mayGiveUp?: boolean;
}

export type AttemptOutcome =
  | { kind: "finished"; state: RotationState }
  | { kind: "wait"; until: number; reason: string; state: RotationState }
  | { kind: "retry"; error: unknown; message: string; state: RotationState }
  | { kind: "failed"; message: string; state: RotationState };

/**
 * Runs one attempt of the rotation from `saved`. `save` is called after every step; `progress`
 * follows the last state saved, so a failure is reported at the step it reached.
 */
export async function runAttempt(
  run: FlowRun,
  saved: RotationState,
  save: Save,
  attempt: Attempt,
): Promise<AttemptOutcome> {
  let last = saved;
  const track: Save = async (state) => {
    last = state;
    await save(state);
  };
  try {
    const result =
      run.kind === "operator"
        ? await operatorRotate(run.credential, run.deps, saved, track)
        : await rotate(run.credential, run.deps, saved, track);
    return result;
  } catch (err) {
    if (err instanceof RateLimitedError) {
      return { kind: "wait", until: err.retryAt, reason: `the vendor's rate limit: ${err.message}`, state: last };
    }
    const message = describeError(err);
    const retryable = !(err instanceof RotatorError) || err.retryable;
    if (attempt.mayGiveUp === false || (retryable && attempt.number < attempt.of)) {
      return { kind: "retry", error: err, message, state: last };
    }
    return { kind: "failed", message, state: await giveUp(run, last, message) };
  }
}

/**
 * The last attempt failed: run the undo the reached step registered, then alert. Returns the
 * state with its outcome.
 */
async function giveUp(run: FlowRun, state: RotationState, message: string): Promise<RotationState> {
  let undone = "";
  if (run.kind === "key-api") {
    try {
      if ((await undoKeyApi(run.credential, run.deps, state)) === "undone") {
        undone = "; what it made was revoked and unstaged, the current key is unchanged";
      }
    } catch (err) {
      undone = `; undoing it also failed (${describeError(err)}): the orphan sweep and the next due check will clean up`;
    }
  }
  await alertFailed(
    run.deps.alerter,
    run.credential.id,
    state,
    `rotation failed at step ${state.step}: ${message}${undone}`,
  );
  return { ...state, outcome: `failed at ${state.step}: ${message}` };
}

async function alertFailed(alerter: Alerter, credentialId: string, state: RotationState, summary: string) {
  await alerter.raise({
    credentialId,
    severity: "critical",
    kind: "rotation-failed",
    step: state.step,
    rotationId: state.rotationId,
    summary,
  });
}
