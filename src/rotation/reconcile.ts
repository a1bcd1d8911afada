/**
 * What the store's stages say about a rotation, which is the truth wherever Redis disagrees or was
 * lost (DESIGN.md rule 1): `reconcile` corrects a rotation's saved step from them, and the two
 * predicates name the stage patterns the due check, the CLI and the operator flow look for.
 */
import { InvalidStateError } from "../core/errors.js";
import { STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, type SecretStore, type VersionInfo } from "../core/ports.js";
import type { RotationCredential } from "./rotation.js";
import { type RotationState, Step, isBefore, isFinished } from "./rotation-state.js";

/**
 * Corrects the saved step from the store's stages: the store wins where they disagree.
 *   our version absent            -> create (after checking no other rotation is pending)
 *   ours pending, not current     -> verify (verify again is harmless; promote needs a verdict)
 *   ours current and pending      -> grace or later (grace counted from the version's creation if lost);
 *                                    a completed rotation leaves this too, and repeating its revoke
 *                                    (404) and confirm is harmless
 *   ours current, pending removed -> done (rotations before AWSPENDING was left in place)
 *   ours present, no stage        -> rolled back
 */
export async function reconcile(
  credential: RotationCredential,
  store: SecretStore,
  saved: RotationState,
): Promise<RotationState> {
  if (isFinished(saved.step)) return saved;
  const versions = await store.listVersions(credential.secretId);
  const current = versions.find((v) => v.stages.includes(STAGE_CURRENT));
  if (!current) throw new InvalidStateError(`${credential.id}: secret ${credential.secretId} has no AWSCURRENT version`);
  const mine = versions.find((v) => v.versionId === saved.rotationId);
  const s = { ...saved };

  if (!mine) {
    const other = pendingRotation(versions);
    if (other) {
      throw new InvalidStateError(`${credential.id}: rotation ${other.versionId} is already in progress (AWSPENDING on a version that is not current)`);
    }
    if (isBefore(Step.Verify, s.step) || s.step === Step.Verify) {
      throw new InvalidStateError(`${credential.id}: version ${s.rotationId} of rotation at step ${s.step} is missing from the store`);
    }
    return { ...s, step: Step.Create, oldVersionId: current.versionId };
  }
  if (mine.stages.includes(STAGE_CURRENT)) {
    if (!mine.stages.includes(STAGE_PENDING)) return { ...s, step: Step.Done, outcome: s.outcome ?? "completed" };
    const previous = versions.find((v) => v.stages.includes(STAGE_PREVIOUS));
    const oldVersionId = s.oldVersionId ?? previous?.versionId;
    const step = isBefore(s.step, Step.Grace) ? Step.Grace : s.step;
    return { ...s, step, oldVersionId, graceUntil: s.graceUntil ?? mine.createdAt.getTime() + (s.emergency ? 0 : credential.graceMs) };
  }
  if (mine.stages.includes(STAGE_PENDING)) {
    const step = s.step === Step.Promote ? Step.Promote : Step.Verify;
    return { ...s, step, oldVersionId: current.versionId };
  }
  return { ...s, step: Step.RolledBack, outcome: s.outcome ?? "the new version was unstaged" };
}

/** The version carrying AWSPENDING without AWSCURRENT: a rotation in progress, if any. */
export function pendingRotation<V extends Pick<VersionInfo, "stages">>(versions: V[]): V | undefined {
  return versions.find((v) => v.stages.includes(STAGE_PENDING) && !v.stages.includes(STAGE_CURRENT));
}

/**
 * The version carrying both AWSCURRENT and AWSPENDING: a rotation promoted and perhaps still in
 * grace, or a completed one (which leaves AWSPENDING where it is); Redis's record tells them apart.
 */
export function promotedRotation<V extends Pick<VersionInfo, "stages">>(versions: V[]): V | undefined {
  return versions.find((v) => v.stages.includes(STAGE_CURRENT) && v.stages.includes(STAGE_PENDING));
}
