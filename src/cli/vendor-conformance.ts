/**
 * The conformance run behind `key-rotator vendor check`: the calls a rotation makes, against a
 * vendor's test account, each judged by what the engine relies on. In order:
 *
 *   create -> verify -> list -> revoke -> confirm-refused -> confirm-gone   (then cleanup, when needed)
 *
 * create makes a key named `key-rotator/conformance/<id>` and checks it fits the definition's key
 * format; verify hands the vendor the stored value's secret, as the engine does; list must show the
 * key by id and by the name it was made with (the engine finds a key a crashed create left by its
 * name); revoke must say revoked; then the vendor must refuse the key and list it no more. A step
 * the run cannot do without an earlier one is recorded as skipped. Whenever the key was not seen
 * refused at the end, cleanup revokes it again and says whether it may still be alive.
 *
 * Must not: put a key in a result, or end without saying whether a key is left at the vendor.
 */
import { describeError } from "../core/errors.js";
import type { KeyApiVendor, ListedKey } from "../core/ports.js";
import { SecretValue } from "../core/secret.js";
import type { KeyApiValue, ValueShape } from "../core/stored-value.js";

export const CONFORMANCE_STEPS = ["create", "verify", "list", "revoke", "confirm-refused", "confirm-gone"] as const;
export type StepName = (typeof CONFORMANCE_STEPS)[number] | "cleanup";

/** One HTTP call the adapter made (its `onRequest`): "error" when no answer came. */
export interface VendorCall {
  operation: string;
  status: number | "error";
}

export interface StepResult {
  step: StepName;
  ok: boolean;
  /** The step's own call's last status (the revoke's, not the login's before it); null when none answered. */
  status: number | null;
  detail: string;
  calls: VendorCall[];
}

export interface ConformanceReport {
  keyName: string;
  /** The vendor's id of the key made (never the key); null when create made none we know of. */
  keyId: string | null;
  passed: boolean;
  /** True when a key made by the run may still be accepted by the vendor: revoke it by hand. */
  keyLeftBehind: boolean;
  steps: StepResult[];
}

export interface ConformanceDeps {
  vendor: KeyApiVendor;
  vendorId: string;
  value: ValueShape<KeyApiValue>;
  /** The calls the adapter made since the last take. */
  takeCalls(): VendorCall[];
  onStep?(result: StepResult): void;
  sleep?(ms: number): Promise<void>;
  /** Looks of confirm-refused and confirm-gone, 1 s apart, for a vendor slow to forget a key (default 5). */
  attempts?: number;
}

const OPERATION: Record<StepName, string> = {
  create: "create",
  verify: "verify",
  list: "list",
  revoke: "revoke",
  "confirm-refused": "verify",
  "confirm-gone": "list",
  cleanup: "revoke",
};

/**
 * Runs the steps. Throws only when create failed before any request reached the vendor (a
 * management secret of the wrong shape, say): that is bad input, and there is nothing to undo.
 */
export async function runConformance(d: ConformanceDeps, keyName: string): Promise<ConformanceReport> {
  const steps: StepResult[] = [];
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const attempts = d.attempts ?? 5;
  const record = (step: StepName, ok: boolean, detail: string, calls = d.takeCalls()): boolean => {
    const result: StepResult = { step, ok, status: statusOf(calls, OPERATION[step]), detail, calls };
    steps.push(result);
    d.onStep?.(result);
    return ok;
  };
  const skip = (step: StepName, why: string) => record(step, false, `skipped: ${why}`, []);
  const report = (keyId: string | null, keyLeftBehind: boolean): ConformanceReport => ({
    keyName,
    keyId,
    passed: CONFORMANCE_STEPS.every((name) => steps.some((s) => s.step === name && s.ok)),
    keyLeftBehind,
    steps,
  });

  d.takeCalls();
  let keyId: string;
  let secret: SecretValue | undefined;
  try {
    const created = await d.vendor.createKey(keyName);
    keyId = created.keyId;
    try {
      const stored = { vendor: d.vendorId, apiKey: created.key.reveal(), keyId };
      secret = d.value.secretOf(d.value.parse(new SecretValue(JSON.stringify(stored)), "the key made"));
      record("create", true, `made key ${keyId}`);
    } catch (err) {
      record("create", false, `made key ${keyId}, which the engine would not store: ${describeError(err)}`);
    }
  } catch (err) {
    const calls = d.takeCalls();
    if (calls.length === 0) throw err;
    record("create", false, describeError(err), calls);
    for (const step of CONFORMANCE_STEPS.slice(1)) skip(step, "no key was made");
    // The key may exist though no usable answer came back: look for it by its name.
    return report(null, await cleanupByName(d, keyName, record));
  }

  if (secret) {
    const verdict = await attempt(() => d.vendor.verify(secret));
    if (verdict instanceof Error) record("verify", false, describeError(verdict));
    else if (verdict.valid) record("verify", true, "the vendor accepts the new key");
    else record("verify", false, `the vendor refuses the key it just made (${verdict.status}): ${verdict.reason}`);
  } else skip("verify", "the key made does not fit the definition");

  const listed = await attempt(() => d.vendor.listKeys());
  if (listed instanceof Error) record("list", false, describeError(listed));
  else record("list", ...listedVerdict(listed, keyId, keyName));

  const revoked = await attempt(() => d.vendor.revokeKey(keyId));
  if (revoked instanceof Error) record("revoke", false, describeError(revoked));
  else if (revoked === "revoked") record("revoke", true, `revoked key ${keyId}`);
  else record("revoke", false, `answered "already gone" for key ${keyId}, made a moment ago`);

  let refused = false;
  if (revoked instanceof Error) {
    skip("confirm-refused", "the revoke failed");
    skip("confirm-gone", "the revoke failed");
  } else {
    if (secret) {
      const key = secret;
      const look = await patiently(attempts, sleep, async () => {
        const v = await d.vendor.verify(key);
        return v.valid ? undefined : v;
      });
      if (look.error) record("confirm-refused", false, describeError(look.error));
      else if (look.found)
        record("confirm-refused", true, `refused (${look.found.status}): ${look.found.reason}${tries(look.tries)}`);
      else
        record("confirm-refused", false, `the vendor still accepts the key after its revocation${tries(look.tries)}`);
      refused = look.found !== undefined;
    } else skip("confirm-refused", "the key made does not fit the definition");
    const gone = await patiently(attempts, sleep, async () => {
      const keys = await d.vendor.listKeys();
      return keys.some((k) => k.keyId === keyId) ? undefined : keys;
    });
    if (gone.error) record("confirm-gone", false, describeError(gone.error));
    else if (gone.found) record("confirm-gone", true, `key ${keyId} is no longer listed${tries(gone.tries)}`);
    else record("confirm-gone", false, `key ${keyId} is still listed after its revocation${tries(gone.tries)}`);
  }

  if (refused) return report(keyId, false);
  return report(keyId, await cleanup(d, keyId, secret, record));
}

