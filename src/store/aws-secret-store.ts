/**
 * The SecretStore port over the real AWS SDK (Secrets Manager). Knows nothing of vendors.
 * Maps AWS errors onto ours: throttling, 5xx and network faults are retryable StoreErrors; a
 * missing or deleted secret, or a token reused with another value, is an InvalidStateError.
 * Messages name the operation, secret and version; never the value.
 */
import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  SecretsManagerServiceException,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { InvalidStateError, StoreError, SupersededError } from "../core/errors.js";
import {
  type CurrentVersions,
  FINISHED_TAG,
  type SecretListing,
  type SecretPage,
  STAGE_CURRENT,
  STAGE_PENDING,
  type SecretStore,
  type StoredVersion,
  type VersionInfo,
  type VersionRef,
} from "../core/ports.js";
import { SecretValue } from "../core/secret.js";

export function createSecretsManagerClient(
  options: {
    endpoint?: string;
    region?: string;
    maxAttempts?: number;
    /** Credentials other than the default chain's (an assumed role's provider). */
    credentials?: SecretsManagerClientConfig["credentials"];
  } = {},
): SecretsManagerClient {
  const client = new SecretsManagerClient({
    // The middleware stack is resolved once per command type, not on every call: nothing here adds
    // middleware per call, and resolving it was 4% of a rotating worker's CPU (issue 21's fleet).
    cacheMiddleware: true,
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  client.config.signer = oneSignerPerScheme(client.config.signer);
  return client;
}

type SignerOf = SecretsManagerClient["config"]["signer"];

/**
 * The SDK makes a new SigV4 signer, from a copy of the whole client config, for every request.
 * Each is built from the same config (its credential provider, which refreshes itself, and the
 * signing region and service), and a request's region, service and clock offset are passed at
 * signing, so one per auth scheme signs the same. The per-request copy was 1.3% of a rotating
 * worker's CPU (issue 21's fleet).
 */
function oneSignerPerScheme(make: SignerOf): SignerOf {
  const made = new Map<string, ReturnType<SignerOf>>();
  return (scheme) => {
    const key = scheme ? `${scheme.name}|${scheme.signingRegion ?? ""}|${scheme.signingName ?? ""}` : "";
    let signer = made.get(key);
    if (!signer) {
      signer = make(scheme);
      // A failed build (credentials not yet resolvable) is tried again on the next request.
      signer.catch(() => made.delete(key));
      made.set(key, signer);
    }
    return signer;
  };
}

const RETRYABLE = new Set([
  "ThrottlingException",
  "InternalServiceError",
  "TooManyRequestsException",
  "RequestTimeout",
  "ServiceUnavailable",
]);

/** BatchGetSecretValue's most secrets a call. */
const BATCH_READ = 20;

export class AwsSecretStore implements SecretStore {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { onCall?: (operation: string, result: string) => void } = {},
  ) {}

  // IncludeDeprecated: the port promises every version. A rolled-back version keeps no stage, and
  // without it the due check would compute the same rotation id again and never rotate.
  async listVersions(secretId: string): Promise<VersionInfo[]> {
    const versions: VersionInfo[] = [];
    let NextToken: string | undefined;
    do {
      const out = await this.#call("ListSecretVersionIds", secretId, undefined, () =>
        this.client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, NextToken, IncludeDeprecated: true })),
      );
      for (const v of out.Versions ?? []) {
        if (v.VersionId)
          versions.push({
            versionId: v.VersionId,
            stages: v.VersionStages ?? [],
            createdAt: v.CreatedDate ?? new Date(0),
          });
      }
      NextToken = out.NextToken;
    } while (NextToken);
    return versions;
  }

  async read(secretId: string, ref: VersionRef): Promise<StoredVersion> {
    const version = "versionId" in ref ? ref.versionId : undefined;
    const out = await this.#call("GetSecretValue", secretId, version ?? ("stage" in ref ? ref.stage : undefined), () =>
      this.client.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          ...("versionId" in ref ? { VersionId: ref.versionId } : { VersionStage: ref.stage }),
        }),
      ),
    );
    if (out.SecretString === undefined || !out.VersionId) {
      throw new InvalidStateError(
        `secret ${secretId} version ${out.VersionId ?? "?"} holds no SecretString (binary secrets are not supported)`,
      );
    }
    return {
      versionId: out.VersionId,
      stages: out.VersionStages ?? [],
      createdAt: out.CreatedDate ?? new Date(0),
      value: new SecretValue(out.SecretString),
    };
  }

  async putPending(secretId: string, token: string, value: SecretValue): Promise<string> {
    const out = await this.#call("PutSecretValue", secretId, token, () =>
      this.client.send(
        new PutSecretValueCommand({
          SecretId: secretId,
          ClientRequestToken: token,
          SecretString: value.reveal(),
          VersionStages: [STAGE_PENDING],
        }),
      ),
    );
    return out.VersionId ?? token;
  }

  async promote(secretId: string, versionId: string, fromVersionId?: string): Promise<void> {
    const moveCurrent = (from: string) =>
      this.#call("UpdateSecretVersionStage", secretId, versionId, () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: STAGE_CURRENT,
            MoveToVersionId: versionId,
            RemoveFromVersionId: from,
          }),
        ),
      );
    if (fromVersionId && fromVersionId !== versionId) {
      try {
        await moveCurrent(fromVersionId);
        return;
      } catch (err) {
        // AWS refuses a RemoveFromVersionId that does not hold the label: AWSCURRENT moved.
        if (!(err instanceof StoreError) || err.awsType !== "InvalidParameterException") throw err;
        const holder = await this.#currentVersion(secretId);
        if (holder === versionId) return;
        throw new SupersededError(
          `promote of ${versionId} on secret ${secretId}: AWSCURRENT is on ${holder} now, not on ${fromVersionId}`,
        );
      }
    }
    const current = await this.#currentVersion(secretId);
    if (current === versionId) return;
    await moveCurrent(current);
  }

  async removePending(secretId: string, versionId: string): Promise<void> {
    try {
      await this.#call("UpdateSecretVersionStage", secretId, versionId, () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: STAGE_PENDING,
            RemoveFromVersionId: versionId,
          }),
        ),
      );
    } catch (err) {
      // AWS refuses when the label is not on that version: already removed, which is the goal.
      if (err instanceof StoreError && err.awsType === "InvalidParameterException") return;
      throw err;
    }
  }

  // TagResource has its own quota (50/s a region), apart from the writes that move versions.
  async markFinished(secretId: string, versionId: string): Promise<void> {
    await this.#call("TagResource", secretId, versionId, () =>
      this.client.send(new TagResourceCommand({ SecretId: secretId, Tags: [{ Key: FINISHED_TAG, Value: versionId }] })),
    );
  }

  async finishedRotation(secretId: string): Promise<string | undefined> {
    const out = await this.#call("DescribeSecret", secretId, undefined, () =>
      this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
    );
    return out.Tags?.find((t) => t.Key === FINISHED_TAG)?.Value;
  }

  // Pages of 100 (AWS's most). A filtered page may come back short or empty with a NextToken:
  // only a missing NextToken ends the list.
  async listSecrets(namePrefixes: string[]): Promise<SecretListing[]> {
    const out: SecretListing[] = [];
    let next: string | undefined;
    do {
      const page = await this.listSecretsPage(namePrefixes, next);
      out.push(...page.secrets);
      next = page.next;
    } while (next);
    return out;
  }

  /** One page in name order (SortBy name), so a page's token starts the same run of names later. */
  async listSecretsPage(namePrefixes: string[], token?: string): Promise<SecretPage> {
    if (namePrefixes.length > 10) throw new StoreError("listSecrets: at most 10 name prefixes", { retryable: false });
    const filters = namePrefixes.length > 0 ? [{ Key: "name" as const, Values: namePrefixes }] : undefined;
    const page = await this.#call("ListSecrets", namePrefixes.join(",") || "*", undefined, () =>
      this.client.send(
        new ListSecretsCommand({
          MaxResults: 100,
          SortBy: "name",
          SortOrder: "asc",
          ...(token ? { NextToken: token } : {}),
          ...(filters ? { Filters: filters } : {}),
        }),
      ),
    );
    const secrets: SecretListing[] = [];
    for (const s of page.SecretList ?? []) {
      if (!s.Name || !s.ARN || s.DeletedDate) continue;
      secrets.push({
        name: s.Name,
        arn: s.ARN,
        stages: s.SecretVersionsToStages ?? {},
        tags: Object.fromEntries((s.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ""]] : []))),
      });
    }
    return { secrets, ...(page.NextToken ? { next: page.NextToken } : {}) };
  }

  async readCurrent(secretIds: string[]): Promise<CurrentVersions> {
    const result: CurrentVersions = { read: new Map(), failed: new Map() };
    const chunks: string[][] = [];
    for (let i = 0; i < secretIds.length; i += BATCH_READ) chunks.push(secretIds.slice(i, i + BATCH_READ));
    const readChunk = async (ids: string[]) => {
      let out;
      try {
        out = await this.#call("BatchGetSecretValue", `${ids[0] ?? ""} and ${ids.length - 1} more`, undefined, () =>
          this.client.send(new BatchGetSecretValueCommand({ SecretIdList: ids })),
        );
      } catch (err) {
        for (const id of ids) result.failed.set(id, err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const asked = new Set(ids);
      for (const v of out.SecretValues ?? []) {
        const id = v.Name && asked.has(v.Name) ? v.Name : v.ARN && asked.has(v.ARN) ? v.ARN : undefined;
        if (id === undefined || !v.VersionId) continue;
        if (v.SecretString === undefined) {
          result.failed.set(
            id,
            new InvalidStateError(`secret ${id} holds no SecretString (binary secrets are not supported)`),
          );
          continue;
        }
        result.read.set(id, {
          versionId: v.VersionId,
          stages: v.VersionStages ?? [],
          createdAt: v.CreatedDate ?? new Date(0),
          value: new SecretValue(v.SecretString),
        });
      }
      for (const e of out.Errors ?? []) {
        if (!e.SecretId || !asked.has(e.SecretId)) continue;
        const where = `BatchGetSecretValue of secret ${e.SecretId}`;
        const deleted = e.ErrorCode === "InvalidRequestException" && /deletion/i.test(e.Message ?? "");
        result.failed.set(
          e.SecretId,
          e.ErrorCode === "ResourceNotFoundException" || deleted
            ? new InvalidStateError(`${where}: ${deleted ? "the secret is marked for deletion" : "not found"}`)
            : new StoreError(`${where}: ${e.ErrorCode ?? "error"}: ${e.Message ?? ""}`, {
                retryable: RETRYABLE.has(e.ErrorCode ?? ""),
                awsType: e.ErrorCode ?? "Error",
              }),
        );
      }
      for (const id of ids)
        if (!result.read.has(id) && !result.failed.has(id))
          result.failed.set(
            id,
            new StoreError(`BatchGetSecretValue of secret ${id}: not in the answer`, { retryable: true }),
          );
    };
    // A few calls at once: well inside the 100 a second AWS allows for BatchGetSecretValue.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(4, chunks.length) }, async () => {
        for (let i = next++; i < chunks.length; i = next++) await readChunk(chunks[i] as string[]);
      }),
    );
    return result;
  }

  async #currentVersion(secretId: string): Promise<string> {
    const out = await this.#call("DescribeSecret", secretId, undefined, () =>
      this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
    );
    const entry = Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(STAGE_CURRENT));
    if (!entry) throw new InvalidStateError(`secret ${secretId} has no AWSCURRENT version`);
    return entry[0];
  }

  async #call<T>(operation: string, secretId: string, version: string | undefined, send: () => Promise<T>): Promise<T> {
    try {
      const out = await send();
      this.options.onCall?.(operation, "ok");
      return out;
    } catch (err) {
      const type = err instanceof SecretsManagerServiceException ? err.name : err instanceof Error ? err.name : "Error";
      this.options.onCall?.(operation, type);
      throw mapError(err, type, `${operation} on secret ${secretId}${version ? ` (${version})` : ""}`);
    }
  }
}

