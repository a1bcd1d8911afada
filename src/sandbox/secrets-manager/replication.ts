/**
 * Replication across regions, as AWS documents it (ReplicateSecretToRegions,
 * RemoveRegionsFromReplication, DescribeSecret's PrimaryRegion and ReplicationStatus): a primary
 * secret in one region, read-only replicas in others that follow it asynchronously. Each replica's
 * status is InProgress while a change is on its way, InSync once it arrived, Failed (with a
 * message) when it cannot arrive.
 *
 * Fault knobs: `delayMs` (how long a change takes to reach a replica), `hold` (changes never
 * arrive: InProgress for good), `failRegions` (those regions go Failed). Time is the emulator's
 * clock, read on every request: a replica catches up when a request finds its change due.
 * Must not: put a secret value in a status message or an error.
 */
import { AwsError, type SecretsState } from "./secrets-state.js";

type Json = Record<string, unknown>;
export type ReplicaStatus = "InSync" | "InProgress" | "Failed";

interface Replica {
  status: ReplicaStatus;
  message?: string;
  /** Emulator ms at which the latest change reaches this replica (when not held or failed). */
  dueAt: number;
}

export interface ReplicationKnobs {
  delayMs: number;
  hold: boolean;
  failRegions: string[];
}

export class Replication {
  /** `${primaryRegion}|${name}` -> region -> replica. */
  readonly #replicas = new Map<string, Map<string, Replica>>();
  /** `${region}|${name}` of every replica: writes there are refused. */
  readonly #isReplica = new Map<string, string>();
  knobs: ReplicationKnobs = { delayMs: 0, hold: false, failRegions: [] };

  constructor(
    private readonly stateOf: (region: string) => SecretsState,
    private readonly now: () => number,
  ) {}

  /** Brings every replica whose change is due up to date (called before each request is served). */
  catchUp(): void {
    for (const [key, replicas] of this.#replicas) {
      const [primaryRegion = "", name = ""] = splitKey(key);
      for (const [region, r] of replicas) {
        if (r.status !== "InProgress" || this.knobs.hold || r.dueAt > this.now()) continue;
        const copy = this.stateOf(primaryRegion).exportSecret(name);
        if (!copy) continue;
        this.stateOf(region).importReplica(name, copy);
        r.status = "InSync";
      }
    }
  }

  /** A write to a primary secret: each replica is InProgress until the change reaches it. */
  changed(primaryRegion: string, name: string): void {
    const replicas = this.#replicas.get(`${primaryRegion}|${name}`);
    if (!replicas) return;
    for (const [region, r] of replicas) this.#pend(region, r);
  }

  #pend(region: string, r: Replica): void {
    if (this.knobs.failRegions.includes(region)) {
      r.status = "Failed";
      r.message = `Replication to ${region} failed: the replica could not be updated.`;
      return;
    }
    r.status = "InProgress";
    delete r.message;
    r.dueAt = this.now() + this.knobs.delayMs;
  }

  /** Refuses a write to a replica, as AWS does. */
  assertWritable(region: string, name: string): void {
    const primary = this.#isReplica.get(`${region}|${name}`);
    if (primary !== undefined) {
      throw new AwsError(
        "InvalidRequestException",
        `Operation not permitted on a replica secret. Call must be made in primary secret's region ${primary}.`,
      );
    }
  }

  ReplicateSecretToRegions(region: string, name: string, r: Json): Json {
    const add = r.AddReplicaRegions;
    if (!Array.isArray(add) || add.length === 0)
      throw new AwsError("InvalidParameterException", "AddReplicaRegions must list at least one region.");
    const key = `${region}|${name}`;
    const replicas = this.#replicas.get(key) ?? new Map<string, Replica>();
    this.#replicas.set(key, replicas);
    for (const entry of add) {
      const target = (entry as { Region?: unknown }).Region;
      if (typeof target !== "string" || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(target))
        throw new AwsError("InvalidParameterException", "Each replica needs a Region such as eu-west-1.");
      if (target === region)
        throw new AwsError("InvalidParameterException", "A secret cannot be replicated to its own region.");
      const replica: Replica = { status: "InProgress", dueAt: 0 };
      this.#pend(target, replica);
      replicas.set(target, replica);
      this.#isReplica.set(`${target}|${name}`, region);
    }
    return { ARN: name, ReplicationStatus: this.statusOf(region, name) };
  }

  RemoveRegionsFromReplication(region: string, name: string, r: Json): Json {
    const remove = r.RemoveReplicaRegions;
    if (!Array.isArray(remove) || remove.length === 0)
      throw new AwsError("InvalidParameterException", "RemoveReplicaRegions must list at least one region.");
    const replicas = this.#replicas.get(`${region}|${name}`);
    for (const target of remove) {
      if (typeof target !== "string") continue;
      replicas?.delete(target);
      this.#isReplica.delete(`${target}|${name}`);
      this.stateOf(target).dropReplica(name);
    }
    return { ARN: name, ReplicationStatus: this.statusOf(region, name) };
  }

  /** DescribeSecret's additions: PrimaryRegion and, on the primary, ReplicationStatus. */
  describe(region: string, name: string): Json {
    const primary = this.#isReplica.get(`${region}|${name}`);
    if (primary !== undefined) return { PrimaryRegion: primary };
    const replicas = this.#replicas.get(`${region}|${name}`);
    if (!replicas || replicas.size === 0) return {};
    return { PrimaryRegion: region, ReplicationStatus: this.statusOf(region, name) };
  }

  statusOf(region: string, name: string): Json[] {
    return [...(this.#replicas.get(`${region}|${name}`) ?? new Map<string, Replica>())].map(([Region, r]) => ({
      Region,
      KmsKeyId: "alias/aws/secretsmanager",
      Status: r.status,
      ...(r.message ? { StatusMessage: r.message } : {}),
    }));
  }
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf("|");
  return [key.slice(0, at), key.slice(at + 1)];
}
