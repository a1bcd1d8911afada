/**
 * Named admin tokens: a file of `name sha256-hex` lines (`#` comments, blank lines), so an admin
 * caller is a name in the audit trail and one token is revoked by deleting its line. The file
 * holds hashes only: a token never lives on disk or in memory beyond the request that presents it.
 *
 *     # name             sha256 of the token (printf %s "$TOKEN" | sha256sum)
 *     pagerduty-runner   9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *     alice              sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
 *
 * Must not: accept a line it cannot read (every problem is reported with its line), or compare a
 * token in time that depends on where it differs or which entry it matches.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError } from "../core/errors.js";

export interface AdminToken {
  name: string;
  /** SHA-256 of the token, 32 bytes. */
  sha256: Buffer;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function parseAdminTokens(text: string, source: string): AdminToken[] {
  const problems: string[] = [];
  const tokens: AdminToken[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [name = "", hash = "", ...rest] = line.split(/\s+/);
    const hex = hash.replace(/^sha256:/, "");
    if (rest.length > 0 || !/^[0-9a-fA-F]{64}$/.test(hex))
      problems.push(`line ${i + 1}: expected "<name> <sha256 of the token, 64 hex digits>"`);
    else if (!NAME.test(name))
      problems.push(
        `line ${i + 1}: the name must be 1 to 64 of letters, digits and . _ @ - (got "${name.slice(0, 64)}")`,
      );
    else if (seen.has(name)) problems.push(`line ${i + 1}: the name "${name}" is given twice`);
    else {
      seen.add(name);
      tokens.push({ name, sha256: Buffer.from(hex, "hex") });
    }
  });
  if (problems.length === 0 && tokens.length === 0) problems.push("no token in the file");
  if (problems.length > 0) throw new ConfigError(problems, source);
  return tokens;
}

/** The single token of KEY_ROTATOR_ADMIN_TOKEN(_FILE), as the entry named "admin". */
export function singleAdminToken(token: string, name = "admin"): AdminToken {
  return { name, sha256: createHash("sha256").update(token).digest() };
}

/**
 * The name of the token presented, or undefined. Hashes it once and compares with every entry in
 * constant time, all of them whatever matched, so timing says neither where nor whom.
 */
export function tokenName(presented: string, tokens: readonly AdminToken[]): string | undefined {
  const hash = createHash("sha256").update(presented).digest();
  let found: string | undefined;
  for (const t of tokens) if (timingSafeEqual(hash, t.sha256) && found === undefined) found = t.name;
  return found;
}
