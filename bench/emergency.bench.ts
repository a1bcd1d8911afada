/**
 * Emergency latency: from the trigger (admin HTTP, and the CLI as a new process) to the old key
 * being refused by the vendor simulator, against the floor: the same vendor and store calls made
 * directly in sequence, with the same clients, from a process of their own (emergency-floor.ts),
 * as the worker is one. The same calls made from this process, beside the sandbox, are reported
 * too: they skip every hop between processes, so they are a floor no deployment can reach.
 * The worker and the CLI have KEY_ROTATOR_SOCKET set, as the chart sets it: `cli_p50_ms` is the
 * CLI asking the worker over its local socket, `cli_queued_p50_ms` the same CLI without it (the
 * queued path, as where no worker runs beside the CLI), measured in turns.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { httpCall } from "../src/core/http-call.js";
import { startCli } from "../src/demo/cli-process.js";
import type { SeededCallCov } from "../src/sandbox/seed.js";
import { benchWorld, percentile, round, watchRevocations } from "./bench-world.js";
import { floorClients } from "./floor-calls.js";

export interface EmergencyFigures {
  runs: number;
  p50_ms: number;
  p95_ms: number;
  floor_p50_ms: number;
  ratio: number;
  /** The same calls made from the bench process itself, where no call crosses to another process. */
  floor_same_process_p50_ms: number;
  /** The CLI beside the worker, through its local socket (as the chart runs it). */
  cli_p50_ms: number;
  /** The same CLI through the queue (no worker's socket beside it). */
  cli_queued_p50_ms: number;
  cli_runs: number;
}

const TOKEN = "bench-admin-token-0123456789";
const WARM_UP = 5;

