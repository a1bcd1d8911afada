/**
 * The Secrets Manager emulator's data and rules, without HTTP: secrets, versions, stage labels,
 * ClientRequestToken idempotency, deletion, and AWS's error types. Each operation takes the
 * request's JSON and returns the response's JSON or throws an AwsError.
 * Keeps a history of every stage move and every PutSecretValue (StageEvent), for tests that judge
 * from outside what happened when: which version was current when, and when a rotation was pending.
 * Must not: log or put a SecretString in an error message, or in the history.
 */
import { createHash, randomUUID } from "node:crypto";

export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface Version {
  id: string;
  value: string;
  stages: Set<string>;
  created: number;
}
interface Secret {
  name: string;
  arn: string;
  versions: Map<string, Version>;
  created: number;
  deleted?: number;
  tags: Map<string, string>;
  description?: string;
}

/**
 * One entry of the stage history, in the order things happened (`seq`). A label move is one entry
 * with the version it moved to and the one it was removed from (either may be absent: attached
 * fresh, or removed without a move). PutSecretValue and CreateSecret get one entry of their own
 * with the version and the stages asked for (`created` false for a repeat of the same token, which
 * changes nothing), followed by the label moves it made. AWS's own side effect, AWSPREVIOUS
 * following the version that lost AWSCURRENT, is recorded as a move too. Never a value.
 */
export interface StageEvent {
  seq: number;
  /** Epoch ms, the emulator's clock. */
  at: number;
  /** The secret's name. */
  secret: string;
  op: "CreateSecret" | "PutSecretValue" | "UpdateSecretVersionStage";
  /** A label move: the label. */
  stage?: string;
  movedTo?: string;
  removedFrom?: string;
  /** A PutSecretValue or CreateSecret: the version it names and the stages it set. */
  versionId?: string;
  stages?: string[];
  created?: boolean;
}

const CURRENT = "AWSCURRENT";
const PREVIOUS = "AWSPREVIOUS";
const MAX_VERSIONS = 100;
type Json = Record<string, unknown>;

export class SecretsState {
  readonly #secrets = new Map<string, Secret>();
  readonly #history: StageEvent[] = [];
  #op: StageEvent["op"] = "PutSecretValue";
  constructor(
    private readonly now: () => number = Date.now,
    private readonly region = "us-east-1",
    private readonly account = "000000000000",
  ) {}

  #find(id: unknown, allowDeleted = false): Secret {
    const key = str(id, "SecretId");
    const secret = this.#secrets.get(key) ?? [...this.#secrets.values()].find((s) => s.arn === key);
    if (!secret) throw new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    if (secret.deleted !== undefined && !allowDeleted) {
      throw new AwsError(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return secret;
  }

  /** The stage history, all secrets or one (by name or ARN, deleted ones too), oldest first. */
  history(secretId?: string): StageEvent[] {
    if (secretId === undefined) return this.#history.map((e) => ({ ...e }));
    const s = this.#secrets.get(secretId) ?? [...this.#secrets.values()].find((x) => x.arn === secretId);
    const name = s?.name ?? secretId;
    return this.#history.filter((e) => e.secret === name).map((e) => ({ ...e }));
  }

  #record(e: Omit<StageEvent, "seq" | "at" | "op">): void {
    this.#history.push({ seq: this.#history.length + 1, at: this.now(), op: this.#op, ...e });
  }

  /**
   * Replication (replication.ts): a copy of a secret's versions and stages as they are now, for
   * another region's state to hold as its replica. Never leaves the emulator.
   */
  exportSecret(
    name: string,
  ):
    { versions: Array<{ id: string; value: string; stages: string[]; created: number }>; created: number } | undefined {
    const s = this.#secrets.get(name);
    if (!s || s.deleted !== undefined) return undefined;
    const versions = [...s.versions.values()].map((v) => ({
      id: v.id,
      value: v.value,
      stages: [...v.stages],
      created: v.created,
    }));
    return { versions, created: s.created };
  }

  /** Makes (or brings up to date) this region's replica of a secret from `exportSecret`'s copy. */
  importReplica(name: string, copy: NonNullable<ReturnType<SecretsState["exportSecret"]>>): void {
    let s = this.#secrets.get(name);
    if (!s) {
      const suffix = createHash("sha256").update(name).digest("hex").slice(0, 6);
      s = {
        name,
        arn: `arn:aws:secretsmanager:${this.region}:${this.account}:secret:${name}-${suffix}`,
        versions: new Map(),
        created: copy.created,
        tags: new Map(),
      };
      this.#secrets.set(name, s);
    }
    s.versions = new Map(
      copy.versions.map((v) => [v.id, { id: v.id, value: v.value, stages: new Set(v.stages), created: v.created }]),
    );
  }

  /** Removes this region's replica (RemoveRegionsFromReplication makes it a standalone secret in AWS; here it goes). */
  dropReplica(name: string): void {
    this.#secrets.delete(name);
  }

