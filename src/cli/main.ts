#!/usr/bin/env node
/**
 * `key-rotator`: the command line. Parses arguments with commander and hands each command to its
 * own module. Exit codes: 0 done, 1 failed, 2 bad usage or bad input. No stack traces reach a
 * person: errors print one clear line (the error's message names what and where).
 */
import { Command, CommanderError, Option } from "commander";
import { ConfigError, RotatorError, describeError } from "../core/errors.js";
import { EXIT_FAILED, EXIT_USAGE, processOut } from "./output.js";

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
  .showHelpAfterError("(run key-rotator --help for usage)");

const configOption = () =>
  new Option("-c, --config <file>", "inventory file").env("KEY_ROTATOR_CONFIG").makeOptionMandatory();

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
  .command("rotate <credential>")
  .description("start a rotation now")
  .addOption(configOption())
  .option("--emergency", "grace 0, top priority: the old key is revoked as soon as the new one works")
  .option("--direct", "with --emergency: run in this process without Redis (the store's pending stage is the lock)")
  .option("--wait", "wait for the rotation to finish, showing each step")
  .option("--reason <text>", "why (goes to the audit trail)")
  .option(
    "--force",
    "with --emergency and --reason: past the credential's emergency cooldown (audited; the global cap still applies)",
  )
  .option("--timeout <seconds>", "with --wait: give up waiting after this long", "600")
  .option("--json", "machine-readable output")
  .action(
    run(
      async (
        credential: string,
        o: {
          config: string;
          emergency?: boolean;
          direct?: boolean;
          wait?: boolean;
          reason?: string;
          force?: boolean;
          timeout: string;
          json?: boolean;
        },
      ) => {
        const { rotateCommand } = await import("./rotate.command.js");
        return rotateCommand(credential, o, processOut);
      },
    ),
  );

program
  .command("submit <credential>")
  .description("hand in a new JustCall pair on standard input (key and secret), for the operator-assisted rotation")
  .addOption(configOption())
  .option("--json", "machine-readable output")
  .action(
    run(async (credential: string, o: { config: string; json?: boolean }) => {
      const { submitCommand } = await import("./submit.command.js");
      return submitCommand(credential, o, processOut);
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
      return statusCommand(credential, o, processOut);
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
      return historyCommand(credential, o, processOut);
    }),
  );

program
  .command("check-config <file>")
  .description("validate an inventory file and print every problem with its path")
  .option("--json", "machine-readable output")
  .action(
    run(async (file: string, o: { json?: boolean }) => {
      const { checkConfigCommand } = await import("./check-config.command.js");
      return checkConfigCommand(file, o, processOut);
    }),
  );

program
  .command("iam-policy <file>")
  .description("print the least-privilege IAM policy for the worker's role, from an inventory")
  .option("--region <region>", "AWS region of the secrets (default: any)")
  .option("--account <id>", "AWS account id of the secrets (default: any)")
  .action(
    run(async (file: string, o: { region?: string; account?: string }) => {
      const { iamPolicyCommand } = await import("./iam-policy.command.js");
      return iamPolicyCommand(file, o, processOut);
    }),
  );

program
  .command("sandbox")
  .description("run the local Secrets Manager emulator and vendor simulators until stopped")
  .option("--port-base <port>", "listen on this port and the next two instead of random ports")
  .action(
    run(async (o: { portBase?: string }) => {
      const { sandboxCommand } = await import("./sandbox.command.js");
      return sandboxCommand(o, processOut);
    }),
  );

program
  .command("demo")
  .description("run a scheduled, an emergency and a failed rotation against the sandbox, and show what happened")
  .option("--json", "machine-readable summary")
  .action(
    run(async (o: { json?: boolean }) => {
      const { demoCommand } = await import("./demo.command.js");
      return demoCommand(o, processOut);
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
    processOut.stderr(
      `key-rotator: ${describeError(err)}${debug && err instanceof Error && err.stack ? `\n${err.stack}` : ""}`,
    );
    process.stdout.write("", () => process.stderr.write("", () => process.exit(EXIT_FAILED)));
  });
}

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    processOut.stderr(`key-rotator: ${describeError(err)}`);
    if (err instanceof ConfigError) return EXIT_USAGE;
    if (err instanceof RotatorError) return EXIT_FAILED;
    return EXIT_FAILED;
  }
}

// Exit once output is flushed: a finished command must not wait for idle keep-alive sockets.
const code = await main(process.argv);
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
