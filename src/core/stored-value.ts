/**
 * The JSON that consumers read from a credential's secret (AWSCURRENT). One shape per vendor,
 * validated on every read: a value edited by hand into a bad shape is reported with what is
 * wrong, never overwritten. Parse errors never quote the value. Fields the product does not own
 * (a user's `owner`, `region`, ...) are kept as they are and carried to the next version.
 */
import { z } from "zod";
import { InvalidStateError } from "./errors.js";
import { SecretValue } from "./secret.js";

const common = {
  /** The rotation that wrote this version (absent on a key put there by a person). */
  rotationId: z.string().optional(),
  /** When the vendor made the key (ISO 8601). */
  createdAt: z.string().optional(),
};

const callcovValue = z.looseObject({
  vendor: z.literal("callcov"),
  apiKey: z.string().regex(/^sk_(live|test)_[A-Za-z0-9_-]{8,}$/, "expected a CallCov key (sk_live_… or sk_test_…)"),
  keyId: z.string().min(1, "the vendor's key id is needed to revoke the key later"),
  keyName: z.string().optional(),
  /**
   * The key id of the key this version replaced, written when the version is made. The store, not
   * Redis, so names what the rotation revokes (DESIGN.md rule 8).
   */
  replacesKeyId: z.string().min(1).optional(),
  ...common,
});

const justcallValue = z.looseObject({
  vendor: z.literal("justcall"),
  apiKey: z.string().regex(/^[A-Za-z0-9_-]{6,128}$/, "expected a JustCall API key (letters, digits, - or _)"),
  apiSecret: z.string().regex(/^[A-Za-z0-9_-]{6,256}$/, "expected a JustCall API secret (letters, digits, - or _)"),
  ...common,
});

const storedValue = z.discriminatedUnion("vendor", [callcovValue, justcallValue]);

export type CallCovValue = z.infer<typeof callcovValue>;
export type JustCallValue = z.infer<typeof justcallValue>;
export type StoredValue = z.infer<typeof storedValue>;

/**
 * Parses a stored secret string. `where` names the secret and version for the error message.
 * Throws InvalidStateError naming every problem (paths only, never the value).
 */
export function parseStoredValue(raw: SecretValue, where: string): StoredValue {
  let json: unknown;
  try {
    json = JSON.parse(raw.reveal());
  } catch {
    throw new InvalidStateError(
      `${where}: the stored value is not JSON (expected the key-rotator shape, see README "Stored value")`,
    );
  }
  const parsed = storedValue.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(value)"}: ${i.message}`);
    throw new InvalidStateError(`${where}: the stored value has the wrong shape: ${problems.join("; ")}`);
  }
  return parsed.data;
}

export function serializeStoredValue(value: StoredValue): SecretValue {
  return new SecretValue(JSON.stringify(value));
}

/** The secret a vendor checks: CallCov's key, or JustCall's `key:secret` pair. */
export function vendorSecretOf(value: StoredValue): SecretValue {
  return value.vendor === "callcov"
    ? new SecretValue(value.apiKey)
    : new SecretValue(`${value.apiKey}:${value.apiSecret}`);
}
