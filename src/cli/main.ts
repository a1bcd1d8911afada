#!/usr/bin/env node
/**
 * `key-rotator`: the command line. Parses arguments with commander and hands each command to its
 * own module. Exit codes: 0 done, 1 failed, 2 bad usage or bad input. No stack traces reach a
 * person: errors print one clear line (the error's message names what and where). With `--json`
 * stdout holds exactly one JSON document, an error too (`{"error": {"code", "message"}}`): the
 * contract is docs/json.md.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { flushAuditLog } from "../audit/audit-log.js";
import { ConfigError, describeError } from "../core/errors.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, JsonOut, type Out, processOut } from "./output.js";

// The AWS SDK prints a 9-line notice on every call under Node 20 that it will stop supporting it;
// the product is tested on Node 20 and 24 (README), and a person running one command needs none of
// it. Set before any command (and so the SDK) is imported; an explicit setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** `--json` anywhere before `--` puts the whole run, its errors included, under the JSON contract. */
const args = process.argv.slice(2);
const jsonMode = (args.includes("--") ? args.slice(0, args.indexOf("--")) : args).includes("--json");
const jsonOut = jsonMode ? new JsonOut(processOut) : undefined;
const out: Out = jsonOut ?? processOut;

/** Each command returns its exit code; commander ignores return values, so actions store it here. */
let exitCode = 0;
const run =
  <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
  async (...args: A): Promise<void> => {
    exitCode = await fn(...args);
  };

const program = new Command("key-rotator")
  .description("Rotates vendor API keys kept in AWS Secrets Manager")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .showHelpAfterError("(run key-rotator --help for usage)")
  .option("-V, --version", 'print the version (with --json: {"name", "version"})');

const actorOption = () =>
  new Option("--actor <name>", "who is asking, for the audit trail (default: $KEY_ROTATOR_ACTOR, else the OS user)");

const configOption = () =>
  new Option("-c, --config <file>", "inventory file").env("KEY_ROTATOR_CONFIG").makeOptionMandatory();

