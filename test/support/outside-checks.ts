/**
 * DESIGN.md rules 7-11 judged from outside only: from what the CallCov simulator shows (every key
 * it ever made, with its creation and revocation times) and what the Secrets Manager emulator
 * shows (every version and its value, the stages now, and the stage history). Never Redis, never a
 * worker's memory or logs (the secret scan of logs and Redis is separate: it looks for values).
 *
 * For a credential c with secret S, "c's keys" are the simulator's keys named
 * `key-rotator/<c>/...` together with every key id that any version of S holds (the key made by
 * hand before adoption among them). The invariants:
 *
 *  I1 current works: the key in S's AWSCURRENT version is accepted by the vendor (active and
 *     allowed at the simulator, asked in process: a probe over HTTP would be consumer use of the
 *     key and hold a rotation's grace open), and is the key its keyId names.
 *  I2 replaced is revoked: every version that ever held AWSCURRENT (the stage history) and does
 *     not hold it now holds a key that is revoked, by key id.
 *  I3 no orphan: every key named `key-rotator/<c>/...` is the current key of c, or revoked, by id.
 *  I4 no stray AWSPENDING: AWSPENDING is on no version but the current one.
 *  I5 no two rotations of c at once. A rotation is named by its rotation id r (the key's name
 *     suffix, the version id and ClientRequestToken of its store version). Its interval:
 *       - r became current (an AWSCURRENT move to r at time p, away from version q): from the
 *         creation of its first key (or its PutSecretValue, if earlier) to the later of p and the
 *         revocation of q's key (open while q's key is live): the rotation holds until its old key
 *         is gone, grace included;
 *       - r reached the store but never became current (rolled back or abandoned): from its start
 *         to the later of AWSPENDING leaving r and the revocation of r's stored key (open while
 *         either lasts);
 *       - r never reached the store (a create lost in a crash): not a rotation in flight; its key
 *         is judged by I3.
 *     Two intervals of one credential that overlap (start of one strictly before the end of the
 *     other, both ways) are two rotations at once.
 *  I6 emergency contract (rule 10), for each emergency request accepted at time T that the check
 *     is told to hold: every key of c live at T (made at or before T, not revoked by T) is revoked
 *     now, and the current key was made after T.
 */
import type { Sandbox } from "../../src/sandbox/sandbox.js";
import type { KeyRecord } from "../../src/sandbox/callcov/callcov-state.js";
import type { StageEvent } from "../../src/sandbox/secrets-manager/secrets-state.js";

export interface CheckedCredential {
  id: string;
  secretId: string;
}

/** Version id -> key id of a secret, kept across checks: a version dropped past 100 is still known. */
export type VersionKeys = Map<string, Map<string, string>>;

export interface OutsideView {
  keys: KeyRecord[];
  /** Per credential id: its secret's versions (id -> key id), stages now, history. */
  secrets: Map<string, { versionKeys: Map<string, string>; stages: Map<string, string[]>; history: StageEvent[] }>;
}

/** Reads the emulator's versions into `cache` (in process, so neither fault knobs nor the write quota touch it). */
export function snapshotVersions(
  sandbox: Sandbox,
  creds: CheckedCredential[],
  cache: VersionKeys = new Map(),
): VersionKeys {
  const state = sandbox.emulator.state;
  for (const c of creds) {
    const known = cache.get(c.id) ?? new Map<string, string>();
    cache.set(c.id, known);
    let versions: Array<{ VersionId: string }>;
    try {
      versions = (state.ListSecretVersionIds({ SecretId: c.secretId, IncludeDeprecated: true }).Versions ??
        []) as Array<{ VersionId: string }>;
    } catch {
      continue;
    }
    for (const v of versions) {
      if (known.has(v.VersionId)) continue;
      try {
        const value = JSON.parse(
          String(state.GetSecretValue({ SecretId: c.secretId, VersionId: v.VersionId }).SecretString ?? "{}"),
        ) as { keyId?: unknown };
        known.set(v.VersionId, typeof value.keyId === "string" ? value.keyId : "(no keyId)");
      } catch {
        known.set(v.VersionId, "(unreadable)");
      }
    }
  }
  return cache;
}

