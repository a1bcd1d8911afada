/**
 * `npx tsx bench/emergency-cli-run.ts [--runs N] [--no-build] [--cpu-prof DIR] [--compare MAIN_JS]
 * [--show-output]`: the CLI half of the emergency section alone (emergency.bench.ts's `cli_p50_ms`), measured as it measures it: a
 * compiled `key-rotator rotate <credential> --emergency` started as a new process, timed until
 * the vendor simulator revokes the old key, one run at a time against one warmed worker. The
 * worker and the CLI have `KEY_ROTATOR_SOCKET` set, as the chart sets it, so the CLI asks the
 * worker over its local socket (`cli_p50_ms`); the same CLI without it takes the queued path
 * (`cli_queued_p50_ms`), in turns with it. Prints one JSON document on stdout: the p50s and,
 * beside each, how long the CLI process itself lived (`exit_p50_ms`, `exit_queued_p50_ms`), which
 * is the part the CLI's own start-up decides. `--cpu-prof DIR` writes a V8 profile of each CLI run
 * there (it slows the runs: for reading, not for the figure). `--compare MAIN_JS` runs another
 * build's CLI (an earlier commit's `dist/src/cli/main.js`, built in a copy of its tree) in turns
 * with this one, against the same worker and with the same environment (the socket's variable
 * too), so that a machine shared with other work weighs on both alike; its figures come under
 * `compare`. `--show-output` copies each CLI's output to stderr.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpCall } from "../src/core/http-call.js";
import { WORKER_ENV, WORKER_NODE_FLAGS, cliCommand } from "../src/demo/cli-process.js";
import { benchWorld, percentile, round, watchRevocations } from "./bench-world.js";

const argv = process.argv.slice(2);
const valueOf = (flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const runs = Number(valueOf("--runs") ?? 15);
const profileDir = valueOf("--cpu-prof");
const compareMain = valueOf("--compare");
const showOutput = argv.includes("--show-output");
const TOKEN = "bench-admin-token-0123456789";
const WARM_UP = 5;
if (!argv.includes("--no-build"))
  execFileSync("npm", ["run", "-s", "build"], { stdio: ["ignore", "ignore", "inherit"] });

// The same world as the emergency section's: its bounds lifted, a 15-minute grace (an emergency has
// none), and as many credentials as its inventory holds in a full run (the CLI reads all of them).
const SECTION_CREDENTIALS = (60 + WARM_UP) * 3 + 15;
const world = await benchWorld({
  credentials: Math.max(SECTION_CREDENTIALS, WARM_UP + runs * (compareMain ? 3 : 2)),
  managementPerMinute: 10_000,
  inventory: { grace: "15m", extraSettings: { emergency: { cooldown: "0s", maxPerMinute: 100_000 } } },
});
// The worker's local socket, where the chart puts it: a path in a folder only this user writes.
const socketDir = mkdtempSync(join(tmpdir(), "kr-bench-sock-"));
const socket = { KEY_ROTATOR_SOCKET: join(socketDir, "key-rotator.sock") };
try {
  const { revoked, revokedAt } = watchRevocations(world.sandbox);
  const { httpUrl } = await world.startWorker({ KEY_ROTATOR_ADMIN_TOKEN: TOKEN, ...socket });
  const creds = [...world.creds];
  // The worker warmed as the section warms it (its first rotations log in and JIT the path).
  for (const c of creds.splice(0, WARM_UP)) {
    await httpCall(`${httpUrl}/v1/credentials/${c.id}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ emergency: true, reason: "bench" }),
      timeoutMs: 30_000,
    });
    await revoked(c.keyId);
  }
  /** One emergency through a CLI: ms from its start to the process's exit, and to the old key's revocation. */
  const once = async (start: (id: string) => { exited: Promise<number | null>; output: () => string }) => {
    const c = creds.shift();
    if (!c) throw new Error("out of credentials");
    await new Promise((r) => setTimeout(r, 150));
    const t0 = performance.now();
    const p = start(c.id);
    const code = await p.exited;
    if (showOutput) process.stderr.write(p.output());
    const exit = performance.now() - t0;
    if (code !== 0) throw new Error(`the CLI exited ${String(code)}:\n${p.output()}`);
    await revoked(c.keyId);
    return { revoked: (revokedAt(c.keyId) ?? 0) - t0, exit };
  };
  const args = (id: string) => ["rotate", id, "--emergency", "--reason", "bench"];
  // Both builds started alike: the image's node flags and environment, as startCli({ useBuild }) does.
  const build =
    (main: string, env: Record<string, string> = socket) =>
    (id: string) => {
      const prof = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
      const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, ...prof, main, ...args(id)], {
        env: { ...process.env, ...WORKER_ENV, ...world.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      return { exited: new Promise<number | null>((r) => child.on("exit", r)), output: () => output };
    };
  const thisMain = cliCommand({ useBuild: true }).args.at(-1) ?? "";
  const thisBuild = build(thisMain);
  const thisBuildQueued = build(thisMain, { KEY_ROTATOR_SOCKET: "" });
  const mine = { revoked: [] as number[], exit: [] as number[] };
  const mineQueued = { revoked: [] as number[], exit: [] as number[] };
  const theirs = { revoked: [] as number[], exit: [] as number[] };
  const push = (to: typeof mine, r: { revoked: number; exit: number }) => {
    to.revoked.push(r.revoked);
    to.exit.push(r.exit);
  };
  for (let i = 0; i < runs; i++) {
    push(mine, await once(thisBuild));
    push(mineQueued, await once(thisBuildQueued));
    if (compareMain) push(theirs, await once(build(compareMain)));
  }
  const figures = (f: typeof mine) => ({
    cli_p50_ms: round(percentile(f.revoked, 50)),
    exit_p50_ms: round(percentile(f.exit, 50)),
    cli_ms: f.revoked.map((v) => round(v, 0)),
    exit_ms: f.exit.map((v) => round(v, 0)),
  });
  process.stdout.write(
    `${JSON.stringify({
      cli_runs: runs,
      ...figures(mine),
      ...Object.fromEntries(
        Object.entries(figures(mineQueued)).map(([k, v]) => [k.replace(/^(cli|exit)_/, "$1_queued_"), v]),
      ),
      ...(compareMain ? { compare: { main: compareMain, ...figures(theirs) } } : {}),
    })}\n`,
  );
} finally {
  await world.close();
  rmSync(socketDir, { recursive: true, force: true });
}
process.exit(0);
