/**
 * The JSON that consumers read from a credential's secret (AWSCURRENT). Its shape is the vendor
 * module's (src/vendors/<id>/), checked on every read: a value edited by hand into a bad shape is
 * reported with what is wrong, never overwritten. Parse errors never quote the value. Fields the
 * product does not own (a user's `owner`, `region`, ...) are kept as they are and carried to the
 * next version.
 *
 * A key-API vendor's value has one layout, the engine's (`keyApiValueShape`): the key, the vendor's
 * id of it, and the id of the key it replaced, which is what a rotation revokes (DESIGN.md rule 8).
 * The vendor gives only the key's format.
 */
import { z } from "zod";
import { InvalidStateError } from "./errors.js";
import { SecretValue } from "./secret.js";

/** How a vendor's value is read from the store and what in it the vendor checks. */
export interface ValueShape<V> {
  /** Parses a stored secret string; throws InvalidStateError naming every problem (paths only). */
  parse(raw: SecretValue, where: string): V;
  /** The secret the vendor's verify takes (a key, or a `key:secret` pair). */
  secretOf(value: V): SecretValue;
  /**
   * What names the key at the vendor without being the secret (a key id, a public API key): two
   * values with the same identity are the same key. Compared, never logged.
   */
  identityOf(value: V): string;
  /**
   * How a person finds the key in the vendor's dashboard, where the vendor shows one: a label and
   * the first and last characters of its identity, never of a secret ("API key abcd…wxyz").
   * Undefined where the vendor shows none or the identity is too short to show any of it.
   */
  describe?(value: V): string | undefined;
}

/** Fields every value may carry. */
const common = {
  /** The rotation that wrote this version (absent on a key put there by a person). */
  rotationId: z.string().optional(),
  /** When the vendor made the key (ISO 8601). */
  createdAt: z.string().optional(),
};

/** The value of a key-API vendor: the layout the key-API flow reads and writes. */
export interface KeyApiValue {
  vendor: string;
  apiKey: string;
  keyId: string;
  keyName?: string | undefined;
  /** The key id of the key this version replaced, written when the version is made. */
  replacesKeyId?: string | undefined;
  rotationId?: string | undefined;
  createdAt?: string | undefined;
  [field: string]: unknown;
}

/** A key-API vendor's value shape: the engine's layout with the vendor's key format. */
export function keyApiValueShape(vendor: string, key: { pattern: RegExp; hint: string }): ValueShape<KeyApiValue> {
  const schema = z.looseObject({
    vendor: z.literal(vendor),
    apiKey: z.string().regex(key.pattern, key.hint),
    keyId: z.string().min(1, "the vendor's key id is needed to revoke the key later"),
    keyName: z.string().optional(),
    /** The store, not Redis, names what a rotation revokes (DESIGN.md rule 8). */
    replacesKeyId: z.string().min(1).optional(),
    ...common,
  });
  return valueShape(
    schema,
    (v) => new SecretValue(v.apiKey),
    (v) => v.keyId,
  );
}

/** A value shape from a zod schema (a loose object with a `vendor` literal, see `storedFields`). */
export function valueShape<V>(
  schema: z.ZodType<V>,
  secretOf: (value: V) => SecretValue,
  identityOf: (value: V) => string,
): ValueShape<V> {
  return {
    parse(raw, where) {
      let json: unknown;
      try {
        json = JSON.parse(raw.reveal());
      } catch {
        throw new InvalidStateError(
          `${where}: the stored value is not JSON (expected the key-rotator shape, see README "Stored value")`,
        );
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(value)"}: ${i.message}`);
        throw new InvalidStateError(`${where}: the stored value has the wrong shape: ${problems.join("; ")}`);
      }
      return parsed.data;
    },
    secretOf,
    identityOf,
  };
}

/** The fields every stored value may carry, for a vendor module that writes its own schema. */
export const storedFields = common;

export function serializeStoredValue(value: object): SecretValue {
  return new SecretValue(JSON.stringify(value));
}
