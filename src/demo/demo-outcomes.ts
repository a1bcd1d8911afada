/**
 * How `key-rotator demo` judges each rotation it ran, from the outside: the store's current value,
 * and the simulator asked as the vendor would be (is the current key accepted, is the old one
 * refused, is any key left over). One row of the demo's table per rotation. Must not: put a key in
 * a row (rows say "yes", "revoked", a status code).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SANDBOX_KEY_API_VENDORS } from "../sandbox/key-api-sandbox.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import type { SeededCallCov, SeededJustCall, SeededKeyApi } from "../sandbox/seed.js";

export interface Outcome {
  credential: string;
  vendor: string;
  how: string;
  expected: string;
  result: string;
  oldKey: string;
  currentWorks: string;
  seconds: string;
  ok: boolean;
}

const secondsSince = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

async function currentValue<T>(client: SecretsManagerClient, secretId: string): Promise<Partial<T>> {
  const current = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  return JSON.parse(current.SecretString ?? "{}") as Partial<T>;
}

/** A CallCov rotation: completed (old key revoked, a new one current) or rolled back (old key kept). */
export async function callcovOutcome(
  client: SecretsManagerClient,
  sandbox: Sandbox,
  c: SeededCallCov,
  run: { how: string; expected: string; result: string; since: number; rollback?: boolean },
): Promise<Outcome> {
  const value = await currentValue<{ apiKey: string; keyId: string }>(client, c.secretId);
  const works =
    (await fetch(`${sandbox.urls.callcov}/api/v1/health`, { headers: { "X-API-Key": value.apiKey ?? "" } })).status ===
    200;
  const oldActive = sandbox.callcov.isKeyActive(c.keyId);
  const ok =
    run.result === run.expected &&
    works &&
    (run.rollback ? oldActive && value.keyId === c.keyId : !oldActive && value.keyId !== c.keyId);
  return {
    credential: c.id,
    vendor: "callcov",
    how: run.how,
    expected: run.expected,
    result: run.result,
    oldKey: oldActive ? (run.rollback ? "kept (still current)" : "STILL ACTIVE") : "revoked",
    currentWorks: works ? "yes" : "NO",
    seconds: secondsSince(run.since),
    ok,
  };
}

/** A JustCall rotation the demo played the person for: the new pair works, the old one is revoked. */
export async function justcallOutcome(
  client: SecretsManagerClient,
  sandbox: Sandbox,
  c: SeededJustCall,
  since: number,
): Promise<Outcome> {
  const current = await currentValue<{ apiKey: string; apiSecret: string }>(client, c.secretId);
  const works =
    (
      await fetch(`${sandbox.urls.justcall}/v2/account`, {
        headers: { authorization: `${current.apiKey ?? ""}:${current.apiSecret ?? ""}` },
      })
    ).status === 200;
  const pairs = (await (await fetch(`${sandbox.urls.justcall}/__dashboard/pairs`)).json()) as {
    data: Array<{ apiKey: string; active: boolean }>;
  };
  const oldActive = pairs.data.find((p) => p.apiKey === c.apiKey)?.active ?? false;
  const ok = works && !oldActive && current.apiKey !== c.apiKey;
  return {
    credential: c.id,
    vendor: "justcall",
    how: "operator-assisted (JustCall)",
    expected: "completed",
    result: ok ? "completed" : "not completed",
    oldKey: oldActive ? "STILL ACTIVE" : "revoked",
    currentWorks: works ? "yes" : "NO",
    seconds: secondsSince(since),
    ok,
  };
}

/** The vendor's active key ids: taken before a rotation, so the outcome can tell what it left. */
export function activeKeyIds(sandbox: Sandbox, c: SeededKeyApi): Set<string> {
  return new Set(
    sandbox[c.vendor]
      .keyHistory()
      .filter((k) => k.active)
      .map((k) => k.id),
  );
}

/**
 * A Twilio, SendGrid or Datadog rotation: `rotate --wait` exited 0, a new key is current and the
 * vendor's own key check accepts it, the old key is revoked and that check refuses it, and the
 * vendor's active keys are those before the rotation with the old one swapped for the new one.
 */
export async function keyApiOutcome(
  client: SecretsManagerClient,
  sandbox: Sandbox,
  c: SeededKeyApi,
  run: { exitCode: number | null; activeBefore: Set<string>; since: number },
): Promise<Outcome> {
  const v = SANDBOX_KEY_API_VENDORS[c.vendor];
  const url = sandbox.urls[c.vendor];
  const value = await currentValue<{ apiKey: string; keyId: string }>(client, c.secretId);
  const current = { apiKey: value.apiKey ?? "", keyId: value.keyId ?? "" };
  const works = (await v.check(url, current, sandbox)) === 200;
  const oldStatus = await v.check(url, { apiKey: c.apiKey, keyId: c.keyId }, sandbox);
  const oldActive = sandbox[c.vendor].isKeyActive(c.keyId);
  const expectedActive = new Set([...run.activeBefore].filter((id) => id !== c.keyId)).add(current.keyId);
  const activeNow = activeKeyIds(sandbox, c);
  const leftOver = [...activeNow].filter((id) => !expectedActive.has(id)).length;
  const completed = run.exitCode === 0 && current.keyId !== c.keyId;
  const ok =
    completed && works && !oldActive && oldStatus !== 200 && leftOver === 0 && activeNow.size === expectedActive.size;
  return {
    credential: c.id,
    vendor: c.vendor,
    how: `manual (${v.name} definition)`,
    expected: "completed",
    result: !completed
      ? `exit ${run.exitCode ?? "?"}`
      : leftOver > 0
        ? `completed, ${leftOver} key${leftOver > 1 ? "s" : ""} left over`
        : "completed",
    oldKey: oldActive || oldStatus === 200 ? "STILL ACTIVE" : `revoked (refused, ${oldStatus})`,
    currentWorks: works ? "yes" : "NO",
    seconds: secondsSince(run.since),
    ok,
  };
}
