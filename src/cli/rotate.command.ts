/**
 * `key-rotator rotate <credential> [--emergency] [--wait] [--direct]`.
 * Normally puts a rotation on the queue (joining one in flight) and, with --wait, shows each step
 * until it ends. `--emergency --direct` runs the rotation in this process without Redis, for an
 * incident in which Redis is down: the store's pending stage is the lock, and a rotation already
 * pending in the store is taken over and finished as an emergency. A rotation in grace is finished
 * first (its old key revoked now), then the current key is replaced.
 */
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { describeError } from "../core/errors.js";
import { pendingRotation, promotedRotation } from "../rotation/reconcile.js";
import { rotate } from "../rotation/rotation.js";
import { type RotationState, Step, isFinished } from "../rotation/rotation-state.js";
import { enqueueRotation } from "../runtime/rotation-queue.js";
import { loadRuntime } from "../runtime/load-runtime.js";
import type { RuntimeCredential } from "../runtime/runtime-config.js";
import { type Services, createServices } from "../runtime/services.js";
import { openCli } from "./cli-context.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export interface RotateOptions {
  config: string;
  emergency?: boolean;
  direct?: boolean;
  wait?: boolean;
  reason?: string;
  timeout: string;
  json?: boolean;
}

export async function rotateCommand(credentialId: string, o: RotateOptions, out: Out): Promise<number> {
  const timeoutMs = Number(o.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    out.stderr(`key-rotator rotate: --timeout must be a number of seconds, got "${o.timeout}"`);
    return EXIT_USAGE;
  }
  if (o.direct && !o.emergency) {
    out.stderr("key-rotator rotate: --direct is only for --emergency (it bypasses the queue)");
    return EXIT_USAGE;
  }
  const actor = safeUser();
  return o.direct ? direct(credentialId, o, actor, out) : queued(credentialId, o, actor, timeoutMs, out);
}

