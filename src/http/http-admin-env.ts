/**
 * The admin surface's settings from the environment, for `key-rotator worker`:
 *
 * - `KEY_ROTATOR_ADMIN_TOKENS_FILE`: named admin tokens (admin-tokens.ts);
 * - `KEY_ROTATOR_LEAK_WEBHOOK_SECRET_FILE` (or `_SECRET`): turns on `POST /v1/leaks`;
 * - `KEY_ROTATOR_GITHUB_TOKEN` (and `KEY_ROTATOR_GITHUB_API_URL` for GitHub Enterprise Server): lets
 *   a GitHub secret scanning alert's value be read, since its webhook carries none.
 *
 * Files are read within bounds (regular files, 64 KiB); a problem is a ConfigError naming the
 * variable, never the content.
 */
import { ConfigError } from "../core/errors.js";
import type { SecretStore } from "../core/ports.js";
import { readBoundedFileSync } from "../config/bounded-read.js";
import type { Logger } from "../observability/logger.js";
import { type AdminToken, parseAdminTokens } from "./admin-tokens.js";
import { type LeakCredential, githubAlertSecret, storeLeakMatcher } from "./leak-matcher.js";
import type { LeakIntake } from "./leak-webhook.js";

const MAX = 65_536;

export function httpAdminFromEnv(
  env: NodeJS.ProcessEnv,
  deps: { store: SecretStore; credentials: readonly LeakCredential[]; log: Logger },
): { adminTokens?: AdminToken[]; leaks?: LeakIntake } {
  const tokensFile = env.KEY_ROTATOR_ADMIN_TOKENS_FILE?.trim();
  const adminTokens = tokensFile
    ? parseAdminTokens(
        readBoundedFileSync(tokensFile, { what: "KEY_ROTATOR_ADMIN_TOKENS_FILE", maxBytes: MAX }),
        tokensFile,
      )
    : undefined;
  const secretFile = env.KEY_ROTATOR_LEAK_WEBHOOK_SECRET_FILE?.trim();
  const secret = secretFile
    ? readBoundedFileSync(secretFile, { what: "KEY_ROTATOR_LEAK_WEBHOOK_SECRET_FILE", maxBytes: MAX }).trim()
    : env.KEY_ROTATOR_LEAK_WEBHOOK_SECRET?.trim();
  if (secret !== undefined && secret.length < 16)
    throw new ConfigError(
      ["the leak webhook secret must be at least 16 characters"],
      secretFile ?? "KEY_ROTATOR_LEAK_WEBHOOK_SECRET",
    );
  const githubToken = env.KEY_ROTATOR_GITHUB_TOKEN?.trim();
  const alertSecret = githubToken
    ? githubAlertSecret({ token: githubToken, apiOrigin: env.KEY_ROTATOR_GITHUB_API_URL?.trim() || undefined })
    : undefined;
  const leaks: LeakIntake | undefined = secret
    ? {
        secret,
        match: storeLeakMatcher(deps.store, deps.credentials),
        ...(alertSecret ? { alertSecret } : {}),
        log: (fields, message) => deps.log.warn(fields, message),
      }
    : undefined;
  return { ...(adminTokens ? { adminTokens } : {}), ...(leaks ? { leaks } : {}) };
}
