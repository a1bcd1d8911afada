/**
 * The IAM policies of a fleet that spans regions and accounts: one policy per principal. The
 * worker's role gets its own account's secrets (in each of their regions) and sts:AssumeRole on
 * exactly the roles the inventory names; each such role gets the secrets that live in its account
 * (in each region). Each region's statements are the single-region policy's (iam-policy.ts), with
 * their Sids made unique by region.
 */
import type { RuntimeCredential } from "../config/runtime-config.js";
import { vendorCredential } from "../config/runtime-config.js";
import { iamPolicyFor } from "./iam-policy.js";

export interface PlacedPolicies {
  /** The worker's own role (the one IRSA gives the pod). */
  worker: { Version: string; Statement: object[] };
  /** Role ARN -> the policy to attach to that role, in its account. */
  roles: Record<string, { Version: string; Statement: object[] }>;
}

/** Whether any credential names a region or a role: then one policy per principal is needed. */
export function spansPlaces(credentials: RuntimeCredential[]): boolean {
  return credentials.some((c) => c.aws.region !== undefined || c.aws.roleArn !== undefined);
}

export function policiesByPlace(
  credentials: RuntimeCredential[],
  home: { region: string; accountId: string; kmsKeyArns?: string[] },
): PlacedPolicies {
  // Principal (worker or role ARN) -> region -> the secrets it rotates and the ones it only reads.
  const byPrincipal = new Map<string, Map<string, { secretIds: string[]; readIds: string[]; keys: string[] }>>();
  for (const c of credentials) {
    const principal = c.aws.roleArn ?? "worker";
    const region = c.aws.region ?? home.region;
    const regions =
      byPrincipal.get(principal) ?? new Map<string, { secretIds: string[]; readIds: string[]; keys: string[] }>();
    byPrincipal.set(principal, regions);
    const group = regions.get(region) ?? { secretIds: [], readIds: [], keys: [] };
    regions.set(region, group);
    group.secretIds.push(c.secretId);
    group.readIds.push(...c.module.secretsRead(vendorCredential(c)));
    if (c.kmsKeyArn) group.keys.push(c.kmsKeyArn);
  }
  const policyOf = (principal: string, accountId: string) => {
    const statements: object[] = [];
    for (const [region, group] of [...(byPrincipal.get(principal) ?? new Map())].sort(([a], [b]) =>
      a.localeCompare(b),
    )) {
      const one = iamPolicyFor({
        secretIds: group.secretIds,
        managementSecretIds: group.readIds,
        region,
        accountId,
        // Each credential's own key where it lives; keys given on the command line are the worker's.
        kmsKeyArns: [...group.keys, ...(principal === "worker" ? (home.kmsKeyArns ?? []) : [])],
      });
      for (const s of one.Statement as Array<{ Sid: string }>)
        statements.push({ ...s, Sid: `${s.Sid}${sidSuffix(region)}` });
    }
    return statements;
  };
  const roles = [...byPrincipal.keys()].filter((p) => p !== "worker").sort();
  const worker = policyOf("worker", home.accountId);
  if (roles.length > 0)
    worker.push({ Sid: "AssumeCredentialRoles", Effect: "Allow", Action: ["sts:AssumeRole"], Resource: roles });
  return {
    worker: { Version: "2012-10-17", Statement: worker },
    roles: Object.fromEntries(
      roles.map((role) => [role, { Version: "2012-10-17", Statement: policyOf(role, role.split(":")[4] ?? "") }]),
    ),
  };
}

/** A Sid may hold only letters and digits: "eu-west-1" -> "EuWest1". */
function sidSuffix(region: string): string {
  return region
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}
