/**
 * Fuzzing the command line (DESIGN.md rule 6; main.ts: exit 2 for bad usage or input, no stack
 * trace reaches a person): arbitrary argv, unknown commands and flags, flags missing their value,
 * odd Unicode, very long arguments, and `--config` naming a missing file, a directory or a garbage
 * file. The real entry, src/cli/main.ts, runs in this process (it exports nothing: it reads
 * process.argv and ends with process.exit, so those and the output streams are stubbed per run and
 * the module is imported afresh). REDIS_URL and the Secrets Manager endpoint point at a trap that
 * counts connections: a run that fails validation must connect to nothing. A few cases run as
 * real processes to show the same holds without the stubs.
 * Never generated: `sandbox` and `demo` (they start servers) and `submit` (it reads this
 * process's standard input; it runs as a real process below), and NUL (no real argv holds one).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { escapeTerminal } from "../../src/cli/output.js";
import { STACK_FRAME, alnum, anyString } from "./fuzz-support.js";

/** Each run imports main.ts afresh (10 to 100 ms): fewer runs than the other fuzz files keep this file under 20 s. */
const CLI_RUNS = 60;

const DIR = mkdtempSync(join(tmpdir(), "kr-cli-fuzz-"));
const MISSING = join(DIR, "missing.yaml");
const A_DIRECTORY = join(DIR, "a-directory");
const GARBAGE = join(DIR, "garbage.yaml");
/** A valid inventory whose store and Redis are the trap: only the deterministic I/O cases use it. */
const VALID = join(DIR, "valid.yaml");

let trap: Server;
let trapPort = 0;
let connections = 0;

beforeAll(async () => {
  mkdirSync(A_DIRECTORY);
  writeFileSync(GARBAGE, Buffer.from([0x3a, 0x3a, 0x3a, 0x20, 0xff, 0xfe, 0x5b, 0x0a, 0x09, 0x2d, 0x20, 0x7b]));
  trap = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((r) => trap.listen(0, "127.0.0.1", r));
  trapPort = (trap.address() as { port: number }).port;
  writeFileSync(
    VALID,
    [
      "credentials:",
      "  - id: cc",
      "    vendor: callcov",
      "    secretId: fuzz/callcov/cc",
      `    baseUrl: http://127.0.0.1:${trapPort}`,
      "    managementSecretId: fuzz/callcov/login",
      "    rotation: { every: 90d, grace: 1m }",
      "  - id: jc",
      "    vendor: justcall",
      "    secretId: fuzz/justcall/jc",
      `    baseUrl: http://127.0.0.1:${trapPort}`,
      "    rotation: { every: 90d }",
      "",
    ].join("\n"),
  );
  vi.stubEnv("KEY_ROTATOR_CONFIG", undefined);
  vi.stubEnv("REDIS_URL", `redis://127.0.0.1:${trapPort}`);
  vi.stubEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", `http://127.0.0.1:${trapPort}`);
  vi.stubEnv("AWS_REGION", "us-east-1");
  vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIAFUZZFUZZFUZZFUZZ");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "fuzz-secret-access-key");
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
  vi.stubEnv("LOG_LEVEL", "silent");
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((r) => trap.close(() => r()));
  rmSync(DIR, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `key-rotator <argv>` in this process through main.ts, as `node main.js <argv>` would. */
async function runCli(argv: string[], timeoutMs = 10_000): Promise<Run> {
  vi.resetModules();
  const out: string[] = [];
  const err: string[] = [];
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const sink = (into: string[]) =>
    ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      into.push(String(chunk));
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") setImmediate(() => (done as () => void)());
      return true;
    }) as typeof process.stdout.write;
  const argvBefore = process.argv;
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation(sink(out)),
    vi.spyOn(process.stderr, "write").mockImplementation(sink(err)),
    vi.spyOn(process, "exit").mockImplementation(((code?: number) => exit(code ?? 0)) as typeof process.exit),
  ];
  // `worker` listens for SIGTERM/SIGINT before it reads its config; a real process exits after a
  // bad config, this one lives on, so what a run added is taken off again.
  const listening = { SIGTERM: process.listeners("SIGTERM"), SIGINT: process.listeners("SIGINT") };
  process.argv = [process.execPath, "key-rotator", ...argv];
  let timer: NodeJS.Timeout | undefined;
  try {
    await import("../../src/cli/main.js");
    const code = await Promise.race([
      exited,
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(
            () => reject(new Error(`no exit within ${timeoutMs} ms for ${JSON.stringify(argv)}`)),
            timeoutMs,
          )),
      ),
    ]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    clearTimeout(timer);
    process.argv = argvBefore;
    for (const s of spies) s.mockRestore();
    for (const [signal, before] of Object.entries(listening)) {
      for (const l of process.listeners(signal as NodeJS.Signals))
        if (!before.includes(l)) process.removeListener(signal, l);
    }
  }
}

