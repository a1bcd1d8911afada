/**
 * `POST /v1/leaks`: a leak report turned into an emergency rotation. Takes
 *
 * - GitHub's `secret_scanning_alert` webhook (`X-GitHub-Event`, signed in `X-Hub-Signature-256`).
 *   Its payload names the alert (`alert.url`, `alert.html_url`), not the secret, so the value is read
 *   from the alert's REST URL (leak-matcher.ts githubAlertSecret). `created`, `reopened`,
 *   `publicly_leaked` and `validated` (unless `inactive`) report a leak; other actions are taken
 *   and ignored; `ping` answers 200.
 * - a generic form for other scanners (GitGuardian, a script), signed in `X-KeyRotator-Signature`
 *   with the same scheme: `{"secret": "...", "url": "...", "source": "..."}`, or a list of
 *   `{"token", "type", "url", "source"}` as GitHub's partner program sends.
 *
 * The signature is HMAC-SHA256 of the raw body with the leak webhook's secret, compared in constant
 * time; a missing or wrong one answers 401 before the body is read as JSON. The leaked value is
 * compared with every credential's live keys (leak-matcher.ts); each match starts an emergency
 * through the same bounded path as any other (cooldown, cap, write budget), with the report's URL
 * as the reason. Match or no match, the answer is the same 202 (it says nothing of which keys
 * exist), unless Redis does not answer (503: send it again).
 *
 * Must not: store, log, answer or audit the leaked value.
 */
import type { IncomingMessage } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { actorString, auditLog, type AuditActor } from "../audit/audit-log.js";
import { describeError } from "../core/errors.js";
import { SecretValue } from "../core/secret.js";
import { EmergencyRefusedError } from "../queue/emergency-limits.js";
import { RedisUnavailableError } from "../queue/redis.js";
import { readBytes } from "./rotate-answer.js";

export interface LeakIntake {
  /** The webhook's HMAC secret (GitHub's webhook secret; the generic form's too). */
  secret: string;
  /** Ids of the credentials whose live keys equal the value. */
  match(leaked: SecretValue): Promise<string[]>;
  /** GitHub: the alert's secret, read from its REST URL; undefined when it cannot be read. */
  alertSecret?(alertUrl: string): Promise<SecretValue | undefined>;
  /** Says what happened (credential ids, URLs; never a value). */
  log?(fields: Record<string, unknown>, message: string): void;
}

/** What the route needs of the admin port: start an emergency. */
export interface LeakRotate {
  rotate(request: {
    credentialId: string;
    emergency: boolean;
    reason: string;
    actor: string;
  }): Promise<{ jobId: string; rotationId: string; joined: boolean }>;
}

export interface LeakReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** GitHub payloads carry the repository and more: room for them, not for a flood. */
const MAX_BODY = 256 * 1024;
const ACCEPTED: LeakReply = { status: 202, body: { status: "accepted" } };
const LEAK_ACTIONS = new Set(["created", "reopened", "publicly_leaked", "validated"]);

const githubAlert = z.object({
  action: z.string(),
  alert: z.object({
    number: z.number().optional(),
    url: z.string().optional(),
    html_url: z.string().optional(),
    secret_type: z.string().optional(),
    validity: z.string().optional(),
    secret: z.string().optional(),
  }),
  repository: z.object({ full_name: z.string().optional() }).optional(),
});
const genericItem = z.object({
  secret: z.string().min(1).max(4_096).optional(),
  token: z.string().min(1).max(4_096).optional(),
  url: z.string().max(2_048).optional(),
  source: z.string().max(100).optional(),
  type: z.string().max(100).optional(),
});
const generic = z.union([genericItem, z.array(genericItem).min(1).max(100)]);

interface Report {
  value: SecretValue;
  url: string;
  source: string;
}