export function outsideView(sandbox: Sandbox, creds: CheckedCredential[], cache: VersionKeys = new Map()): OutsideView {
  snapshotVersions(sandbox, creds, cache);
  const secrets: OutsideView["secrets"] = new Map();
  for (const c of creds) {
    const stages = new Map<string, string[]>();
    try {
      for (const v of (sandbox.emulator.state.ListSecretVersionIds({ SecretId: c.secretId }).Versions ?? []) as Array<{
        VersionId: string;
        VersionStages: string[];
      }>)
        stages.set(v.VersionId, v.VersionStages);
    } catch {
      // A secret that is gone has no stages; I1 reports it.
    }
    secrets.set(c.id, {
      versionKeys: cache.get(c.id) ?? new Map(),
      stages,
      history: sandbox.emulator.history(c.secretId),
    });
  }
  return { keys: sandbox.callcov.keyHistory(), secrets };
}

export interface EmergencyAsked {
  credentialId: string;
  at: number;
  via: string;
}

export interface CheckOptions {
  /** Emergencies whose contract must hold now (I6). */
  emergencies?: EmergencyAsked[];
}

/** One line per violation, each naming its invariant, credential and key or version ids. */
export async function checkInvariants(
  sandbox: Sandbox,
  creds: CheckedCredential[],
  cache: VersionKeys = new Map(),
  o: CheckOptions = {},
): Promise<string[]> {
  const view = outsideView(sandbox, creds, cache);
  const byId = new Map(view.keys.map((k) => [k.id, k]));
  const out: string[] = [];
  for (const c of creds) {
    const s = view.secrets.get(c.id);
    if (!s) continue;
    const currentVersion = [...s.stages].find(([, st]) => st.includes("AWSCURRENT"))?.[0];
    const currentKeyId = currentVersion ? s.versionKeys.get(currentVersion) : undefined;
    // I1
    if (!currentVersion || !currentKeyId) out.push(`I1 ${c.id}: no readable AWSCURRENT version`);
    else {
      let apiKey: string | undefined;
      try {
        apiKey = (
          JSON.parse(String(sandbox.emulator.state.GetSecretValue({ SecretId: c.secretId }).SecretString ?? "{}")) as {
            apiKey?: string;
          }
        ).apiKey;
      } catch {
        apiKey = undefined;
      }
      // Asked of the simulator's state, not over HTTP: a probe would count as consumer use of the
      // key, and the usage gate would then hold a rotation's grace open because of this check.
      const k = apiKey ? sandbox.callcov.state.findActive(apiKey) : undefined;
      if (!k || k.forbidden)
        out.push(
          `I1 ${c.id}: the AWSCURRENT key ${currentKeyId} (version ${currentVersion}) is refused (${!apiKey ? "no apiKey" : !k ? "401: unknown or revoked" : "403"})`,
        );
      else if (k.id !== currentKeyId)
        out.push(
          `I1 ${c.id}: the AWSCURRENT version ${currentVersion} says key ${currentKeyId} but holds the secret of key ${k.id}`,
        );
    }
    // I2
    const everCurrent = new Set(
      s.history.filter((e) => e.stage === "AWSCURRENT" && e.movedTo).map((e) => e.movedTo as string),
    );
    for (const v of everCurrent) {
      if (v === currentVersion) continue;
      const keyId = s.versionKeys.get(v);
      if (!keyId || keyId === currentKeyId) continue;
      const k = byId.get(keyId);
      if (!k) out.push(`I2 ${c.id}: replaced version ${v} holds key ${keyId}, unknown to the vendor`);
      else if (k.active) out.push(`I2 ${c.id}: replaced key ${keyId} (version ${v}) is still accepted`);
    }
    // I3
    const ours = view.keys.filter((k) => k.name.startsWith(`key-rotator/${c.id}/`));
    for (const k of ours)
      if (k.active && k.id !== currentKeyId)
        out.push(`I3 ${c.id}: key ${k.id} (${k.name}) is neither current nor revoked`);
    // I4
    for (const [v, st] of s.stages)
      if (st.includes("AWSPENDING") && !st.includes("AWSCURRENT"))
        out.push(`I4 ${c.id}: AWSPENDING left on version ${v}, which is not current`);
    // I5
    const intervals = rotationIntervals(c.id, s, byId, ours);
    const sorted = [...intervals].sort((a, b) => a.start - b.start);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const a = sorted[i];
        const b = sorted[j];
        if (!a || !b || b.start >= a.end) continue;
        out.push(
          `I5 ${c.id}: rotations ${a.id} [${iso(a.start)} .. ${iso(a.end)}] and ${b.id} [${iso(b.start)} .. ${iso(b.end)}] at once`,
        );
      }
    }
    // I6
    const versionKeyIds = new Set(s.versionKeys.values());
    const keysOfC = view.keys.filter((k) => k.name.startsWith(`key-rotator/${c.id}/`) || versionKeyIds.has(k.id));
    for (const e of (o.emergencies ?? []).filter((x) => x.credentialId === c.id)) {
      const liveAtT = keysOfC.filter((k) => k.createdAt <= e.at && (k.revokedAt === undefined || k.revokedAt > e.at));
      for (const k of liveAtT.filter((x) => x.active))
        out.push(`I6 ${c.id}: key ${k.id} was live at the emergency (${e.via}, ${iso(e.at)}) and is still accepted`);
      const current = currentKeyId ? byId.get(currentKeyId) : undefined;
      if (current && current.createdAt <= e.at)
        out.push(
          `I6 ${c.id}: the current key ${current.id} was made at ${iso(current.createdAt)}, not after the emergency (${e.via}, ${iso(e.at)})`,
        );
    }
  }
  return out;
}

