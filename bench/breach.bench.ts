/**
 * The breach drill against the write quota (issue 21 item 6): N CallCov credentials, none due,
 * beside up to 5,000 Twilio credentials that are all due. Once the schedule's Twilio rotations are queued
 * and running, a person declares CallCov breached with the compiled CLI (`rotate --emergency
 * --vendor callcov`), and the clock runs from the drill's declaration (its `breach.declared` audit
 * line, written before the first rotation is asked for) until Redis records every CallCov rotation
 * completed: as the fleet bench's clock starts once a worker is ready, starting node is not
 * rotation work (it is reported beside, and cli_p50_ms measures it). The bound is the fleet
 * bench's (fleet.bench.ts): N rotations' store
 * writes at the write quota, or their management calls at the account's budget, whichever is
 * longer; a drill that takes the whole quota ahead of the scheduled work meets it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startCli } from "../src/demo/cli-process.js";
import { connectRedis } from "../src/queue/redis.js";
import { benchWorld, round, until } from "./bench-world.js";
import { managementPerMinuteFor, quotaBoundSeconds } from "./fleet.bench.js";

export interface BreachFigures {
  credentials: number;
  seconds: number;
  bound_seconds: number;
  ratio: number;
  write_tps: number;
  /** Scheduled rotations of the other vendor not yet finished when the drill was declared. */
  scheduled_pending_at_declaration: number;
  /** Of those, how many finished while the drill ran (the ones already started, ideally). */
  scheduled_finished_during_drill: number;
  /** From the CLI's start to the declaration (node and the command's modules, the inventory, Redis). */
  cli_start_seconds: number;
  /** From the declaration to the CLI's exit: every rotation asked for. */
  declare_seconds: number;
  /** From the CLI's start to the last rotation: what the person who typed it waited. */
  seconds_from_command: number;
  workers: number;
}

interface DrillDocument {
  credentials: number;
  queued: number;
  joined: number;
  skipped: number;
  failed: number;
}

export async function breachBench(
  credentials: number,
  writeTps: number,
  progress: (s: string) => void,
): Promise<BreachFigures> {
  const managementPerMinute = managementPerMinuteFor(writeTps);
  // Enough scheduled work that it still waits when the drill's first rotations are queued (the
  // CLI takes a second or two to start): the drill must overtake it, not follow it.
  const scheduled = Math.min(credentials, 5_000);
  const world = await benchWorld({
    credentials,
    writeTps,
    managementPerMinute,
    dueOthers: { vendor: "twilio", count: scheduled },
    inventory: { concurrency: 32, storeWriteQuota: writeTps, dueCheckEvery: "1h" },
  });
  const redis = connectRedis(world.redis);
  const completed = `${world.prefix}:completed`;
  const callcov = world.creds.map((c) => c.id);
  const twilio = world.dueOthers.map((c) => c.id);
  const finished = async (ids: string[]) => (await redis.hmget(completed, ...ids)).filter((v) => v !== null).length;
  try {
    const workers = 2;
    await Promise.all(Array.from({ length: workers }, () => world.startWorker()));
    // Scheduled work first: the due check has queued the Twilio rotations and a tenth have finished.
    // They are counted through the run, to tell how many had finished by the declaration.
    const twilioDone: Array<{ at: number; n: number }> = [{ at: 0, n: 0 }];
    const poll = setInterval(() => {
      const at = Date.now();
      finished(twilio).then(
        (n) => twilioDone.push({ at, n }),
        () => undefined,
      );
    }, 200);
    const lastTwilio = () => twilioDone[twilioDone.length - 1]?.n ?? 0;
    await until(() => lastTwilio() >= Math.ceil(scheduled / 10), 10 * 60_000, "the scheduled rotations to flow", 20);
    progress(`breach: ${scheduled - lastTwilio()} scheduled rotations pending; declaring ${credentials} credentials`);

    const auditFile = join(world.env.KEY_ROTATOR_CONFIG ?? "", "..", "audit.jsonl");
    const started = Date.now();
    const cli = startCli(
      ["rotate", "--emergency", "--vendor", "callcov", "--reason", "bench: CallCov breach drill", "--json"],
      { env: { ...world.env, KEY_ROTATOR_AUDIT_LOG: auditFile }, useBuild: true },
    );
    let exitedAt: number | undefined;
    void cli.exited.then(() => (exitedAt = Date.now()));
    let drillDone = 0;
    let shown = 0;
    const watch = setInterval(() => {
      finished(callcov).then(
        (n) => {
          drillDone = n;
          if (n - shown >= credentials / 10) {
            shown = n;
            progress(
              `breach: ${n}/${credentials} rotated ${round((Date.now() - started) / 1000, 1)} s after the command`,
            );
          }
        },
        () => undefined,
      );
    }, 100);
    const failed = () => (cli.child.exitCode ?? 0) > 0;
    await until(() => drillDone >= credentials || failed(), 30 * 60_000, "every CallCov rotation", 10);
    clearInterval(watch);
    const ended = Date.now();
    clearInterval(poll);
    const twilioAtEnd = await finished(twilio);
    const code = await cli.exited;
    const document = JSON.parse(cli.lines.find((l) => l.startsWith("{")) ?? "{}") as Partial<DrillDocument>;
    if (code !== 0 || document.queued !== credentials)
      throw new Error(`the drill did not queue every credential (exit ${code}): ${cli.lines.slice(-5).join("\n")}`);
    const declared = declaredAt(auditFile);
    const seconds = (ended - declared) / 1000;
    const twilioAtDeclaration = twilioDone.filter((d) => d.at <= declared).pop()?.n ?? 0;
    const bound = quotaBoundSeconds(credentials, writeTps, managementPerMinute);
    return {
      credentials,
      seconds: round(seconds, 1),
      bound_seconds: round(bound, 1),
      ratio: round(seconds / bound),
      write_tps: writeTps,
      scheduled_pending_at_declaration: scheduled - twilioAtDeclaration,
      scheduled_finished_during_drill: twilioAtEnd - twilioAtDeclaration,
      cli_start_seconds: round((declared - started) / 1000, 1),
      declare_seconds: round(((exitedAt ?? ended) - declared) / 1000, 1),
      seconds_from_command: round((ended - started) / 1000, 1),
      workers,
    };
  } finally {
    redis.disconnect();
    await world.close();
  }
}

/** When the drill was declared: its `breach.declared` audit line's time, epoch ms. */
function declaredAt(auditFile: string): number {
  const line = readFileSync(auditFile, "utf8")
    .split("\n")
    .find((l) => l.includes('"breach.declared"'));
  if (!line) throw new Error(`no breach.declared line in ${auditFile}`);
  return Date.parse((JSON.parse(line) as { at: string }).at);
}
