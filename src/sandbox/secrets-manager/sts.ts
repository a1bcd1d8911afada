/**
 * The part of AWS STS the worker uses: AssumeRole (the awsQuery protocol: a form-encoded POST,
 * an XML answer), so a credential's `roleArn` is assumed by the AWS SDK's own provider, unchanged.
 * A role must be known to the emulator (`roles`), with its external id if it has one; otherwise
 * AccessDenied, as AWS answers. Each session's access key id is remembered with the role's account,
 * so Secrets Manager requests signed with it reach that account's secrets.
 * Must not: put a secret access key or session token anywhere but the answer.
 */
import { randomBytes, randomUUID } from "node:crypto";

export interface RoleTrust {
  /** The external id the role's trust policy requires, if any. */
  externalId?: string;
}

export class Sts {
  /** Role ARN -> what its trust policy asks. */
  readonly roles = new Map<string, RoleTrust>();
  /** Access key id of an assumed session -> the role's account. */
  readonly #sessions = new Map<string, string>();
  readonly assumed: Array<{ roleArn: string; sessionName: string }> = [];

  constructor(private readonly now: () => number) {}

  /** The account an access key id acts in: an assumed role's, or undefined for the caller's own. */
  accountOf(accessKeyId: string): string | undefined {
    return this.#sessions.get(accessKeyId);
  }

  /** Answers a form-encoded STS request: `{ status, body }` (XML). */
  handle(body: string): { status: number; body: string } {
    const form = new URLSearchParams(body);
    if (form.get("Action") !== "AssumeRole") return error(400, "InvalidAction", "Only AssumeRole is emulated.");
    const roleArn = form.get("RoleArn") ?? "";
    const sessionName = form.get("RoleSessionName") ?? "";
    const account = /^arn:aws:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/.exec(roleArn)?.[1];
    if (!account) return error(400, "ValidationError", "RoleArn is not a valid IAM role ARN.");
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
      return error(400, "ValidationError", "RoleSessionName must be 2 to 64 characters of [\\w+=,.@-].");
    const trust = this.roles.get(roleArn);
    const externalId = form.get("ExternalId") ?? undefined;
    if (!trust || (trust.externalId !== undefined && trust.externalId !== externalId)) {
      return error(403, "AccessDenied", `User is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    }
    const accessKeyId = `ASIA${randomBytes(8).toString("hex").toUpperCase()}`;
    this.#sessions.set(accessKeyId, account);
    this.assumed.push({ roleArn, sessionName });
    const seconds = Number(form.get("DurationSeconds") ?? 3600);
    const expiration = new Date(this.now() + Math.min(Math.max(seconds, 900), 43_200) * 1000).toISOString();
    const role = roleArn.slice(roleArn.indexOf(":role/") + 6);
    return {
      status: 200,
      body:
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
        `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${randomBytes(20).toString("base64")}</SecretAccessKey>` +
        `<SessionToken>${randomBytes(32).toString("base64")}</SessionToken>` +
        `<Expiration>${expiration}</Expiration></Credentials>` +
        `<AssumedRoleUser><AssumedRoleId>AROA${account}:${sessionName}</AssumedRoleId>` +
        `<Arn>arn:aws:sts::${account}:assumed-role/${role}/${sessionName}</Arn></AssumedRoleUser>` +
        `</AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
        `</AssumeRoleResponse>`,
    };
  }
}

function error(status: number, code: string, message: string): { status: number; body: string } {
  const escaped = message.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return {
    status,
    body:
      `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
      `<Code>${code}</Code><Message>${escaped}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  };
}
