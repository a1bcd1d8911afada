/**
 * The IRSA trust policy of the worker's role: only the chart's service account, in its namespace,
 * through the cluster's OIDC provider, may assume it. The service account's name is the chart's
 * (the release's full name, `key-rotator` for `helm install key-rotator`), not a guess.
 */
import { ACCOUNT, IamInputError, partitionOf } from "./iam-policy.js";

export interface TrustPolicyInput {
  /** The cluster's OIDC issuer, with or without https:// (aws eks describe-cluster ... identity.oidc.issuer). */
  oidcProvider: string;
  accountId: string;
  region: string;
  namespace: string;
  serviceAccount: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function trustPolicyFor(input: TrustPolicyInput): object {
  const provider = input.oidcProvider.replace(/^https:\/\//, "").replace(/\/+$/, "");
  const problems: string[] = [];
  if (!/^[a-z0-9.-]+(\/[A-Za-z0-9._-]+)*$/.test(provider) || provider.includes("*"))
    problems.push(
      `OIDC provider "${input.oidcProvider}" is not an issuer such as oidc.eks.<region>.amazonaws.com/id/<id>`,
    );
  if (!ACCOUNT.test(input.accountId)) problems.push(`account "${input.accountId}" is not a 12-digit AWS account id`);
  if (!DNS_LABEL.test(input.namespace))
    problems.push(`namespace "${input.namespace}" is not a Kubernetes namespace name`);
  if (!DNS_LABEL.test(input.serviceAccount))
    problems.push(`service account "${input.serviceAccount}" is not a Kubernetes name`);
  if (problems.length > 0) throw new IamInputError(problems);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "KeyRotatorServiceAccount",
        Effect: "Allow",
        Principal: { Federated: `arn:${partitionOf(input.region)}:iam::${input.accountId}:oidc-provider/${provider}` },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${provider}:sub`]: `system:serviceaccount:${input.namespace}:${input.serviceAccount}`,
            [`${provider}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  };
}
