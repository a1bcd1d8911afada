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
  const run = new ConformanceRun(d, keyName);
  const made = await run.create();
  if (!made) {
    for (const step of CONFORMANCE_STEPS.slice(1)) run.skip(step, "no key was made");
    // The key may exist though no usable answer came back: look for it by its name.
    return run.report(null, await run.cleanupByName());
  }
  await run.verify(made);
  await run.list(made);
  let refused = false;
  if (await run.revoke(made)) {
    refused = await run.confirmRefused(made);
    await run.confirmGone(made);
  } else {
    run.skip("confirm-refused", "the revoke failed");
    run.skip("confirm-gone", "the revoke failed");
  }
  return run.report(made.keyId, refused ? false : await run.cleanup(made));
}

/** The key a run made: its id, and the secret verify takes when the key fits the definition. */
interface Made {
  keyId: string;
  secret: SecretValue | undefined;
}

/** One run's steps, each recorded with the calls it made; a step's failure is a result, not a throw. */
class ConformanceRun {
  readonly #steps: StepResult[] = [];
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #attempts: number;

  constructor(
    private readonly d: ConformanceDeps,
    private readonly keyName: string,
  ) {
    this.#sleep = d.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
    this.#attempts = d.attempts ?? 5;
    d.takeCalls();
  }

  record(step: StepName, ok: boolean, detail: string, calls = this.d.takeCalls()): boolean {
    const result: StepResult = { step, ok, status: statusOf(calls, OPERATION[step]), detail, calls };
    this.#steps.push(result);
    this.d.onStep?.(result);
    return ok;
  }

  skip(step: StepName, why: string): void {
    this.record(step, false, `skipped: ${why}`, []);
  }

  report(keyId: string | null, keyLeftBehind: boolean): ConformanceReport {
    const steps = this.#steps;
    const passed = CONFORMANCE_STEPS.every((name) => steps.some((s) => s.step === name && s.ok));
    return { keyName: this.keyName, keyId, passed, keyLeftBehind, steps };
  }

  /** Makes the key, and checks it fits the value the engine stores; undefined when none was made. */
  async create(): Promise<Made | undefined> {
    let keyId: string;
    let key: SecretValue;
    try {
      ({ keyId, key } = await this.d.vendor.createKey(this.keyName));
    } catch (err) {
      const calls = this.d.takeCalls();
      if (calls.length === 0) throw err;
      this.record("create", false, describeError(err), calls);
      return undefined;
    }
    try {
      const stored = { vendor: this.d.vendorId, apiKey: key.reveal(), keyId };
      const value = this.d.value.parse(new SecretValue(JSON.stringify(stored)), "the key made");
      this.record("create", true, `made key ${keyId}`);
      return { keyId, secret: this.d.value.secretOf(value) };
    } catch (err) {
      this.record("create", false, `made key ${keyId}, which the engine would not store: ${describeError(err)}`);
      return { keyId, secret: undefined };
    }
  }

  async verify({ secret }: Made): Promise<void> {
    if (!secret) return this.skip("verify", "the key made does not fit the definition");
    const verdict = await attempt(() => this.d.vendor.verify(secret));
    if (verdict instanceof Error) this.record("verify", false, describeError(verdict));
    else if (verdict.valid) this.record("verify", true, "the vendor accepts the new key");
    else
      this.record(
        "verify",
        false,
        `the vendor does not accept the key it just made: ${verdict.reason} (${verdict.status})`,
      );
  }

  async list({ keyId }: Made): Promise<void> {
    const listed = await attempt(() => this.d.vendor.listKeys());
    if (listed instanceof Error) this.record("list", false, describeError(listed));
    else this.record("list", ...listedVerdict(listed, keyId, this.keyName));
  }

  /** Whether the vendor answered the revoke (a "gone" for a key just made is recorded as a failure). */
  async revoke({ keyId }: Made): Promise<boolean> {
    const revoked = await attempt(() => this.d.vendor.revokeKey(keyId));
    if (revoked instanceof Error) return this.record("revoke", false, describeError(revoked));
    if (revoked === "revoked") return this.record("revoke", true, `revoked key ${keyId}`);
    this.record("revoke", false, `answered "already gone" for key ${keyId}, made a moment ago`);
    return true;
  }

  /** Whether the vendor now refuses the key. */
  async confirmRefused({ secret }: Made): Promise<boolean> {
    if (!secret) {
      this.skip("confirm-refused", "the key made does not fit the definition");
      return false;
    }
    const look = await patiently(this.#attempts, this.#sleep, async () => {
      const v = await this.d.vendor.verify(secret);
      return v.valid ? undefined : v;
    });
    const step = "confirm-refused";
    if (look.error) return this.record(step, false, describeError(look.error));
    if (look.found) return this.record(step, true, `${look.found.reason} (${look.found.status})${tries(look.tries)}`);
    return this.record(step, false, `the vendor still accepts the key after its revocation${tries(look.tries)}`);
  }

  async confirmGone({ keyId }: Made): Promise<void> {
    const gone = await patiently(this.#attempts, this.#sleep, async () => {
      const keys = await this.d.vendor.listKeys();
      return keys.some((k) => k.keyId === keyId) ? undefined : keys;
    });
    const step = "confirm-gone";
    if (gone.error) this.record(step, false, describeError(gone.error));
    else if (gone.found) this.record(step, true, `key ${keyId} is no longer listed${tries(gone.tries)}`);
    else this.record(step, false, `key ${keyId} is still listed after its revocation${tries(gone.tries)}`);
  }

  /** Revokes the key once more; returns whether it may still be alive. */
  async cleanup({ keyId, secret }: Made): Promise<boolean> {
    const byHand = `; revoke key ${keyId} by hand in the vendor's dashboard`;
    try {
      const outcome = await this.d.vendor.revokeKey(keyId);
      const still = secret ? (await this.d.vendor.verify(secret)).valid : false;
      if (still) return !this.record("cleanup", false, `key ${keyId} is still accepted after a second revoke${byHand}`);
      const what = outcome === "revoked" ? "revoked" : "gone";
      return !this.record("cleanup", true, `key ${keyId} ${what} (the run leaves no key)`);
    } catch (err) {
      return !this.record("cleanup", false, `could not revoke key ${keyId}: ${describeError(err)}${byHand}`);
    }
  }

  /** After a failed create: revokes any key with the run's name; returns whether one may be left. */
  async cleanupByName(): Promise<boolean> {
    try {
      const found = (await this.d.vendor.listKeys()).filter((k) => k.name === this.keyName);
      for (const k of found) await this.d.vendor.revokeKey(k.keyId);
      const what = found.length === 0 ? `no key named ${this.keyName} is listed` : `revoked ${ids(found)}`;
      return !this.record("cleanup", true, `${what} (the run leaves no key)`);
    } catch (err) {
      const why = describeError(err);
      return !this.record("cleanup", false, `could not look for a key named ${this.keyName}: ${why}; look by hand`);
    }
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
