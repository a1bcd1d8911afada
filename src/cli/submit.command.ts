/**
 * `key-rotator submit <credential>`: a person hands in a new JustCall pair on standard input
 * (never as arguments, which `ps` shows). The pair already in use is turned away (promoting it
 * would end in a request to revoke the live pair). The pair is checked at JustCall first: a
 * refused pair changes nothing. An accepted one is staged as AWSPENDING and the waiting rotation woken; the
 * worker verifies it again and promotes it. The secret is never printed.
 */
import { randomUUID } from "node:crypto";
import { ConfigError, describeError } from "../core/errors.js";
import { STAGE_CURRENT } from "../core/ports.js";
import { SecretValue } from "../core/secret.js";
import { parseStoredValue } from "../core/stored-value.js";
import { sameApiKey } from "../rotation/operator-rotation.js";
import { pendingRotation } from "../rotation/reconcile.js";
import { shownUrl } from "../queue/redis.js";
import { dedupIdFor, enqueueRotation } from "../queue/rotation-queue.js";
import { parseJustCallPairInput } from "../vendors/justcall/justcall-pair-input.js";
import { openCli } from "./cli-context.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export async function submitCommand(
  credentialId: string,
  o: { config: string; json?: boolean },
  out: Out,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  if ((stdin as NodeJS.ReadStream).isTTY)
    out.stderr("Paste the API key and the API secret (two lines, or key:secret), then press Ctrl-D:");
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  let pair;
  try {
    pair = parseJustCallPairInput(Buffer.concat(chunks));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    out.stderr(
      `key-rotator submit: the pair on standard input is not usable: ${err.problems.join("; ")} (nothing was stored)`,
    );
    return EXIT_USAGE;
  }
  const cli = await openCli(o.config, { redis: "optional" });
  try {
    const credential = cli.runtime.credentials.find((c) => c.id === credentialId);
    if (!credential || credential.vendor !== "justcall") {
      out.stderr(`key-rotator submit: no JustCall credential "${credentialId}" in ${o.config}`);
      return EXIT_USAGE;
    }
    const inUse = parseStoredValue(
      (await cli.store.read(credential.secretId, { stage: STAGE_CURRENT })).value,
      `${credentialId}: secret ${credential.secretId} (AWSCURRENT)`,
    );
    if (inUse.vendor === "justcall" && sameApiKey(inUse, pair)) {
      out.stderr(
        `key-rotator submit: this is the pair already in use by ${credentialId}; generate a new pair in JustCall first (nothing was stored)`,
      );
      return EXIT_USAGE;
    }
    const secret = new SecretValue(`${pair.apiKey}:${pair.apiSecret.reveal()}`);
    const verdict = await cli.services.verifierFor(credential).verify(secret);
    if (!verdict.valid) {
      out.stderr(
        `key-rotator submit: JustCall refused this pair (${verdict.status}: ${verdict.reason}); nothing was stored and the current pair is unchanged`,
      );
      return EXIT_FAILED;
    }
    const waiting = pendingRotation(await cli.store.listVersions(credential.secretId));
    if (waiting) {
      out.stderr(
        `key-rotator submit: a submitted pair (version ${waiting.versionId}) is already waiting to be promoted; nothing was stored`,
      );
      return EXIT_FAILED;
    }
    const versionId = randomUUID();
    const value = JSON.stringify({
      vendor: "justcall",
      apiKey: pair.apiKey,
      apiSecret: pair.apiSecret.reveal(),
      createdAt: new Date().toISOString(),
    });
    await cli.store.putPending(credential.secretId, versionId, new SecretValue(value));
    let woke = cli.queue
      ? "the worker picks it up at its next check"
      : `Redis does not answer at ${shownUrl(cli.redisUrl)}, so the worker picks it up at its first check once Redis is back`;
    if (cli.queue && cli.redis) {
      try {
        const jobId = await cli.queue.getDeduplicationJobId(dedupIdFor(credentialId));
        const job = jobId ? await cli.queue.getJob(jobId) : undefined;
        if (job && (await job.getState()) === "delayed") {
          await job.promote();
          woke = "the waiting rotation was woken";
        } else if (!job) {
          await enqueueRotation(cli.queue, cli.redis, {
            credentialId,
            trigger: "manual",
            actor: "cli:submit",
            reason: "pair submitted by an operator",
          });
          woke = "a rotation was started for it";
        }
      } catch (err) {
        woke = `could not wake the worker (${describeError(err)}); it picks the pair up at its next check`;
      }
    }
    out.stdout(
      o.json
        ? JSON.stringify({ credential: credentialId, versionId, staged: true })
        : `pair accepted by JustCall and staged as version ${versionId} of ${credential.secretId}; ${woke}`,
    );
    return EXIT_OK;
  } finally {
    await cli.close();
  }
}
