/**
 * `key-rotator submit <credential>`: for a vendor whose keys a person makes (the operator flow),
 * the person hands in the new key on standard input (never as arguments, which `ps` shows), in the
 * form the vendor module parses. The key already in use is turned away (promoting it would end in
 * a request to revoke the live key). The key is checked at the vendor first: a refused key changes
 * nothing. An accepted one is staged as AWSPENDING and the waiting rotation woken; the worker
 * verifies it again and promotes it. The secret is never printed.
 */
import { randomUUID } from "node:crypto";
import { ConfigError, describeError } from "../core/errors.js";
import { STAGE_CURRENT } from "../core/ports.js";
import { serializeStoredValue } from "../core/stored-value.js";
import { loadRuntime } from "../config/load-runtime.js";
import { sameKey } from "../rotation/operator-flow.js";
import { pendingRotation } from "../rotation/reconcile.js";
import { shownUrl } from "../queue/redis.js";
import { dedupIdFor, enqueueRotation } from "../queue/rotation-queue.js";
import { openCli } from "./cli-context.js";
import { cliActor } from "./actor.js";
import { auditLog, parseActor } from "../audit/audit-log.js";
import { RotationHistory } from "../queue/rotation-history-store.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out, jsonError } from "./output.js";

export async function submitCommand(
  credentialId: string,
  o: { config: string; actor?: string; json?: boolean },
  out: Out,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const actor = cliActor(o.actor);
  const { runtime } = await loadRuntime(o.config);
  const credential = runtime.credentials.find((c) => c.id === credentialId);
  const module = credential?.module;
  if (!credential || module?.flow !== "operator") {
    out.stderr(
      `key-rotator submit: submit is for credentials whose keys a person makes; "${credentialId}" is ${credential ? `a ${credential.module.name} credential (the worker makes its keys)` : `not in ${o.config}`}`,
    );
    return EXIT_USAGE;
  }
  const noun = module.guide.noun;
  if ((stdin as NodeJS.ReadStream).isTTY) out.stderr(module.guide.prompt);
  let value: unknown;
  try {
    value = module.parseSubmission(await readBounded(stdin, module.maxSubmissionBytes, `${module.name} ${noun}`));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    out.stderr(
      `key-rotator submit: the ${noun} on standard input is not usable: ${err.problems.join("; ")} (nothing was stored)`,
    );
    return EXIT_USAGE;
  }
  const cli = await openCli(o.config, { redis: "optional" });
  try {
    const services = await cli.services();
    const { store } = services;
    const where = `${credentialId}: secret ${credential.secretId}`;
    const inUse = module.value.parse(
      (await store.read(credential.secretId, { stage: STAGE_CURRENT })).value,
      `${where} (AWSCURRENT)`,
    );
    if (sameKey(module.value, inUse, value)) {
      out.stderr(
        `key-rotator submit: this is the ${noun} already in use by ${credentialId}; generate a new ${noun} in ${module.guide.dashboard} first (nothing was stored)`,
      );
      return EXIT_USAGE;
    }
    const verdict = await services.verifierFor(credential).verify(module.value.secretOf(value));
    if (!verdict.valid) {
      const message = `${module.name} refused this ${noun} (${verdict.status}: ${verdict.reason}); nothing was stored and the current ${noun} is unchanged`;
      out.stderr(`key-rotator submit: ${message}`);
      if (o.json) out.stdout(jsonError("vendor_refused", message, { status: verdict.status }));
      return EXIT_FAILED;
    }
    const waiting = pendingRotation(await store.listVersions(credential.secretId));
    if (waiting) {
      const message = `a submitted ${noun} (version ${waiting.versionId}) is already waiting to be promoted; nothing was stored`;
      out.stderr(`key-rotator submit: ${message}`);
      if (o.json) out.stdout(jsonError("already_waiting", message, { versionId: waiting.versionId }));
      return EXIT_FAILED;
    }
    const versionId = randomUUID();
    const stored = serializeStoredValue({ ...(value as object), createdAt: new Date().toISOString() });
    // The final check of the shape, before anything is written: the store never gets a value it would refuse.
    module.value.parse(stored, `the submitted ${noun}`);
    await store.putPending(credential.secretId, versionId, stored);
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
            actor,
            reason: `${noun} submitted by an operator`,
          });
          woke = "a rotation was started for it";
        }
      } catch (err) {
        woke = `could not wake the worker (${describeError(err)}); it picks the ${noun} up at its next check`;
      }
    }
    // Who handed a key in, and which version it became: the audit stream, and Redis's trail if it answers.
    const submitted = { credentialId, event: "pair.submitted" as const, rotationId: versionId };
    if (cli.redis)
      await new RotationHistory(cli.redis, cli.runtime.settings.queuePrefix)
        .audit({ at: Date.now(), actor, ...submitted })
        .catch(() => undefined);
    else auditLog().emit({ ...submitted, actor: parseActor(actor), versionId });
    out.stdout(
      o.json
        ? JSON.stringify({ credential: credentialId, versionId, staged: true, woke, actor })
        : `${noun} accepted by ${module.name} and staged as version ${versionId} of ${credential.secretId}; ${woke}`,
    );
    return EXIT_OK;
  } finally {
    await cli.close();
  }
}

/**
 * Reads standard input up to `max` bytes and stops there: a person pasting a file by mistake (or
 * a program piping gigabytes) gets a clear error, not a process that buffers it all first.
 */
async function readBounded(stdin: NodeJS.ReadableStream, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += bytes.length;
    if (size > max) {
      (stdin as NodeJS.ReadStream).destroy?.();
      throw new ConfigError([`input is too long (more than ${max} bytes; a ${what} is far shorter)`], "standard input");
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}
