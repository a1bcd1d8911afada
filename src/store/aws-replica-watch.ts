/**
 * The ReplicaWatch port over the AWS SDK: the primary's DescribeSecret gives each replica region
 * and its ReplicationStatus; each replica's AWSCURRENT is read in its own region (DescribeSecret
 * there, with the same credentials), since InSync alone does not say which version arrived.
 * Knows nothing of vendors. Never reads a secret value.
 */
import { DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { StoreError } from "../core/errors.js";
import { type ReplicaState, type ReplicaWatch, STAGE_CURRENT } from "../core/ports.js";

export class AwsReplicaWatch implements ReplicaWatch {
  constructor(
    private readonly primary: SecretsManagerClient,
    /** A client in another region, with the primary's credentials. */
    private readonly clientIn: (region: string) => SecretsManagerClient,
  ) {}

  async replicas(secretId: string): Promise<ReplicaState[]> {
    const described = await this.#describe(this.primary, secretId);
    const out: ReplicaState[] = [];
    for (const r of described.ReplicationStatus ?? []) {
      if (!r.Region) continue;
      const status = r.Status === "InSync" || r.Status === "Failed" ? r.Status : "InProgress";
      const there = await this.#describe(this.clientIn(r.Region), described.Name ?? secretId).catch(() => undefined);
      const current = Object.entries(there?.VersionIdsToStages ?? {}).find(([, stages]) =>
        stages.includes(STAGE_CURRENT),
      );
      out.push({ region: r.Region, status, currentVersionId: current?.[0] });
    }
    return out;
  }

  async #describe(client: SecretsManagerClient, secretId: string) {
    try {
      return await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    } catch (err) {
      throw new StoreError(`DescribeSecret ${secretId} (replication): ${(err as Error).name ?? "failed"}`, {
        retryable: true,
        cause: err,
      });
    }
  }
}