/** Revokes the key once more; returns whether it may still be alive. */
async function cleanup(
  d: ConformanceDeps,
  keyId: string,
  secret: SecretValue | undefined,
  record: (step: StepName, ok: boolean, detail: string) => boolean,
): Promise<boolean> {
  const byHand = `; revoke key ${keyId} by hand in the vendor's dashboard`;
  try {
    const outcome = await d.vendor.revokeKey(keyId);
    const still = secret ? (await d.vendor.verify(secret)).valid : false;
    if (still) return !record("cleanup", false, `key ${keyId} is still accepted after a second revoke${byHand}`);
    return !record(
      "cleanup",
      true,
      `key ${keyId} ${outcome === "revoked" ? "revoked" : "gone"} (the run leaves no key)`,
    );
  } catch (err) {
    return !record("cleanup", false, `could not revoke key ${keyId}: ${describeError(err)}${byHand}`);
  }
}

/** After a failed create: revokes any key with the run's name; returns whether one may be left. */
async function cleanupByName(
  d: ConformanceDeps,
  keyName: string,
  record: (step: StepName, ok: boolean, detail: string) => boolean,
): Promise<boolean> {
  try {
    const found = (await d.vendor.listKeys()).filter((k) => k.name === keyName);
    for (const k of found) await d.vendor.revokeKey(k.keyId);
    const what = found.length === 0 ? `no key named ${keyName} is listed` : `revoked ${ids(found)}`;
    return !record("cleanup", true, `${what} (the run leaves no key)`);
  } catch (err) {
    return !record("cleanup", false, `could not look for a key named ${keyName}: ${describeError(err)}; look by hand`);
  }
}

function listedVerdict(keys: ListedKey[], keyId: string, keyName: string): [boolean, string] {
  const mine = keys.find((k) => k.keyId === keyId);
  if (!mine) return [false, `key ${keyId} is not among the ${keys.length} keys listed`];
  if (mine.name !== keyName)
    return [
      false,
      `key ${keyId} is listed as ${JSON.stringify(mine.name)}, not by the name it was made with (the engine finds a key a crashed create left by its name: check list.answer.name)`,
    ];
  return [true, `key ${keyId} is listed by its name (${keys.length} ${keys.length === 1 ? "key" : "keys"} listed)`];
}

/** The call's result, or the error it threw (a step records a failure; the run goes on). */
async function attempt<T>(fn: () => Promise<T>): Promise<T | Error> {
  try {
    return await fn();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Looks up to `attempts` times, 1 s apart, until `look` finds something; an error ends it. */
async function patiently<T>(
  attempts: number,
  sleep: (ms: number) => Promise<void>,
  look: () => Promise<T | undefined>,
): Promise<{ found?: T; error?: Error; tries: number }> {
  for (let i = 1; ; i++) {
    const r = await attempt(look);
    if (r instanceof Error) return { error: r, tries: i };
    if (r !== undefined) return { found: r, tries: i };
    if (i >= attempts) return { tries: i };
    await sleep(1_000);
  }
}

function statusOf(calls: VendorCall[], operation: string): number | null {
  const numeric = calls.filter((c): c is { operation: string; status: number } => typeof c.status === "number");
  const own = calls.filter((c) => c.operation === operation);
  const last = own.length > 0 ? own[own.length - 1] : numeric[numeric.length - 1];
  return typeof last?.status === "number" ? last.status : null;
}

const tries = (n: number) => (n > 1 ? ` (after ${n} looks, 1 s apart)` : "");
const ids = (keys: ListedKey[]) => keys.map((k) => `key ${k.keyId}`).join(", ");