/** Commander: a repeatable option collected into a list. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

program
  .command("worker")
  .description("run the worker: schedules, rotations, health checks, HTTP probes and metrics")
  .addOption(configOption())
  .action(
    run(async (o: { config: string }) => {
      const { workerCommand } = await import("./worker.command.js");
      return workerCommand(o.config);
    }),
  );

program
  .command("rotate [credential]")
  .description("start a rotation now (of one credential, or with --emergency --vendor of every credential of a vendor)")
  .addOption(configOption())
  .option("--emergency", "grace 0, top priority: the old key is revoked as soon as the new one works")
  .option("--direct", "with --emergency: run in this process without Redis (the store's pending stage is the lock)")
  .option("--wait", "wait for the rotation to finish, showing each step")
  .option("--reason <text>", "why (goes to the audit trail)")
  .option(
    "--force",
    "with --emergency and --reason: past the credential's emergency cooldown (audited; the global cap still applies)",
  )
  .option(
    "--vendor <id>",
    "with --emergency and --reason: a breach drill, an emergency rotation of every credential of this vendor (each past its cooldown only with --force)",
  )
  .option("--timeout <seconds>", "with --wait: give up waiting after this long", "600")
  .addOption(actorOption())
  .option("--json", "machine-readable output")
  .action(
    run(
      async (
        credential: string | undefined,
        o: {
          config: string;
          emergency?: boolean;
          direct?: boolean;
          wait?: boolean;
          reason?: string;
          force?: boolean;
          timeout: string;
          vendor?: string;
          actor?: string;
          json?: boolean;
        },
      ) => {
        if (o.vendor !== undefined) {
          const { breachDrillCommand } = await import("./breach-drill.command.js");
          return breachDrillCommand(credential, { ...o, vendor: o.vendor }, out);
        }
        if (credential === undefined) {
          // The argument is optional only for --vendor: without it, what commander says of a missing one.
          const message = "missing required argument 'credential' (or --emergency --vendor <id> for a breach drill)";
          out.stderr(`key-rotator rotate: ${message}`);
          throw new CommanderError(EXIT_USAGE, "commander.missingArgument", `error: ${message}`);
        }
        const { rotateCommand } = await import("./rotate.command.js");
        return rotateCommand(credential, o, out);
      },
    ),
  );

program
  .command("submit <credential>")
  .description(
    "hand in a new key on standard input, for a vendor whose keys a person makes (operator-assisted rotation)",
  )
  .addOption(configOption())
  .addOption(actorOption())
  .option("--json", "machine-readable output")
  .action(
    run(async (credential: string, o: { config: string; actor?: string; json?: boolean }) => {
      const { submitCommand } = await import("./submit.command.js");
      return submitCommand(credential, o, out);
    }),
  );

program
  .command("status [credential]")
  .description("key age, next due, step in flight and last result of each credential")
  .addOption(configOption())
  .option("--json", "machine-readable output")
  .action(
    run(async (credential: string | undefined, o: { config: string; json?: boolean }) => {
      const { statusCommand } = await import("./status.command.js");
      return statusCommand(credential, o, out);
    }),
  );

program
  .command("history <credential>")
  .description("finished rotations of a credential, newest first")
  .addOption(configOption())
  .option("--json", "machine-readable output")
  .action(
    run(async (credential: string, o: { config: string; json?: boolean }) => {
      const { historyCommand } = await import("./history.command.js");
      return historyCommand(credential, o, out);
    }),
  );

program
  .command("plan")
  .description("the dry run: what would rotate when, and the store writes and vendor calls that needs; writes nothing")
  .addOption(configOption())
  .option("--days <n>", "how far ahead to look", "30")
  .option("--json", "machine-readable output")
  .action(
    run(async (o: { config: string; days: string; json?: boolean }) => {
      const { planCommand } = await import("./plan.command.js");
      return planCommand(o, out);
    }),
  );

program
  .command("check-config <file>")
  .description("validate an inventory file and print every problem with its path")
  .option("--json", "machine-readable output")
  .action(
    run(async (file: string, o: { json?: boolean }) => {
      const { checkConfigCommand } = await import("./check-config.command.js");
      return checkConfigCommand(file, o, out);
    }),
  );

program
  .command("iam-policy <file>")
  .description("print the least-privilege IAM policy for the worker's role, from an inventory")
  .option("--region <region>", "AWS region of the secrets (required; default: AWS_REGION, said on stderr)")
  .option("--account <id>", "AWS account id of the secrets (required)")
  .option("--kms-key <arn>", "a customer-managed KMS key that encrypts secrets (repeatable)", collect, [])
  .option("--describe", "ask Secrets Manager (DescribeSecret) which KMS key encrypts each secret")
  .option("--trust", "print the IRSA trust policy of the chart's service account instead")
  .option("--oidc-provider <issuer>", "with --trust: the cluster's OIDC issuer")
  .option("--namespace <name>", "with --trust: the release's namespace")
  .option("--service-account <name>", "with --trust: the service account (default: key-rotator, the chart's)")
  .option("--json", "the policy is JSON already; accepted so every command takes --json")
  .action(
    run(
      async (
        file: string,
        o: {
          region?: string;
          account?: string;
          kmsKey?: string[];
          describe?: boolean;
          trust?: boolean;
          oidcProvider?: string;
          namespace?: string;
          serviceAccount?: string;
        },
      ) => {
        const { iamPolicyCommand } = await import("./iam-policy.command.js");
        return iamPolicyCommand(file, o, out);
      },
    ),
  );

program
  .command("vendors")
  .description("list the vendors the worker knows: built-in definitions and an inventory's own, with flow and source")
  .addOption(
    new Option("-c, --config <file>", "inventory file, for the definitions it names (optional)").env(
      "KEY_ROTATOR_CONFIG",
    ),
  )
  .option("--json", "machine-readable output")
  .action(
    run(async (o: { config?: string; json?: boolean }) => {
      const { vendorsCommand } = await import("./vendors.command.js");
      return vendorsCommand(o, out);
    }),
  );

program
  .command("vendor")
  .description("work with vendor definitions")
  .command("check <definition>")
  .description(
    "the conformance run against a vendor's test account: create, verify, list, revoke, confirm refused, confirm gone; <definition> is a built-in vendor's id or a definition file",
  )
  .requiredOption("--base-url <url>", "the vendor API's base URL (a host other than this machine needs --yes)")
  .option("--management-secret <id>", "the secret holding the management credential (when the definition reads one)")
  .option("--field <name=value>", "a field the definition declares (repeatable)", collect, [])
  .option("--yes", "call a host other than this machine (the run makes and revokes a real key there)")
  .option("--json", "machine-readable output")
  .action(
    run(
      async (
        definition: string,
        o: { baseUrl: string; managementSecret?: string; field: string[]; yes?: boolean; json?: boolean },
      ) => {
        const { vendorCheckCommand } = await import("./vendor-check.command.js");
        return vendorCheckCommand(definition, o, out);
      },
    ),
  );

program
  .command("sandbox")
  .description("run the local Secrets Manager emulator and vendor simulators until stopped")
  .option("--port-base <port>", "listen on this port and the next six instead of random ports")
  .option("--seed", "put a credential of each simulated vendor in, write an inventory for them, print what to export")
  .option("--inventory <file>", "with --seed: where to write the inventory", "sandbox-inventory.yaml")
  .action(
    run(async (o: { portBase?: string; seed?: boolean; inventory?: string }) => {
      const { sandboxCommand } = await import("./sandbox.command.js");
      return sandboxCommand(o, out);
    }),
  );

program
  .command("demo")
  .description(
    "run seven rotations against the sandbox (scheduled, emergency, refused and rolled back, operator-assisted with the demo as the person, and one key each of three key-API vendors added as definitions) and show what happened",
  )
  .option("--json", "machine-readable summary")
  .action(
    run(async (o: { json?: boolean }) => {
      const { demoCommand } = await import("./demo.command.js");
      return demoCommand(o, out);
    }),
  );

// The last belt under "no stack trace reaches a person": whatever escapes a command (an error event
// nobody listened for, a rejection nobody awaited) ends it with one line and exit 1. The stack is
// for LOG_LEVEL=debug.
const BELT = Symbol.for("key-rotator.cli.last-belt");
for (const event of (globalThis as Record<symbol, unknown>)[BELT]
  ? []
  : (["uncaughtException", "unhandledRejection"] as const)) {
  (globalThis as Record<symbol, unknown>)[BELT] = true;
  process.on(event, (err: unknown) => {
    const debug = process.env.LOG_LEVEL === "debug" || process.env.LOG_LEVEL === "trace";
    out.stderr(
      `key-rotator: ${describeError(err)}${debug && err instanceof Error && err.stack ? `\n${err.stack}` : ""}`,
    );
    jsonOut?.finish(EXIT_FAILED, codeOf(err), describeError(err));
    process.stdout.write("", () => process.stderr.write("", () => process.exit(EXIT_FAILED)));
  });
}

/** The `--json` error code for an error that escaped a command (docs/json.md lists them). */
function codeOf(err: unknown): string {
  const byName: Record<string, string> = {
    ConfigError: "bad_input",
    RedisUnavailableError: "redis_unavailable",
    EmergencyRefusedError: "emergency_refused",
    StoreError: "store_error",
    VendorError: "vendor_error",
    RateLimitedError: "vendor_error",
  };
  return (err instanceof Error && byName[err.name]) || "failed";
}

/** package.json's version: two levels up from src/cli, three from dist/src/cli. */
function version(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "key-rotator" && pkg.version) return pkg.version;
    } catch {
      // not this level
    }
  }
  return "unknown";
}

async function main(argv: string[]): Promise<number> {
  const first = argv.slice(2).find((a) => a !== "--json");
  if (first === "--version" || first === "-V") {
    out.stdout(jsonMode ? JSON.stringify({ name: "key-rotator", version: version() }) : version());
    return EXIT_OK;
  }
  try {
    await program.parseAsync(argv);
    return jsonOut ? jsonOut.finish(exitCode) : exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      jsonOut?.finish(EXIT_USAGE, "usage", err.message.replace(/^error: /, ""));
      return EXIT_USAGE;
    }
    out.stderr(`key-rotator: ${describeError(err)}`);
    const code = err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILED;
    return jsonOut ? jsonOut.finish(code, codeOf(err), describeError(err)) : code;
  }
}

// Exit once output is flushed: a finished command must not wait for idle keep-alive sockets. The
// audit webhook's posts (if any) get a few seconds first.
const code = await main(process.argv);
await flushAuditLog();
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