function mapError(err: unknown, type: string, where: string): Error {
  if (quotesTheBody(err)) {
    // The answer could not be parsed. Its text may be the secret's value, and the parser's message
    // (and the SDK's $response on the error) quote it: keep neither, say what happened.
    return new StoreError(`${where}: the answer from Secrets Manager could not be read (malformed or cut short)`, {
      retryable: true,
      awsType: type,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (type === "ResourceNotFoundException") return new InvalidStateError(`${where}: not found (${message})`, err);
  if (type === "InvalidRequestException" && /deletion/i.test(message))
    return new InvalidStateError(`${where}: the secret is marked for deletion`, err);
  if (type === "ResourceExistsException")
    return new InvalidStateError(`${where}: this ClientRequestToken was already used with another value`, err);
  const fault = err instanceof SecretsManagerServiceException ? err.$fault === "server" : true;
  const retryable =
    RETRYABLE.has(type) || (fault && !(err instanceof SecretsManagerServiceException && err.$fault === "client"));
  return new StoreError(`${where}: ${type}: ${message}`, { retryable, awsType: type, cause: err });
}

/** A parse failure of the response body: JSON's own errors, or the SDK's deserialization wrapper. */
function quotesTheBody(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof SecretsManagerServiceException && err.$fault === "client" && err.name !== "SyntaxError")
    return false;
  return err.name === "SyntaxError" || "$response" in err || /deserializ/i.test(err.message);
}