export interface Interval {
  id: string;
  start: number;
  end: number;
}

function rotationIntervals(
  credentialId: string,
  s: { versionKeys: Map<string, string>; history: StageEvent[] },
  byId: Map<string, KeyRecord>,
  ours: KeyRecord[],
): Interval[] {
  const prefix = `key-rotator/${credentialId}/`;
  const keysNamed = new Map<string, KeyRecord[]>();
  for (const k of ours) {
    const r = k.name.slice(prefix.length);
    keysNamed.set(r, [...(keysNamed.get(r) ?? []), k]);
  }
  const puts = new Map<string, number>();
  for (const e of s.history)
    if (e.op === "PutSecretValue" && e.created && e.versionId && !puts.has(e.versionId)) puts.set(e.versionId, e.at);
  const out: Interval[] = [];
  for (const [r, putAt] of puts) {
    const start = Math.min(putAt, ...(keysNamed.get(r) ?? []).map((k) => k.createdAt));
    const promote = s.history.find((e) => e.stage === "AWSCURRENT" && e.movedTo === r);
    const revokedAt = (keyId: string | undefined) =>
      keyId === undefined ? undefined : (byId.get(keyId)?.revokedAt ?? (byId.has(keyId) ? Infinity : undefined));
    if (promote) {
      const oldKey = promote.removedFrom ? s.versionKeys.get(promote.removedFrom) : undefined;
      const oldRevoked = oldKey && oldKey !== s.versionKeys.get(r) ? revokedAt(oldKey) : undefined;
      out.push({ id: r, start, end: Math.max(promote.at, oldRevoked ?? promote.at) });
    } else {
      const pendingOn = s.history.filter((e) => e.stage === "AWSPENDING" && (e.movedTo === r || e.removedFrom === r));
      const last = pendingOn.at(-1);
      const pendingLeft = last === undefined ? putAt : last.removedFrom === r ? last.at : Infinity;
      out.push({ id: r, start, end: Math.max(pendingLeft, revokedAt(s.versionKeys.get(r)) ?? pendingLeft) });
    }
  }
  return out;
}

function iso(t: number): string {
  return Number.isFinite(t) ? new Date(t).toISOString().slice(11, 23) : "still open";
}

/** Rotations completed, from outside: AWSCURRENT moves by UpdateSecretVersionStage, all credentials. */
export function completedRotations(sandbox: Sandbox, creds: CheckedCredential[]): number {
  return creds.reduce(
    (n, c) =>
      n +
      sandbox.emulator
        .history(c.secretId)
        .filter((e) => e.op === "UpdateSecretVersionStage" && e.stage === "AWSCURRENT" && e.movedTo).length,
    0,
  );
}
