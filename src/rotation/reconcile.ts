/**
 * What the store's stages say about a rotation, which is the truth wherever Redis disagrees, was
 * lost or was forged (DESIGN.md rules 1 and 8): `reconcile` corrects a rotation's saved step from
 * them, and the predicates name the stage patterns the due check, the CLI and the operator flow
 * look for.
 */
import { InvalidStateError } from "../core/errors.js";
import { STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, type SecretStore, type VersionInfo } from "../core/ports.js";
import { type RotationState, STEP_ORDER, Step, isBefore, isFinished } from "./rotation-state.js";

export interface ReconcileCredential {
  id: string;
  secretId: string;
  graceMs: number;
  maxGraceExtensionMs: number;
}

/** How long after its version was made a promote may still come (verify retried for a while). */
const PROMOTE_SLACK_MS = 3_600_000;

/** Reads the stages (and, when it matters, the finished-marker) and corrects the saved step. */
export async function reconcile(
  credential: ReconcileCredential,
  store: SecretStore,
  saved: RotationState,
): Promise<{ state: RotationState; versions: VersionInfo[] }> {
  if (isFinished(saved.step)) return { state: saved, versions: [] };
  const versions = await store.listVersions(credential.secretId);
  const mine = versions.find((v) => v.versionId === saved.rotationId);
  const finished = mine && promotedRotation([mine]) ? await store.finishedRotation(credential.secretId) : undefined;
  return { state: reconcileWith(credential, versions, saved, finished), versions };
}

/**
 * The saved state corrected by the store (pure: the table tests run it over every pattern):
 *   our version absent, another pending -> take that one over at verify (one rotation at a time,
 *                                          and its key must not be left behind)
 *   our version absent                  -> create
 *   ours current, marked finished       -> done
 *   ours current and pending            -> grace or later; grace counted from the version's
 *                                          creation, within bounds whatever the saved state says
 *   ours current, pending removed       -> done (rotations before the finished-marker)
 *   ours previous (replaced since)      -> revoke: what it replaced is still owed a revocation
 *   ours pending, not current           -> verify (or promote, if that was saved)
 *   ours present, no stage              -> rolled back
 */
export function reconcileWith(
  credential: ReconcileCredential,
  versions: VersionInfo[],
  saved: RotationState,
  finished: string | undefined,
): RotationState {
  // A step this program does not know (forged or corrupt job data) says nothing: the store decides.
  if (!STEP_ORDER.includes(saved.step)) saved = { ...saved, step: Step.Create };
  if (isFinished(saved.step)) return saved;
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current)
    throw new InvalidStateError(`${credential.id}: secret ${credential.secretId} has no AWSCURRENT version`);
  const mine = versions.find((v) => v.versionId === saved.rotationId);
  const s: RotationState = { ...saved, oldVersionId: current.versionId };

  if (!mine) {
    const other = pendingRotation(versions);
    if (other) return { ...s, rotationId: other.versionId, step: Step.Verify, verifyBeforeRevoke: true };
    if (s.step !== Step.Create) {
      throw new InvalidStateError(
        `${credential.id}: version ${s.rotationId} of rotation at step ${s.step} is missing from the store`,
      );
    }
    return s;
  }
  if (mine.stages.includes(STAGE_CURRENT)) {
    if (!mine.stages.includes(STAGE_PENDING) || finished === mine.versionId)
      return { ...s, step: Step.Done, outcome: s.outcome ?? "completed" };
    const previous = versions.find((v) => v.stages.includes(STAGE_PREVIOUS));
    const floor = mine.createdAt.getTime() + (s.emergency ? 0 : credential.graceMs);
    const graceUntil = Math.min(Math.max(s.graceUntil ?? floor, floor), floor + PROMOTE_SLACK_MS);
    const graceExtendedMs = Math.min(Math.max(s.graceExtendedMs ?? 0, 0), credential.maxGraceExtensionMs);
    const rebuilt = isBefore(s.step, Step.Grace);
    return {
      ...s,
      step: rebuilt ? Step.Grace : s.step,
      graceUntil,
      graceExtendedMs,
      ...(previous ? { oldVersionId: previous.versionId } : {}),
      ...(rebuilt ? { verifyBeforeRevoke: true } : {}),
    };
  }
  if (mine.stages.includes(STAGE_PREVIOUS)) return { ...s, step: Step.Revoke, verifyBeforeRevoke: true };
  if (mine.stages.includes(STAGE_PENDING)) return { ...s, step: s.step === Step.Promote ? Step.Promote : Step.Verify };
  return { ...s, step: Step.RolledBack, outcome: s.outcome ?? "the new version was unstaged" };
}

/** The version carrying AWSPENDING without AWSCURRENT: a rotation in progress, if any. */
export function pendingRotation<V extends Pick<VersionInfo, "stages">>(versions: V[]): V | undefined {
  return versions.find((v) => v.stages.includes(STAGE_PENDING) && !v.stages.includes(STAGE_CURRENT));
}

/**
 * The version carrying both AWSCURRENT and AWSPENDING: a rotation promoted and perhaps still in
 * grace, or a finished one (which leaves AWSPENDING where it is); the secret's finished-marker
 * tells them apart.
 */
export function promotedRotation<V extends Pick<VersionInfo, "stages">>(versions: V[]): V | undefined {
  return versions.find((v) => v.stages.includes(STAGE_CURRENT) && v.stages.includes(STAGE_PENDING));
}