/** What a person may never see. The arguments themselves are cut out first: they are echoed back, and fuzzed text may hold anything. */
function expectNoTrace(run: Run, argv: string[]): void {
  let text = `${run.stdout}\n${run.stderr}`;
  for (const t of [...argv].sort((a, b) => b.length - a.length)) if (t.length >= 3) text = text.split(t).join("<arg>");
  expect(text).not.toMatch(STACK_FRAME);
  expect(text).not.toMatch(/node:internal|\(file:\/\/|\.ts:\d+:\d+/);
  expect(text).not.toMatch(/^\s*[A-Z]\w*Error\b/m);
  expect(text).not.toMatch(/\bERR_[A-Z_]{3,}\b/);
}

/** Exit 2 and a first stderr line that says what is wrong (or the usage, for no command at all). */
function expectUsageError(run: Run, argv: string[]): void {
  expect(run.code, `exit code for ${JSON.stringify(argv)}: ${run.stderr}`).toBe(2);
  // check-config prints `<file>: <problem>`, --json puts its verdict on stdout; the rest say who speaks.
  const json = argv.includes("--json") && /^\{"ok":false,"problems":\["[^]+\],"credentials":0\}\n$/.test(run.stdout);
  const named =
    /^(?:error: \S|key-rotator[ :]|Usage: key-rotator )/.test(run.stderr) ||
    // An argument is echoed with its control characters escaped (output.ts escapeTerminal).
    argv.some((t) => t !== "" && run.stderr.startsWith(`${escapeTerminal(t)}: `));
  expect(json || named, `no clear error for ${JSON.stringify(argv)}: ${JSON.stringify(run.stderr.slice(0, 300))}`).toBe(
    true,
  );
}

const HELP_TOKENS = new Set(["help", "--help", "-h"]);
const COMMANDS = ["worker", "rotate", "status", "history", "plan", "check-config", "iam-policy"];
const NEVER = new Set(["sandbox", "demo", "submit"]);
const KNOWN = new Set([...COMMANDS, ...NEVER, "help"]);
const FLAGS = [
  "--config",
  "-c",
  "--emergency",
  "--direct",
  "--wait",
  "--reason",
  "--force",
  "--vendor",
  "--actor",
  "--timeout",
  "--days",
  "--json",
  "--region",
  "--account",
  "--port-base",
  "--",
  "-",
  "--config=",
];
const noNul = (s: string) => s.replace(/\0/g, "");
/** Strings as a shell could hand them over: anything but NUL. */
const argString = anyString.map(noNul);
const longArg = fc
  .tuple(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 1_000, max: 20_000 }))
  .map(([s, n]) => noNul(s).repeat(n) || "x".repeat(n));
const token = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMANDS, ...FLAGS, "help", "--help", "-h") },
  { weight: 1, arbitrary: fc.constantFrom(MISSING, A_DIRECTORY, GARBAGE) },
  { weight: 3, arbitrary: argString },
  { weight: 1, arbitrary: longArg },
);
const safeArgv = (a: string[]) => !a.some((t) => NEVER.has(t));
/** Command names fuzzed to be unknown: no leading dash (that is an option), none of ours. */
const unknownWord = fc
  .oneof(
    alnum(1, 20),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 30 }),
  )
  .map(noNul)
  .filter((t) => t !== "" && !t.startsWith("-") && !KNOWN.has(t));
/** Arguments each command needs before its options, so the option is what fails. */
const POSITIONALS: Record<string, string[]> = {
  worker: [],
  rotate: ["cc"],
  status: [],
  history: ["cc"],
  plan: [],
  "check-config": [MISSING],
  "iam-policy": [MISSING],
};
const TAKES_CONFIG = new Set(["worker", "rotate", "status", "history", "plan"]);
// "version" is the program's own option (--version), which commander takes after a command too.
const OPTIONS_OF: Record<string, string[]> = {
  worker: ["config", "help", "version"],
  rotate: [
    "config",
    "emergency",
    "direct",
    "wait",
    "reason",
    "force",
    "timeout",
    "vendor",
    "actor",
    "json",
    "help",
    "version",
  ],
  status: ["config", "json", "help", "version"],
  history: ["config", "json", "help", "version"],
  plan: ["config", "days", "json", "help", "version"],
  "check-config": ["json", "help", "version"],
  "iam-policy": ["region", "account", "json", "help", "version"],
};

