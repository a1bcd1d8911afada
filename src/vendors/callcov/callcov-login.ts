/**
 * Reads a vendor management login (CallCov's email and password for its JWT login) from its own
 * secret in the store, at the moment of use. The secret's value is JSON
 * `{ "email": "...", "password": "..." }`; a bad shape is reported by path, never quoted.
 */
import { z } from "zod";
import { InvalidStateError } from "../../core/errors.js";
import type { SecretStore } from "../../core/ports.js";
import { SecretValue } from "../../core/secret.js";

const loginShape = z.strictObject({
  email: z.string().email("expected an email address"),
  password: z.string().min(1, "must not be empty"),
});

export async function loadManagementLogin(
  store: SecretStore,
  secretId: string,
): Promise<{ email: string; password: SecretValue }> {
  const version = await store.read(secretId, { stage: "AWSCURRENT" });
  let json: unknown;
  try {
    json = JSON.parse(version.value.reveal());
  } catch {
    throw new InvalidStateError(
      `management login secret ${secretId}: the value is not JSON (expected {"email": ..., "password": ...})`,
    );
  }
  const parsed = loginShape.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(value)"}: ${i.message}`).join("; ");
    throw new InvalidStateError(`management login secret ${secretId}: ${problems}`);
  }
  return { email: parsed.data.email, password: new SecretValue(parsed.data.password) };
}
