/**
 * Who runs a CLI command, for the audit trail: `--actor`, else `KEY_ROTATOR_ACTOR`, else the OS
 * user; and from where: the host name. Written `cli:<name>@<host>` (audit-log.ts actorString).
 *
 * Must not: accept a name that could pass for another shape of actor or write to a terminal
 * (control characters, `@`, `:`, spaces are refused with a clear error).
 */
import { hostname, userInfo } from "node:os";
import { actorString } from "../audit/audit-log.js";
import { ConfigError } from "../core/errors.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export function cliActor(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const given = flag ?? env.KEY_ROTATOR_ACTOR;
  if (given !== undefined && !NAME.test(given))
    throw new ConfigError([
      `${flag !== undefined ? "--actor" : "KEY_ROTATOR_ACTOR"}: a name of 1 to 64 letters, digits and . _ + - (an email's local part, a login)`,
    ]);
  const name = given ?? osUser();
  return actorString({ name, via: "cli", address: safeHost() });
}

function osUser(): string {
  try {
    const name = userInfo().username;
    return NAME.test(name) ? name : "unknown";
  } catch {
    return "unknown";
  }
}

function safeHost(): string {
  try {
    return hostname().replace(/[^A-Za-z0-9.-]/g, "") || "unknown";
  } catch {
    return "unknown";
  }
}