describe("key-rotator with arbitrary arguments", () => {
  it("exits 2 with a clear error (0 only for help), never a stack trace, and connects to nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 8 }).filter(safeArgv), async (argv) => {
        const before = connections;
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        if (run.code === 0) {
          expect(
            argv.some((t) => HELP_TOKENS.has(t)),
            `exit 0 without asking for help: ${JSON.stringify(argv)}`,
          ).toBe(true);
          expect(run.stdout).toContain("Usage: key-rotator");
        } else {
          expectUsageError(run, argv);
        }
        expect(connections - before, "connections to Redis or the store").toBe(0);
      }),
      { numRuns: CLI_RUNS * 2 },
    );
  });

  it("names an unknown command", async () => {
    await fc.assert(
      fc.asyncProperty(unknownWord, fc.array(alnum(1, 8), { maxLength: 3 }), async (word, rest) => {
        const argv = [word, ...rest];
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        expectUsageError(run, argv);
        expect(run.stderr.startsWith(`error: unknown command '${word}'`)).toBe(true);
      }),
      { numRuns: CLI_RUNS },
    );
  });

  it("names an unknown flag, wherever it stands after the command", async () => {
    const flag = fc.oneof(
      alnum(1, 20).map((n) => `--${n}`),
      fc.constantFrom(..."abdefgijklmnopqrstuvwxyz".split("")).map((l) => `-${l}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), flag, fc.nat(), async (command, unknown, at) => {
        fc.pre(!OPTIONS_OF[command]?.includes(unknown.replace(/^--?/, "")));
        // `--config <file>` stays one piece: a flag between them would be taken as the file.
        const rest = [
          ...(POSITIONALS[command] ?? []).map((p) => [p]),
          ...(TAKES_CONFIG.has(command) ? [["--config", MISSING]] : []),
        ];
        const i = at % (rest.length + 1);
        const argv = [command, ...rest.slice(0, i).flat(), unknown, ...rest.slice(i).flat()];
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        expectUsageError(run, argv);
        expect(run.stderr).toContain(`error: unknown option '${unknown}'`);
      }),
      { numRuns: CLI_RUNS },
    );
  });

  it("names a flag given without its value", async () => {
    const pairs: Array<[string, string, string]> = [
      ["worker", "--config", "--config"],
      ["worker", "-c", "--config"],
      ["rotate", "--config", "--config"],
      ["rotate", "--reason", "--reason"],
      ["rotate", "--timeout", "--timeout"],
      ["status", "--config", "--config"],
      ["history", "-c", "--config"],
      ["iam-policy", "--region", "--region"],
      ["iam-policy", "--account", "--account"],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...pairs), fc.boolean(), async ([command, option, long], json) => {
        const argv = [
          command,
          ...(POSITIONALS[command] ?? []),
          ...(json && OPTIONS_OF[command]?.includes("json") ? ["--json"] : []),
          option,
        ];
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        expectUsageError(run, argv);
        expect(run.stderr).toMatch(new RegExp(`^error: option '[^']*${long} <\\w+>' argument missing`));
      }),
      { numRuns: CLI_RUNS / 2 },
    );
  });

  it("says which --config cannot be read: missing, a directory, or garbage", async () => {
    const fileName = fc
      .string({ unit: "grapheme", minLength: 1, maxLength: 20 })
      .map((s) => noNul(s).replace(/\//g, "_"))
      .filter((s) => s !== "" && s !== "." && s !== "..");
    const target = fc.oneof(
      fileName.map((name) => ({ kind: "missing" as const, path: join(DIR, "no-such-dir", name) })),
      fc.constant({ kind: "directory" as const, path: A_DIRECTORY }),
      fc.tuple(fileName, fc.uint8Array({ maxLength: 300 })).map(([name, bytes]) => ({
        kind: "garbage" as const,
        path: join(DIR, `g-${Buffer.from(name).toString("hex").slice(0, 40)}.yaml`),
        bytes,
      })),
    );
    const form = fc.constantFrom("--config", "-c", "--config=", "positional");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), target, form, async (command, t, how) => {
        if (t.kind === "garbage") writeFileSync(t.path, t.bytes);
        const before = connections;
        const args = TAKES_CONFIG.has(command)
          ? [
              ...(POSITIONALS[command] ?? []),
              ...(how === "--config=" ? [`--config=${t.path}`] : [how === "-c" ? "-c" : "--config", t.path]),
            ]
          : // iam-policy asks for the account (and region) before it reads the inventory.
            [t.path, ...(command === "iam-policy" ? ["--region", "us-east-1", "--account", "123456789012"] : [])];
        const argv = [command, ...args];
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        expectUsageError(run, argv);
        expect(run.stderr).toContain(escapeTerminal(t.path));
        if (t.kind === "missing") expect(run.stderr).toMatch(/cannot read the inventory: (no such file|ENAMETOOLONG)/);
        if (t.kind === "directory") expect(run.stderr).toContain("cannot read the inventory: is a directory");
        expect(connections - before, "connections to Redis or the store").toBe(0);
      }),
      { numRuns: CLI_RUNS },
    );
  });

  it("rejects a bad --timeout, --account or --direct before reading anything", async () => {
    const badTimeout = argString.filter((t) => !t.startsWith("-") && !(Number.isFinite(Number(t)) && Number(t) > 0));
    // An empty --account is a missing one ("give --account"), said before the file is read too.
    const badAccount = argString.filter((t) => t !== "" && !t.startsWith("-") && !/^[0-9]{12}$/.test(t));
    const bad = fc.oneof<Array<fc.Arbitrary<{ argv: string[]; says: string }>>>(
      badTimeout.map((t) => ({
        argv: ["rotate", "cc", "--config", VALID, "--timeout", t],
        says: `--timeout must be a number of seconds, got "${t}"`,
      })),
      badAccount.map((a) => ({
        argv: ["iam-policy", VALID, "--region", "us-east-1", "--account", a],
        says: `account "${a}" is not a 12-digit AWS account id`,
      })),
      fc.constant({ argv: ["rotate", "cc", "--config", VALID, "--direct"], says: "--direct is only for --emergency" }),
    );
    await fc.assert(
      fc.asyncProperty(bad, async ({ argv, says }) => {
        const before = connections;
        const run = await runCli(argv);
        expectNoTrace(run, argv);
        expectUsageError(run, argv);
        expect(run.stderr).toContain(escapeTerminal(says));
        expect(connections - before).toBe(0);
      }),
      { numRuns: CLI_RUNS },
    );
  });
});

