/**
 * What a vendor module is: everything about one vendor, in its own folder (src/vendors/<id>/),
 * known to the rest of the program only through the registry (registry.ts). The engine (flows,
 * jobs, worker, HTTP, CLI) reads a vendor through this contract and names none.
 *
 * A module gives:
 * - its inventory fields (a zod shape, validated with the common ones of every credential);
 * - the shape of the value it keeps in the store (src/core/stored-value.ts);
 * - its adapters: verify, and for a key-API vendor create, list and revoke (src/core/ports.ts);
 * - whether it reports usage on verify (rate-limit headers), and the usage policy's defaults;
 * - how long before due a key warns, and the secrets it reads besides the credential's (IAM);
 * - its flow: "key-api" (the worker makes and revokes keys through the vendor's API) or
 *   "operator" (a person makes and revokes them in the vendor's dashboard and hands the new one
 *   in with `key-rotator submit`), with the words that guide that person.
 *
 * Must not: do I/O here; a module's factories are called by the composition root.
 */
import type { z } from "zod";
import type { KeyApiVendor, KeyVerifier, SecretStore, UsagePolicy } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";
import type { KeyApiValue, ValueShape } from "../core/stored-value.js";

/** A credential as a vendor module sees it: the common fields and its own (parsed) ones. */
export interface VendorCredential<F = Record<string, unknown>> {
  id: string;
  secretId: string;
  baseUrl: string;
  fields: F;
}

/** What the composition root gives a module's factories. */
export interface AdapterContext {
  /** For secrets the vendor needs besides the credential's (a management login), read at the moment of use. */
  store: SecretStore;
  /** Called once per HTTP call with the operation and the status, or "error" when none came (metrics). */
  onRequest(operation: string, status: number | "error"): void;
}

type Shape = z.ZodRawShape;
type FieldsOf<S extends Shape> = z.output<z.ZodObject<S>>;

interface ModuleBase<S extends Shape> {
  /** The inventory's `vendor:` value; also the metrics label. Lowercase letters and digits. */
  id: string;
  /** The vendor's name, for people ("CallCov"). */
  name: string;
  /** Where the module's definition came from: "built-in (vendors/callcov.yaml)" or a file's path. */
  source: string;
  /** The vendor's documents the definition follows (URLs). */
  docs: string[];
  /** The vendor's own inventory fields (added to every credential's common ones). */
  fields: S;
  /** Default of `settings.ageWarnBefore.<id>`: how long before due the health check warns; 0 for never. */
  ageWarnBeforeMs: number;
  /** Secrets the worker reads for this credential besides its own (the IAM policy grants them read). */
  secretsRead(c: VendorCredential<FieldsOf<S>>): string[];
  /**
   * Present when the vendor reports usage on verify (rate-limit headers): then the credential takes
   * a `usage:` block and the health check keeps a baseline. Gives the defaults for the credential.
   */
  usageDefaults?(c: VendorCredential<FieldsOf<S>>): Partial<UsagePolicy>;
}

export interface KeyApiModule<S extends Shape = Shape> extends ModuleBase<S> {
  flow: "key-api";
  /** The inventory field that names the management secret, if the vendor reads one. */
  managementSecretField: string | undefined;
  value: ValueShape<KeyApiValue>;
  /**
   * The vendor account the credential's keys live in: credentials of one account share one adapter
   * (one management session, one rate budget) and one orphan sweep.
   */
  accountOf(c: VendorCredential<FieldsOf<S>>): string;
  /** The key API's adapter (also its verifier). Called once per account. */
  keyApi(c: VendorCredential<FieldsOf<S>>, ctx: AdapterContext): KeyApiVendor;
}

/** The words that guide a person through an operator-assisted rotation. */
export interface OperatorGuide {
  /** What the vendor calls its key ("pair"). */
  noun: string;
  /** Where in the vendor's dashboard keys are made and revoked ("JustCall (Settings → API & Webhooks)"). */
  dashboard: string;
  /** How `submit` takes the key on standard input ("key and secret on standard input"). */
  submitHint: string;
  /** The prompt `submit` shows on a terminal. */
  prompt: string;
}

export interface OperatorModule<S extends Shape = Shape, V = unknown> extends ModuleBase<S> {
  flow: "operator";
  value: ValueShape<V>;
  verifier(c: VendorCredential<FieldsOf<S>>, ctx: AdapterContext): KeyVerifier;
  /**
   * Parses what a person hands in with `submit` into the value to store (without `createdAt`,
   * which the engine adds). Throws ConfigError naming every problem, never quoting the input.
   */
  parseSubmission(input: Buffer): V;
  /** Most bytes `submit` reads from standard input. */
  maxSubmissionBytes: number;
  guide: OperatorGuide;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each module types its own fields; the registry erases them
export type VendorModule = KeyApiModule<any> | OperatorModule<any, any>;

/** Declares a key-API vendor module, typing its factories with its own fields. */
export function keyApiModule<S extends Shape>(m: KeyApiModule<S>): KeyApiModule<S> {
  return m;
}

/** Declares an operator-assisted vendor module, typing its factories with its own fields and value. */
export function operatorModule<S extends Shape, V>(m: OperatorModule<S, V>): OperatorModule<S, V> {
  return m;
}

export type { SecretValue };