export async function leakRoute(
  intake: LeakIntake | undefined,
  admin: LeakRotate | undefined,
  req: IncomingMessage,
  address: string | undefined,
  timeoutMs: number,
): Promise<LeakReply> {
  if (!intake || !admin)
    return {
      status: 503,
      body: {
        error: "leaks_disabled",
        message: "no leak webhook secret is configured (KEY_ROTATOR_LEAK_WEBHOOK_SECRET_FILE)",
      },
    };
  const raw = await readBytes(req, MAX_BODY);
  if (raw === undefined)
    return {
      status: 413,
      body: { error: "too_large", message: `the body is larger than ${MAX_BODY} bytes` },
      headers: { connection: "close" },
    };
  const event = header(req, "x-github-event");
  const signature =
    header(req, event ? "x-hub-signature-256" : "x-keyrotator-signature") ?? header(req, "x-hub-signature-256");
  if (!signedBy(intake.secret, raw, signature))
    return {
      status: 401,
      body: {
        error: "unauthorized",
        message:
          "missing or wrong signature (X-Hub-Signature-256 or X-KeyRotator-Signature: sha256=<HMAC of the body>)",
      },
    };
  if (event === "ping") return { status: 200, body: { status: "pong" } };
  if (event && event !== "secret_scanning_alert")
    return { status: 202, body: { status: "ignored", message: `event ${event} is not a leak report` } };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    return { status: 400, body: { error: "bad_request", message: "the body is not JSON" } };
  }
  const actor: AuditActor = { name: event ? "github" : "scanner", via: "leak", ...(address ? { address } : {}) };
  let reports: Report[];
  if (event) {
    const parsed = githubAlert.safeParse(json);
    if (!parsed.success) return badShape(parsed.error);
    const { action, alert, repository } = parsed.data;
    if (!LEAK_ACTIONS.has(action) || (action === "validated" && alert.validity === "inactive"))
      return { status: 202, body: { status: "ignored", message: `action ${action} reports no leak` } };
    const url = alert.html_url ?? alert.url ?? `${repository?.full_name ?? "?"} alert ${alert.number ?? "?"}`;
    const value = alert.secret
      ? new SecretValue(alert.secret)
      : alert.url && intake.alertSecret
        ? await intake.alertSecret(alert.url).catch(() => undefined)
        : undefined;
    if (!value) {
      intake.log?.(
        { event: "leak.unreadable", url, secretType: alert.secret_type },
        `leak report ${url}: its secret could not be read (set KEY_ROTATOR_GITHUB_TOKEN to read alerts); nothing rotated`,
      );
      auditLog().emit({ event: "leak.reported", actor, reason: url, matched: 0, readable: false });
      return ACCEPTED;
    }
    reports = [{ value, url, source: "github" }];
  } else {
    const parsed = generic.safeParse(json);
    if (!parsed.success) return badShape(parsed.error);
    const items = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    reports = [];
    for (const item of items) {
      const value = item.secret ?? item.token;
      if (!value)
        return { status: 400, body: { error: "bad_request", message: "each report needs secret (or token)" } };
      reports.push({ value: new SecretValue(value), url: item.url ?? "(no url)", source: item.source ?? "scanner" });
    }
  }
  return answer(intake, admin, reports, actor, timeoutMs);
}

async function answer(
  intake: LeakIntake,
  admin: LeakRotate,
  reports: Report[],
  actor: AuditActor,
  timeoutMs: number,
): Promise<LeakReply> {
  for (const report of reports) {
    const matched = await intake.match(report.value);
    auditLog().emit({
      event: "leak.reported",
      actor,
      reason: report.url,
      source: report.source,
      matched: matched.length,
    });
    intake.log?.(
      { event: "leak.reported", url: report.url, source: report.source, credentials: matched },
      matched.length > 0
        ? `leak report ${report.url} matches ${matched.join(", ")}: emergency rotation`
        : `leak report ${report.url} matches no live key`,
    );
    for (const credentialId of matched) {
      try {
        await withTimeout(
          admin.rotate({
            credentialId,
            emergency: true,
            reason: `leak reported: ${report.url}`.slice(0, 500),
            actor: actorString(actor),
          }),
          timeoutMs,
        );
      } catch (err) {
        // Refused by its bounds: audited by the gate, and the next report can try again.
        if (err instanceof EmergencyRefusedError) continue;
        if (err instanceof RedisUnavailableError || err instanceof TimeoutError)
          return {
            status: 503,
            body: { error: "redis_unavailable", message: "the emergency could not be queued; send the report again" },
            headers: { "retry-after": "5" },
          };
        intake.log?.({ event: "leak.failed", credentialId, error: describeError(err) }, "leak emergency failed");
        return { status: 500, body: { error: "internal", message: "the emergency could not be started" } };
      }
    }
  }
  return ACCEPTED;
}

function badShape(error: z.ZodError): LeakReply {
  return {
    status: 400,
    body: {
      error: "bad_request",
      message: error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
    },
  };
}

export function signedBy(secret: string, body: Buffer, signature: string | undefined): boolean {
  const given = /^sha256=([0-9a-fA-F]{64})$/.exec(signature ?? "")?.[1];
  if (!given) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

class TimeoutError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  p.catch(() => undefined);
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError("timed out")), ms))),
  ]).finally(() => clearTimeout(timer));
}