  /**
   * What ListSecrets and BatchGetSecretValue read (secret-listing.ts, which the emulator routes
   * them to): every secret, those planned for deletion too, a lookup by name or ARN, the region.
   */
  listing(): { readonly secrets: Secret[]; find(id: string): Secret | undefined; region: string } {
    const all = this.#secrets;
    return {
      // A copy only when read: a batch read by ids looks each one up instead (100,000 secrets).
      get secrets() {
        return [...all.values()];
      },
      find: (id) => this.#secrets.get(id) ?? [...this.#secrets.values()].find((s) => s.arn === id),
      region: this.region,
    };
  }

  CreateSecret(r: Json): Json {
    this.#op = "CreateSecret";
    const name = str(r.Name, "Name");
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name))
      throw new AwsError(
        "ValidationException",
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    if (this.#secrets.has(name))
      throw new AwsError("ResourceExistsException", `The operation failed because the secret ${name} already exists.`);
    const suffix = createHash("sha256")
      .update(name + randomUUID())
      .digest("hex")
      .slice(0, 6);
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.account}:secret:${name}-${suffix}`,
      versions: new Map(),
      created: this.now(),
      tags: new Map(),
    };
    if (typeof r.Description === "string") secret.description = r.Description;
    this.#secrets.set(name, secret);
    const out: Json = { ARN: secret.arn, Name: name };
    if (r.SecretString !== undefined) {
      const token = optionalToken(r.ClientRequestToken) ?? randomUUID();
      this.#record({ secret: name, versionId: token, stages: [CURRENT], created: true });
      const v = this.#addVersion(secret, token, str(r.SecretString, "SecretString"), [CURRENT]);
      out.VersionId = v.id;
    }
    return out;
  }

  DescribeSecret(r: Json): Json {
    const s = this.#find(r.SecretId, true);
    return {
      ARN: s.arn,
      Name: s.name,
      CreatedDate: s.created / 1000,
      ...(s.description ? { Description: s.description } : {}),
      ...(s.deleted !== undefined ? { DeletedDate: s.deleted / 1000 } : {}),
      Tags: [...s.tags].map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: Object.fromEntries(
        [...s.versions.values()].filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]]),
      ),
    };
  }

  GetSecretValue(r: Json): Json {
    const s = this.#find(r.SecretId);
    const versionId = r.VersionId === undefined ? undefined : str(r.VersionId, "VersionId");
    const stage =
      r.VersionStage === undefined ? (versionId ? undefined : CURRENT) : str(r.VersionStage, "VersionStage");
    const v = [...s.versions.values()].find(
      (x) => (versionId === undefined || x.id === versionId) && (stage === undefined || x.stages.has(stage)),
    );
    if (!v)
      throw new AwsError(
        "ResourceNotFoundException",
        `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage ?? ""}`}`,
      );
    return {
      ARN: s.arn,
      Name: s.name,
      VersionId: v.id,
      SecretString: v.value,
      VersionStages: [...v.stages],
      CreatedDate: v.created / 1000,
    };
  }

  PutSecretValue(r: Json): Json {
    const s = this.#find(r.SecretId);
    const token = optionalToken(r.ClientRequestToken) ?? randomUUID();
    const value = str(r.SecretString, "SecretString");
    const stages = r.VersionStages === undefined ? [CURRENT] : strList(r.VersionStages, "VersionStages");
    const existing = s.versions.get(token);
    if (existing) {
      if (existing.value !== value)
        throw new AwsError(
          "ResourceExistsException",
          `You can't modify an existing version, you can only create a new version. (ClientRequestToken ${token} was already used with another value)`,
        );
      this.#op = "PutSecretValue";
      this.#record({ secret: s.name, versionId: token, stages, created: false });
      return { ARN: s.arn, Name: s.name, VersionId: token, VersionStages: [...existing.stages] };
    }
    if (Buffer.byteLength(value) > 65_536)
      throw new AwsError("InvalidParameterException", "SecretString exceeds the 65536 byte limit.");
    this.#op = "PutSecretValue";
    this.#record({ secret: s.name, versionId: token, stages, created: true });
    const v = this.#addVersion(s, token, value, stages);
    return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
  }

  UpdateSecretVersionStage(r: Json): Json {
    const s = this.#find(r.SecretId);
    const stage = str(r.VersionStage, "VersionStage");
    const move = r.MoveToVersionId === undefined ? undefined : str(r.MoveToVersionId, "MoveToVersionId");
    const remove = r.RemoveFromVersionId === undefined ? undefined : str(r.RemoveFromVersionId, "RemoveFromVersionId");
    const holder = [...s.versions.values()].find((v) => v.stages.has(stage));
    if (move !== undefined && !s.versions.has(move))
      throw new AwsError(
        "ResourceNotFoundException",
        `Secrets Manager can't find the specified secret version: ${move}`,
      );
    // AWS refuses to detach AWSCURRENT: it may only move, so a secret never loses its current version.
    if (stage === CURRENT && remove !== undefined && move === undefined) {
      throw new AwsError(
        "InvalidParameterException",
        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.",
      );
    }
    if (remove !== undefined && holder?.id !== remove) {
      throw new AwsError(
        "InvalidParameterException",
        `The parameter RemoveFromVersionId doesn't match the version that currently has the staging label ${stage}.`,
      );
    }
    if (move !== undefined && holder && holder.id !== move && remove === undefined) {
      throw new AwsError(
        "InvalidParameterException",
        `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (move === undefined && remove === undefined)
      throw new AwsError("InvalidParameterException", "You must specify MoveToVersionId or RemoveFromVersionId.");
    this.#op = "UpdateSecretVersionStage";
    if (move !== undefined) this.#attach(s, stage, move);
    else if (holder) {
      holder.stages.delete(stage);
      this.#record({ secret: s.name, stage, removedFrom: holder.id });
    }
    return { ARN: s.arn, Name: s.name };
  }

  ListSecretVersionIds(r: Json): Json {
    const s = this.#find(r.SecretId);
    const all = r.IncludeDeprecated === true;
    return {
      ARN: s.arn,
      Name: s.name,
      Versions: [...s.versions.values()]
        .filter((v) => all || v.stages.size > 0)
        .map((v) => ({ VersionId: v.id, VersionStages: [...v.stages], CreatedDate: v.created / 1000 })),
    };
  }

  TagResource(r: Json): Json {
    const s = this.#find(r.SecretId);
    if (!Array.isArray(r.Tags)) throw new AwsError("InvalidParameterException", "Tags must be a list of {Key, Value}.");
    const tags = (r.Tags as Json[]).map((t) => [str(t.Key, "Tags.Key"), str(t.Value, "Tags.Value")] as const);
    for (const [k, v] of tags) s.tags.set(k, v);
    return {};
  }

  /** AWS's UntagResource: removes the tags named in `TagKeys`; a key the secret does not carry is ignored. */
  UntagResource(r: Json): Json {
    const s = this.#find(r.SecretId);
    for (const key of strList(r.TagKeys, "TagKeys")) s.tags.delete(key);
    return {};
  }

  DeleteSecret(r: Json): Json {
    const s = this.#find(r.SecretId, true);
    if (r.ForceDeleteWithoutRecovery === true) this.#secrets.delete(s.name);
    else {
      const days = r.RecoveryWindowInDays === undefined ? 30 : Number(r.RecoveryWindowInDays);
      if (!Number.isInteger(days) || days < 7 || days > 30)
        throw new AwsError("InvalidParameterException", "RecoveryWindowInDays must be between 7 and 30.");
      s.deleted = this.now();
    }
    return { ARN: s.arn, Name: s.name, DeletionDate: this.now() / 1000 };
  }

  #addVersion(s: Secret, id: string, value: string, stages: string[]): Version {
    if (Buffer.byteLength(value) > 65_536)
      throw new AwsError("InvalidParameterException", "SecretString exceeds the 65536 byte limit.");
    const v: Version = { id, value, stages: new Set(), created: this.now() };
    s.versions.set(id, v);
    for (const stage of stages) this.#attach(s, stage, id);
    if (s.versions.size === 1 && !v.stages.has(CURRENT)) {
      v.stages.add(CURRENT);
      this.#record({ secret: s.name, stage: CURRENT, movedTo: id });
    }
    // AWS drops the oldest versions without a label beyond 100 versions.
    for (const old of [...s.versions.values()]) {
      if (s.versions.size <= MAX_VERSIONS) break;
      if (old.stages.size === 0) s.versions.delete(old.id);
    }
    return v;
  }

  #attach(s: Secret, stage: string, id: string): void {
    const target = s.versions.get(id);
    if (!target || target.stages.has(stage)) return;
    let from: string | undefined;
    let previousMove: { movedTo: string; removedFrom?: string } | undefined;
    for (const v of s.versions.values()) {
      if (!v.stages.has(stage)) continue;
      v.stages.delete(stage);
      from = v.id;
      if (stage === CURRENT) {
        let oldPrevious: string | undefined;
        for (const p of s.versions.values()) if (p.stages.delete(PREVIOUS)) oldPrevious = p.id;
        v.stages.add(PREVIOUS);
        previousMove = { movedTo: v.id, ...(oldPrevious !== undefined ? { removedFrom: oldPrevious } : {}) };
      }
    }
    target.stages.add(stage);
    this.#record({ secret: s.name, stage, movedTo: id, ...(from !== undefined ? { removedFrom: from } : {}) });
    if (previousMove) this.#record({ secret: s.name, stage: PREVIOUS, ...previousMove });
  }
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string" || v.length === 0)
    throw new AwsError("InvalidParameterException", `${field} is required and must be a non-empty string.`);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw new AwsError("InvalidParameterException", `${field} must be a list of strings.`);
  return v as string[];
}

function optionalToken(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const t = str(v, "ClientRequestToken");
  if (t.length < 32 || t.length > 64)
    throw new AwsError("ValidationException", "ClientRequestToken must be between 32 and 64 characters.");
  return t;
}