async function queued(credentialId: string, o: RotateOptions, actor: string, timeoutMs: number, out: Out): Promise<number> {
  const cli = await openCli(o.config, { redis: "required" });
  try {
    const credential = cli.runtime.credentials.find((c) => c.id === credentialId);
    if (!credential) {
      out.stderr(`key-rotator rotate: no credential "${credentialId}" in ${o.config}`);
      return EXIT_USAGE;
    }
    const queue = cli.queue;
    if (!queue || !cli.redis) throw new Error("Redis is required");
    const started = Date.now();
    const r = await enqueueRotation(queue, cli.redis, { credentialId, trigger: o.emergency ? "emergency" : "manual", emergency: o.emergency ?? false, actor, ...(o.reason ? { reason: o.reason } : {}) });
    if (!o.wait) {
      out.stdout(o.json ? JSON.stringify({ credential: credentialId, ...r }) : `${r.joined ? "joined the rotation in flight" : "rotation queued"}: ${r.rotationId} (job ${r.jobId})`);
      return EXIT_OK;
    }
    if (!o.json) out.stdout(`${r.joined ? "joined rotation" : "rotation"} ${r.rotationId} of ${credentialId}${o.emergency ? " (emergency)" : ""}`);
    let lastStep = "";
    for (;;) {
      const job = await queue.getJob(r.jobId);
      const state = job ? await job.getState() : "missing";
      const data = job?.data as RotationState | undefined;
      if (data && data.step !== lastStep) {
        lastStep = data.step;
        if (!o.json) out.stdout(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${data.step}`);
      }
      if (data?.step === Step.AwaitPair && !o.json && lastStep === Step.AwaitPair && Date.now() - started < 200) {
        out.stdout(`  a person must now generate a new pair in JustCall and run: key-rotator submit ${credentialId}`);
      }
      if (state === "completed" || state === "failed" || state === "missing") {
        const ok = state === "completed" && data?.step === Step.Done;
        const result = { credential: credentialId, rotationId: r.rotationId, state, step: data?.step, outcome: data?.outcome ?? job?.failedReason, seconds: (Date.now() - started) / 1000 };
        if (o.json) out.stdout(JSON.stringify(result));
        else out.stdout(ok ? `done: ${credentialId} rotated in ${result.seconds.toFixed(1)}s` : `not rotated: ${state}${result.outcome ? `: ${result.outcome}` : ""}`);
        return ok ? EXIT_OK : EXIT_FAILED;
      }
      if (Date.now() - started > timeoutMs) {
        out.stderr(`key-rotator rotate: still at step ${lastStep} after ${o.timeout}s; it goes on in the worker (see key-rotator status ${credentialId})`);
        return EXIT_FAILED;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    await cli.close();
  }
}

async function direct(credentialId: string, o: RotateOptions, actor: string, out: Out): Promise<number> {
  const { inventory, runtime } = await loadRuntime(o.config);
  const credential = runtime.credentials.find((c) => c.id === credentialId);
  if (!credential || credential.vendor !== "callcov") {
    out.stderr(`key-rotator rotate: no CallCov credential "${credentialId}" in ${o.config}`);
    return EXIT_USAGE;
  }
  const services = await createServices(inventory, runtime, { logLevel: "warn", logTo: "stderr" });
  const started = Date.now();
  const say = (line: string) => void (o.json ? undefined : out.stdout(line));
  const run = (rotationId: string) => runToEnd(credential, services, {
    credentialId, rotationId, step: Step.Create, emergency: true, trigger: "emergency", actor, startedAt: Date.now(), ...(o.reason ? { reason: o.reason } : {}),
  }, say, started);
  try {
    // A rotation in grace still has its old key alive at the vendor, and a new rotation would
    // forget it (it replaces only the current key): finish that one first, its old key revoked now.
    // A completed rotation looks the same in the store (AWSPENDING stays on the current version)
    // and Redis, which knows the difference, may be down: finishing it again costs a revoke that
    // answers 404 and a confirm, no store write.
    const inGrace = promotedRotation(await services.store.listVersions(credential.secretId));
    let finishedFirst: RotationState | undefined;
    if (inGrace) {
      say(`finishing rotation ${inGrace.versionId} of ${credentialId} first (in grace, or completed): its old key is revoked now if it is not already`);
      finishedFirst = await run(inGrace.versionId);
      if (finishedFirst.step !== Step.Done) return report(finishedFirst, undefined);
    }
    const pending = pendingRotation(await services.store.listVersions(credential.secretId));
    const rotationId = pending?.versionId ?? randomUUID();
    say(`emergency rotation ${rotationId} of ${credentialId}, in this process${pending ? " (taking over the rotation pending in the store)" : ""}`);
    return report(await run(rotationId), finishedFirst);
  } catch (err) {
    out.stderr(`key-rotator rotate: ${describeError(err)}`);
    return EXIT_FAILED;
  } finally {
    await services.close();
  }

  function report(last: RotationState, first: RotationState | undefined): number {
    const seconds = (Date.now() - started) / 1000;
    const ok = last.step === Step.Done;
    if (o.json) {
      out.stdout(JSON.stringify({ credential: credentialId, rotationId: last.rotationId, step: last.step, outcome: last.outcome, seconds, ...(first ? { finishedFirst: first.rotationId } : {}) }));
    } else {
      out.stdout(ok ? `done: ${credentialId} rotated in ${seconds.toFixed(1)}s` : `not rotated: ${last.outcome ?? last.step}`);
    }
    return ok ? EXIT_OK : EXIT_FAILED;
  }
}

/** Runs one rotation to its end in this process, retrying a retryable failure a few times. */
async function runToEnd(credential: RuntimeCredential, services: Services, state: RotationState, say: (line: string) => void, started: number): Promise<RotationState> {
  let saved = state;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await rotate(credential, {
        store: services.store, vendor: services.vendorFor(credential), alerter: services.alerter, clock: services.clock,
        onStep: (_s, step) => say(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${step} done`),
      }, saved, async (s) => void (saved = s));
      return result.state;
    } catch (err) {
      const retryable = (err as { retryable?: boolean }).retryable !== false;
      if (!retryable || attempt >= 5 || isFinished(saved.step)) {
        return { ...saved, outcome: `failed at step ${saved.step}: ${describeError(err)}` };
      }
      say(`  step ${saved.step} failed (${describeError(err)}); retrying`);
      await new Promise((res) => setTimeout(res, 500 * attempt));
    }
  }
}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli:unknown";
  }
}
