/**
 * Starts `key-rotator <args>` as a child process, the way an operator or Kubernetes would: the
 * demo, the integration tests and the benchmark use it to run real worker processes they can
 * SIGKILL. From TypeScript sources it runs through tsx; from the build, plain node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface CliProcess {
  child: ChildProcess;
  /** Every line the process printed (stdout and stderr), in order. */
  lines: string[];
  /** Resolves with the first line matching, or rejects after `timeoutMs`. */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The V8 flags the image runs the worker with (Dockerfile). The young generation is capped at 8 MB
 * a semi-space. With V8's default (16) an idle worker with 10,000 credentials still held its
 * startup's garbage a minute later (RSS 324 MiB); at 2 it spent a quarter of its CPU in garbage
 * collection during a fleet rotation; at 8, a tenth, and the same idle RSS as at 2 (bench).
 * The old generation grows by at most half between full collections instead of up to four
 * times: parsing a 10,000-credential inventory leaves 54 MB live for a moment, after which V8
 * let the startup due check's garbage reach 220 MB before collecting it (peak RSS 300 MiB,
 * over the chart's 256Mi limit); with the cap the peak was 210 MiB, at the same fleet CPU.
 * `gc()` (--expose-gc) for the worker's own collections (idle-collector.ts): once after the
 * inventory is read, and once a replica's maintenance work has paused, which V8 would not do by
 * itself while the replica idles (at 100,000 credentials on 3 replicas, idle RSS per replica
 * fell by a fifth or so).
 * No baseline compiler (--no-sparkplug): functions run interpreted until hot, then optimized, with
 * no machine code in between kept for every function run once. An idle worker with 10,000
 * credentials held about 1 MiB less (78.2 / 77.5 / 77.6 against 78.8 / 78.1 / 79.3 MiB, in turns),
 * with the emergency p50 within half a millisecond (12.5 / 12.4 / 12.7 against 12.5 / 12.2 / 12.4
 * ms) and the same CLI p50 (bench).
 */
export const WORKER_NODE_FLAGS = [
  "--max-semi-space-size=8",
  "--heap-growing-percent=50",
  "--expose-gc",
  "--no-sparkplug",
];

/**
 * The environment the image sets (Dockerfile). glibc's malloc gives free memory over 64 KiB at
 * the top of its heap back to the system (its default threshold grows up to 32 MiB). Without it
 * much of what a worker's startup used (10,000 secrets listed) stays resident: an idle worker
 * with 10,000 credentials held 55 MiB of its own memory, 44-46 MiB with it, for no measurable
 * CPU in the fleet run. (A fixed mmap threshold as well saved 2 MiB more but cost a fifth more
 * CPU per rotation: every 64 KiB socket read became a mapping.)
 */
export const WORKER_ENV = { MALLOC_TRIM_THRESHOLD_: "65536" };

export function cliCommand(options: { useBuild?: boolean } = {}): { command: string; args: string[] } {
  const self = fileURLToPath(import.meta.url);
  if (options.useBuild && self.endsWith(".ts")) {
    // The compiled CLI (npm run build), for measurements that must not include tsx's loader.
    return {
      command: process.execPath,
      args: [...WORKER_NODE_FLAGS, fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url))],
    };
  }
  if (self.endsWith(".ts")) {
    return {
      command: process.execPath,
      args: ["--import", "tsx", fileURLToPath(new URL("../cli/main.ts", import.meta.url))],
    };
  }
  return { command: process.execPath, args: [fileURLToPath(new URL("../cli/main.js", import.meta.url))] };
}

export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; stdin?: string; useBuild?: boolean } = {},
): CliProcess {
  const { command, args: base } = cliCommand({ useBuild: options.useBuild ?? false });
  const child = spawn(command, [...base, ...args], {
    env: { ...process.env, ...(options.useBuild ? WORKER_ENV : {}), ...options.env },
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const lines: string[] = [];
  const waiters: Array<{ test: (l: string) => boolean; resolve: (l: string) => void }> = [];
  const onData = (stream: NodeJS.ReadableStream | null) => {
    let rest = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        options.onLine?.(line);
        for (const w of [...waiters]) {
          if (w.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
  };
  onData(child.stdout);
  onData(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    waitForLine(match, timeoutMs = 20_000) {
      const test = typeof match === "function" ? match : (l: string) => match.test(l);
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no line matching ${String(match)} within ${timeoutMs} ms; last lines:\n${lastLines(lines)}`),
            ),
          timeoutMs,
        );
        waiters.push({
          test,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          setTimeout(() => {
            clearTimeout(timer);
            reject(
              new Error(`process exited before a line matching ${String(match)}; last lines:\n${lastLines(lines)}`),
            );
          }, 50);
        });
      });
    },
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The last lines for an error, less the routine ticks (a due check a second in tests) that would crowd out what happened. */
function lastLines(lines: string[]): string {
  return lines
    .filter((l) => !l.includes('"due-check.done"'))
    .slice(-20)
    .join("\n");
}