describe("key-rotator with a valid inventory whose store and Redis answer nothing", () => {
  // These reach the network (the trap, which holds nothing and drops every connection): a failure
  // to reach Redis or the store is exit 1 with a clear message; a credential not in the inventory is exit 2.
  it("status: exit 1, the store error on the credential's row", async () => {
    const run = await runCli(["status", "--config", VALID]);
    expectNoTrace(run, []);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("(Redis unreachable");
    expect(run.stdout).toMatch(/^cc +callcov +error: \S/m);
  });

  it("rotate: exit 1, Redis is required and named", async () => {
    const run = await runCli(["rotate", "cc", "--config", VALID]);
    expectNoTrace(run, []);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^key-rotator: .*Redis/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("status of a credential not in the inventory: exit 2, named", async () => {
    const run = await runCli(["status", "nope", "--config", VALID]);
    expectNoTrace(run, []);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`no credential "nope" in ${VALID}`);
  });
});

describe("key-rotator as a real process", () => {
  const cases: Array<{ name: string; argv: () => string[]; stdin?: string; says: () => string }> = [
    {
      name: "an unknown command",
      argv: () => ["no-such-command"],
      says: () => "error: unknown command 'no-such-command'",
    },
    {
      name: "submit with nothing on standard input",
      argv: () => ["submit", "jc", "--config", VALID],
      stdin: "",
      says: () => "key-rotator submit: the pair on standard input is not usable: input is empty",
    },
    {
      name: "submit with a pair and a directory for --config",
      argv: () => ["submit", "jc", "--config", A_DIRECTORY],
      stdin: "abcdefghijklmnop\nqrstuvwxyz0123456789\n",
      says: () => `key-rotator: ${A_DIRECTORY}: cannot read the inventory: is a directory`,
    },
  ];
  // Each spawn costs a second or more of tsx start-up on a busy machine: few, and side by side.
  it.concurrent.each(cases.map((c) => [c.name, c] as const))("%s: exits 2 with one clear line", async (_name, c) => {
    const argv = c.argv();
    const p = startCli(argv, {
      env: {
        REDIS_URL: `redis://127.0.0.1:${trapPort}`,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${trapPort}`,
      },
      ...(c.stdin !== undefined ? { stdin: c.stdin } : {}),
    });
    const code = await p.exited;
    const run = { code: code ?? -1, stdout: "", stderr: p.lines.join("\n") };
    expectNoTrace(run, argv);
    expect(code, p.lines.join("\n")).toBe(2);
    expect(p.lines[0]).toContain(c.says());
  });
});

// Found by this suite: an empty path (a blank Helm value for KEY_ROTATOR_CONFIG) read as "no such
// file" with no file named; it is now said to be empty.
describe("an empty config path", () => {
  it.each([{ argv: ["status", "--config", ""] }, { argv: ["check-config", ""] }])(
    "is named in the error: $argv",
    async ({ argv }) => {
      const run = await runCli(argv);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/""|empty/);
      expect(run.stderr).not.toMatch(/^: /);
    },
  );
});
