/**
 * `key-rotator iam-policy <inventory>`: prints the worker role's least-privilege IAM policy (JSON),
 * or with `--trust` the IRSA trust policy for the chart's service account. Region and account are
 * required (the region may come from AWS_REGION, and then stderr says so); wildcard secret ids
 * are refused. Customer-managed KMS keys: `--kms-key <arn>` (repeatable), or `--describe` to ask
 * Secrets Manager which key encrypts each secret.
 */
import { loadInventory } from "../config/load-inventory.js";
import { toRuntime } from "../config/load-runtime.js";
import { secretsReadBesides } from "../config/runtime-config.js";
import { IamInputError, iamPolicyFor } from "../iam/iam-policy.js";
import { describeKmsKeys } from "../iam/kms-keys.js";
import { policiesByPlace, spansPlaces } from "../iam/policies-by-place.js";
import { trustPolicyFor } from "../iam/trust-policy.js";
import { createSecretsManagerClient } from "../store/aws-secret-store.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export interface IamPolicyOptions {
  region?: string;
  account?: string;
  kmsKey?: string[];
  describe?: boolean;
  trust?: boolean;
  oidcProvider?: string;
  namespace?: string;
  serviceAccount?: string;
}

/** The chart's service account for `helm install key-rotator` (the release's full name). */
export const DEFAULT_SERVICE_ACCOUNT = "key-rotator";

export async function iamPolicyCommand(
  file: string,
  o: IamPolicyOptions,
  out: Out,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const fail = (lines: string[]) => {
    for (const l of lines) out.stderr(`key-rotator iam-policy: ${l}`);
    return EXIT_USAGE;
  };
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) return fail(["give --region (the region of the inventory's secrets), or set AWS_REGION"]);
  if (!o.account) return fail(["give --account (the 12-digit AWS account id of the inventory's secrets)"]);
  if (!o.region) out.stderr(`key-rotator iam-policy: region ${region}, from the environment (AWS_REGION)`);
  try {
    if (o.trust) {
      if (!o.oidcProvider || !o.namespace)
        return fail(["--trust needs --oidc-provider (the cluster's OIDC issuer) and --namespace (the release's)"]);
      if (!o.serviceAccount)
        out.stderr(
          `key-rotator iam-policy: service account ${DEFAULT_SERVICE_ACCOUNT} (the chart's for release key-rotator; --service-account for another)`,
        );
      const trust = trustPolicyFor({
        oidcProvider: o.oidcProvider,
        accountId: o.account,
        region,
        namespace: o.namespace,
        serviceAccount: o.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT,
      });
      out.stdout(JSON.stringify(trust, null, 2));
      return EXIT_OK;
    }
    const inventory = await loadInventory(file);
    const secretIds = inventory.credentials.map((c) => c.secretId);
    const managementSecretIds = secretsReadBesides(toRuntime(inventory).credentials);
    const kmsKeyArns = [...(o.kmsKey ?? [])];
    if (o.describe) {
      const client = createSecretsManagerClient({ region });
      try {
        const found = await describeKmsKeys(client, [...secretIds, ...managementSecretIds], region, o.account);
        if (found.problems.length > 0) {
          for (const p of found.problems) out.stderr(`key-rotator iam-policy: ${p}`);
          return EXIT_FAILED;
        }
        kmsKeyArns.push(...found.keys);
      } finally {
        client.destroy();
      }
    }
    const credentials = toRuntime(inventory).credentials;
    if (spansPlaces(credentials)) {
      // Credentials in other regions or accounts: a policy for the worker's role and one per role it assumes.
      out.stdout(JSON.stringify(policiesByPlace(credentials, { region, accountId: o.account, kmsKeyArns }), null, 2));
      return EXIT_OK;
    }
    // Keys named on the command line or found, and each credential's own (`kmsKeyArn` in the inventory).
    kmsKeyArns.push(...credentials.flatMap((c) => (c.kmsKeyArn ? [c.kmsKeyArn] : [])));
    const policy = iamPolicyFor({ secretIds, managementSecretIds, region, accountId: o.account, kmsKeyArns });
    out.stdout(JSON.stringify(policy, null, 2));
    return EXIT_OK;
  } catch (err) {
    if (err instanceof IamInputError) return fail(err.problems);
    throw err;
  }
}