export async function emergencyBench(runs: number, progress: (s: string) => void): Promise<EmergencyFigures> {
  const cliRuns = Math.max(3, Math.floor(runs / 4));
  // The emergency bounds (cooldown, global cap) are lifted: this measures one rotation, not the bounds.
  // Some 150 rotations in about a minute: CallCov's default management budget (120 calls a minute)
  // would put the worker to wait for its reset. The fleet measures that budget; this, one incident.
  const world = await benchWorld({
    credentials: (runs + WARM_UP) * 3 + cliRuns * 2,
    managementPerMinute: 10_000,
    inventory: { grace: "15m", extraSettings: { emergency: { cooldown: "0s", maxPerMinute: 100_000 } } },
  });
  const floorProcess = startFloorProcess(world.sandbox.urls.secretsManager, world.sandbox.urls.callcov, world.env);
  const socketDir = mkdtempSync(join(tmpdir(), "kr-bench-sock-"));
  const socket = join(socketDir, "key-rotator.sock");
  try {
    // The simulator says when it revokes a key: the measurement waits on that, without polling.
    const revocations = watchRevocations(world.sandbox);
    const { httpUrl } = await world.startWorker({ KEY_ROTATOR_ADMIN_TOKEN: TOKEN, KEY_ROTATOR_SOCKET: socket });
    await floorProcess.ready;
    const creds = [...world.creds];
    const next = () => {
      const c = creds.shift();
      if (!c) throw new Error("out of credentials");
      return c;
    };
    const revokedSince = async (c: SeededCallCov, t0: number) => (await revocations.revoked(c.keyId)) - t0;

    // One emergency at a time with a pause between them, as incidents come: back-to-back runs
    // would measure the fleet's write-quota limiter instead of the latency of one emergency.
    // Each run: a fresh credential, the trigger, then the wait for the simulator's revocation.
    const measured = (trigger: (c: SeededCallCov) => Promise<void>) => async () => {
      await new Promise((r) => setTimeout(r, 150));
      const c = next();
      const t0 = performance.now();
      await trigger(c);
      return revokedSince(c, t0);
    };
    // The trigger goes out over node:http, as cheap a client as the floor's pipe: the measured
    // time is the worker's and the calls', not this process's HTTP client's (fetch costs more).
    const viaHttp = measured(async (c) => {
      const res = await httpCall(`${httpUrl}/v1/credentials/${c.id}/rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ emergency: true, reason: "bench" }),
        timeoutMs: 30_000,
      });
      if (res.status !== 202) throw new Error(`admin rotate answered ${res.status}`);
    });
    const floorOnce = measured((c) => floorProcess.run(c));
    // The same calls from this process, which also runs the sandbox: no call crosses to another process.
    const sameProcess = floorClients(world.sandbox.urls.secretsManager, world.sandbox.urls.callcov);
    const sameProcessOnce = measured((c) => sameProcess.run(c));
    // All paths warmed alike (connections, logins, the JIT), then measured in turns, so that a
    // machine that slows down or speeds up during the run weighs on each the same.
    for (let i = 0; i < WARM_UP; i++) {
      await viaHttp();
      await floorOnce();
      await sameProcessOnce();
    }
    const http: number[] = [];
    const floor: number[] = [];
    const same: number[] = [];
    for (let i = 0; i < runs; i++) {
      http.push(await viaHttp());
      floor.push(await floorOnce());
      same.push(await sameProcessOnce());
    }
    progress(
      `emergency via admin HTTP: ${runs} runs, p50 ${round(percentile(http, 50), 1)} ms; floor p50 ${round(percentile(floor, 50), 1)} ms (${round(percentile(same, 50), 1)} ms from the sandbox's own process)`,
    );

    const viaCli = async (socketPath: string) => {
      await new Promise((r) => setTimeout(r, 150));
      const c = next();
      const t0 = performance.now();
      const p = startCli(["rotate", c.id, "--emergency", "--reason", "bench"], {
        env: { ...world.env, KEY_ROTATOR_SOCKET: socketPath },
        useBuild: true,
      });
      const ms = await revokedSince(c, t0);
      if ((await p.exited) !== 0) throw new Error(`the CLI failed:\n${p.lines.join("\n")}`);
      return ms;
    };
    const cli: number[] = [];
    const cliQueued: number[] = [];
    for (let i = 0; i < cliRuns; i++) {
      cli.push(await viaCli(socket));
      cliQueued.push(await viaCli(""));
    }
    progress(
      `emergency via CLI process: ${cliRuns} runs, p50 ${round(percentile(cli, 50), 1)} ms through the worker's socket, ${round(percentile(cliQueued, 50), 1)} ms through the queue (includes starting node)`,
    );

    sameProcess.close();
    const p50 = percentile(http, 50);
    const floorP50 = percentile(floor, 50);
    return {
      runs,
      p50_ms: round(p50),
      p95_ms: round(percentile(http, 95)),
      floor_p50_ms: round(floorP50),
      ratio: round(p50 / floorP50),
      floor_same_process_p50_ms: round(percentile(same, 50)),
      cli_p50_ms: round(percentile(cli, 50)),
      cli_queued_p50_ms: round(percentile(cliQueued, 50)),
      cli_runs: cliRuns,
    };
  } finally {
    floorProcess.close();
    await world.close();
    rmSync(socketDir, { recursive: true, force: true });
  }
}

/** emergency-floor.ts in a process of its own: `run` hands it a credential and resolves when its calls are made. */
function startFloorProcess(secretsManagerUrl: string, callcovUrl: string, env: Record<string, string>) {
  const script = fileURLToPath(new URL("./emergency-floor.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, secretsManagerUrl, callcovUrl], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const answers: Array<(line: string) => void> = [];
  let readyLine: (line: string) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    readyLine = (line) => (line === "ready" ? resolve() : reject(new Error(`the floor process said "${line}"`)));
    child.once("exit", (code) => reject(new Error(`the floor process exited (${String(code)}) before it was ready`)));
  });
  let started = false;
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (!started) {
      started = true;
      readyLine(line);
    } else answers.shift()?.(line);
  });
  return {
    ready,
    run: (c: SeededCallCov) =>
      new Promise<void>((resolve, reject) => {
        answers.push((line) => (line === "done" ? resolve() : reject(new Error(`floor process: ${line}`))));
        child.stdin.write(`${JSON.stringify({ id: c.id, secretId: c.secretId })}\n`);
      }),
    close: () => void child.kill("SIGKILL"),
  };
}
