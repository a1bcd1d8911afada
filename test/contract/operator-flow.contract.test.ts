/**
 * The operator-assisted (dashboard-only) flow, run over every operator definition in the registry
 * against its simulator, through the module alone: what `submit` takes (`parseSubmission`), the
 * value it stores (`value`, `secretOf`), the verifier the product builds (`verifier`), and the
 * rotation (`operatorRotate`) with the in-memory store. A person, played by the vendor's harness
 * (test/vendors/operator-harnesses.ts), makes and revokes keys in the dashboard. An operator
 * vendor without a harness fails here.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, InvalidStateError, VendorError } from "../../src/core/errors.js";
import { STAGE_CURRENT, type KeyVerifier, type Verdict } from "../../src/core/ports.js";
import { serializeStoredValue } from "../../src/core/stored-value.js";
import { type OperatorCredential, operatorRotate, sameKey } from "../../src/rotation/operator-flow.js";
import { type RotationState, Step } from "../../src/rotation/rotation-state.js";
import { builtInVendors } from "../../src/vendors/registry.js";
import type { OperatorModule } from "../../src/vendors/vendor-module.js";
import { FakeAlerter, FakeStore } from "../support/fake-ports.js";
import { type KeyParts, OPERATOR_HARNESSES, type RunningOperator } from "../vendors/operator-harnesses.js";

const operatorModules = builtInVendors().flatMap((m) => (m.flow === "operator" ? [m] : []));

it("every operator definition in the registry has a simulator harness, and there are two or more", () => {
  expect(operatorModules.map((m) => m.id)).toContain("justcall");
  expect(operatorModules.length).toBeGreaterThanOrEqual(2);
  expect(operatorModules.filter((m) => !OPERATOR_HARNESSES[m.id]).map((m) => m.id)).toEqual([]);
});

const SECRET = "prod/operator-contract";
const T0 = Date.parse("2026-03-12T09:00:00Z");
const CREDENTIAL: OperatorCredential = {
  id: "op-contract",
  secretId: SECRET,
  singlePair: false,
  remindEveryMs: 60_000,
  deadlineMs: 3_600_000,
};
const fresh = (): RotationState => ({
  credentialId: CREDENTIAL.id,
  rotationId: "r-1",
  step: Step.AwaitPair,
  emergency: false,
  trigger: "resume",
  startedAt: T0,
});

/** Every 8-character piece of any part of these keys that occurs in `text`: empty when nothing leaked. */
function leaks(text: string, keys: KeyParts[]): string[] {
  const pieces = keys.flatMap((k) => Object.values(k)).flatMap((p) => [...p].map((_, i) => p.slice(i, i + 8)));
  return [...new Set(pieces.filter((w) => w.length === 8 && text.includes(w)))];
}

/** The key with its last part's last four characters changed: the vendor's format, a key it never made. */
function forged(key: KeyParts): KeyParts {
  const names = Object.keys(key);
  const last = names.at(-1) ?? "";
  return { ...key, [last]: `${(key[last] ?? "").slice(0, -4)}zzzz` };
}

describe.each(operatorModules.map((m) => ({ id: m.id, module: m as OperatorModule })))(
  "operator flow: $id against its simulator",
  ({ module }) => {
    let running: RunningOperator;
    let verifier: KeyVerifier;
    let requests: Array<[string, number | "error"]>;
    beforeEach(async () => {
      const harness = OPERATOR_HARNESSES[module.id];
      if (!harness)
        throw new Error(`no simulator harness for operator vendor ${module.id} in test/vendors/operator-harnesses.ts`);
      running = await harness.start();
      requests = [];
      verifier = module.verifier(
        { id: CREDENTIAL.id, secretId: SECRET, baseUrl: running.baseUrl, fields: z.object(module.fields).parse({}) },
        { store: new FakeStore([]), onRequest: (op, status) => void requests.push([op, status]) },
      );
    });
    afterEach(async () => running?.stop());

    const refused = () => running.refusedStatus ?? 401;
    /** What a person types into `submit`: each part on its own line, in the definition's order. */
    const typed = (key: KeyParts) => Buffer.from(`${Object.values(key).join("\n")}\n`);
    const submitted = (key: KeyParts) => module.parseSubmission(typed(key)) as Record<string, unknown>;
    const secretOf = (key: KeyParts) => module.value.secretOf(submitted(key));

    function world(current: KeyParts) {
      const calls: string[] = [];
      const now = { t: T0 };
      const store = new FakeStore(calls, undefined, () => now.t);
      store.seed(SECRET, "v-old", serializeStoredValue({ ...submitted(current), createdAt: "2026-01-01" }).reveal());
      const alerter = new FakeAlerter();
      const guide = { ...module.guide, vendorName: module.name };
      const run = (state: RotationState) =>
        operatorRotate(
          CREDENTIAL,
          { store, verifier, value: module.value, guide, alerter, clock: { now: () => now.t } },
          state,
          async () => undefined,
        );
      /** What `key-rotator submit` does with a key (src/cli/submit.command.ts), through the module. */
      const submit = async (key: KeyParts, versionId: string): Promise<"staged" | "in use" | Verdict> => {
        const value = submitted(key);
        const inUse = module.value.parse((await store.read(SECRET, { stage: STAGE_CURRENT })).value, "contract");
        if (sameKey(module.value, inUse, value)) return "in use";
        const verdict = await verifier.verify(module.value.secretOf(value));
        if (!verdict.valid) return verdict;
        const raw = serializeStoredValue({ ...value, createdAt: new Date(now.t).toISOString() });
        module.value.parse(raw, "the submitted key");
        await store.putPending(SECRET, versionId, raw);
        return "staged";
      };
      const stages = () =>
        Object.fromEntries(Object.entries(store.stagesOf(SECRET)).map(([v, s]) => [v, [...s].sort()]));
      return { calls, now, store, alerter, run, submit, stages };
    }

    it("what submit parses is the value the store keeps: by lines or JSON, read back unchanged, its parts verified", async () => {
      const key = await running.makeKey();
      const value = submitted(key);
      expect(value).toEqual({ vendor: module.id, ...key });
      expect(module.parseSubmission(Buffer.from(JSON.stringify(key)))).toEqual(value);
      const raw = serializeStoredValue({ ...value, createdAt: "2026-03-12T09:00:00.000Z" });
      const read = module.value.parse(raw, "contract");
      expect(read).toEqual({ ...value, createdAt: "2026-03-12T09:00:00.000Z" });
      expect(JSON.parse(module.value.secretOf(read).reveal())).toEqual(key);
      expect(sameKey(module.value, read, value)).toBe(true);
      expect(await verifier.verify(module.value.secretOf(read))).toMatchObject({ valid: true });
    });

    it("a key made in the dashboard verifies; once revoked there, or forged, the vendor refuses it as a verdict", async () => {
      const key = await running.makeKey();
      expect(running.isActive(key)).toBe(true);
      expect(await verifier.verify(secretOf(key))).toMatchObject({ valid: true });
      expect(await verifier.verify(secretOf(forged(key)))).toMatchObject({ valid: false, status: refused() });
      await running.revokeKey(key);
      expect(running.isActive(key)).toBe(false);
      expect(await verifier.verify(secretOf(key))).toMatchObject({ valid: false, status: refused() });
      expect(requests).toEqual([
        ["verify", 200],
        ["verify", refused()],
        ["verify", refused()],
      ]);
    });

    it("a submitted key verifies and is promoted; the rotation waits for the old key's revocation in the dashboard, then finishes", async () => {
      const old = await running.makeKey();
      const w = world(old);
      const asked = await w.run(fresh());
      expect(asked).toMatchObject({ kind: "wait", state: { step: Step.AwaitPair } });
      expect(w.alerter.raised.map((a) => a.kind)).toEqual(["pair-needed"]);

      const next = await running.makeKey();
      expect(await w.submit(next, "v-new")).toBe("staged");
      const promoted = await w.run(asked.state);
      expect(promoted).toMatchObject({
        kind: "wait",
        state: { step: Step.AwaitRevoke, pendingVersionId: "v-new", oldVersionId: "v-old" },
      });
      expect(w.stages()).toEqual({ "v-old": ["AWSPREVIOUS"], "v-new": ["AWSCURRENT", "AWSPENDING"] });
      expect(w.alerter.raised.map((a) => a.kind)).toEqual(["pair-needed", "revoke-old-pair"]);
      expect(w.alerter.resolved).toEqual([`${CREDENTIAL.id}/pair-needed`]);

      w.now.t += 120_000;
      const stillWaiting = await w.run(promoted.state);
      expect(stillWaiting).toMatchObject({ kind: "wait", state: { step: Step.AwaitRevoke } });
      expect(running.isActive(old)).toBe(true);

      await running.revokeKey(old);
      const done = await w.run(stillWaiting.state);
      expect(done).toMatchObject({ kind: "finished", state: { step: Step.Done, outcome: "completed" } });
      expect(w.stages()).toEqual({ "v-old": ["AWSPREVIOUS"], "v-new": ["AWSCURRENT"] });
      const current = module.value.parse((await w.store.read(SECRET, { stage: STAGE_CURRENT })).value, "contract");
      expect(current).toMatchObject({ vendor: module.id, ...next });
      expect(await verifier.verify(module.value.secretOf(current))).toMatchObject({ valid: true });
      expect(w.alerter.resolved).toContain(`${CREDENTIAL.id}/revoke-old-pair`);
    });

    it("a key the vendor refuses is not stored: submit refuses it, and one revoked after it was staged is unstaged, never promoted", async () => {
      const old = await running.makeKey();
      const w = world(old);
      const deleted = await running.makeKey();
      await running.revokeKey(deleted);
      expect(await w.submit(deleted, "v-deleted")).toMatchObject({ valid: false, status: refused() });
      expect(await w.submit(forged(await running.makeKey()), "v-forged")).toMatchObject({
        valid: false,
        status: refused(),
      });
      expect(w.stages()).toEqual({ "v-old": ["AWSCURRENT"] });

      const late = await running.makeKey();
      expect(await w.submit(late, "v-late")).toBe("staged");
      await running.revokeKey(late);
      const result = await w.run(fresh());
      expect(result).toMatchObject({ kind: "wait", state: { step: Step.AwaitPair } });
      expect(result.state.pendingVersionId).toBeUndefined();
      expect(w.stages()).toEqual({ "v-old": ["AWSCURRENT"], "v-late": [] });
      expect(w.calls).not.toContain("store.promote");
      expect(w.alerter.raised.find((a) => a.kind === "pair-refused")?.summary).toContain(
        `${module.name} refused the submitted ${module.guide.noun} (${refused()}: `,
      );
      expect(running.isActive(old)).toBe(true);
    });

    it("the key already in use, handed in again, is the same key: submit refuses it and a staged copy is unstaged", async () => {
      const old = await running.makeKey();
      const other = await running.makeKey();
      expect(sameKey(module.value, submitted(old), submitted(other))).toBe(false);
      const w = world(old);
      expect(await w.submit(old, "v-again")).toBe("in use");
      await w.store.putPending(SECRET, "v-copy", serializeStoredValue({ ...submitted(old), createdAt: "2026-03-12" }));
      const result = await w.run(fresh());
      expect(result).toMatchObject({ kind: "wait", state: { step: Step.AwaitPair } });
      expect(w.alerter.raised.map((a) => a.kind)).toContain("pair-already-current");
      expect(w.stages()).toEqual({ "v-old": ["AWSCURRENT"], "v-copy": [] });
      expect(w.calls).not.toContain("store.promote");
    });

    it("nothing of a key shows in alerts, verdicts, submit's errors, stored-value errors or vendor errors", async () => {
      const old = await running.makeKey();
      const next = await running.makeKey();
      const bad = await running.makeKey();
      const w = world(old);
      await w.run(fresh());
      await running.revokeKey(bad);
      const verdict = await w.submit(bad, "v-bad");
      await w.store.putPending(SECRET, "v-bad", serializeStoredValue(submitted(bad)));
      await w.run(fresh());
      expect(await w.submit(next, "v-new")).toBe("staged");
      const promoted = await w.run(fresh());
      w.now.t += 4_000_000;
      await w.run(promoted.state);
      expect(w.alerter.raised.map((a) => a.kind)).toEqual(
        expect.arrayContaining(["pair-needed", "pair-refused", "revoke-old-pair"]),
      );
      expect(leaks(JSON.stringify([w.alerter.raised, verdict]), [old, next, bad])).toEqual([]);

      const names = Object.keys(next);
      const last = names.at(-1) ?? "";
      const mistakes = [
        Buffer.from(`${Object.values(next).join("\n")} \n`),
        Buffer.from(`${Object.values(next).join("\n")}\n${Object.values(next).join("\n")}\n`),
        Buffer.from(`${Object.values(next).join("\n")}\u0000\n`),
        Buffer.from(JSON.stringify({ ...next, [`${last}Copy`]: next[last] })),
        Buffer.from(JSON.stringify({ ...next, [last]: `${next[last] ?? ""}!` })),
      ];
      for (const input of mistakes) {
        const err = catchError(() => module.parseSubmission(input));
        expect(err).toBeInstanceOf(ConfigError);
        expect(leaks(`${err?.message} ${err?.stack}`, [next])).toEqual([]);
      }
      const wrong = serializeStoredValue({ vendor: module.id, ...next, [last]: `${next[last] ?? ""} ` });
      const shape = catchError(() => module.value.parse(wrong, "contract"));
      expect(shape).toBeInstanceOf(InvalidStateError);
      expect(leaks(`${shape?.message} ${shape?.stack}`, [next])).toEqual([]);

      for (const rule of [{ kind: "error", status: 500 }, { kind: "malformed" }] as const) {
        running.faults.add({ ...rule, count: 1 });
        const err = await verifier.verify(secretOf(next)).catch((e: unknown) => e as Error);
        expect(err).toBeInstanceOf(VendorError);
        expect((err as VendorError).retryable).toBe(true);
        expect(leaks(`${(err as Error).message} ${(err as Error).stack}`, [next])).toEqual([]);
      }
      expect(String(secretOf(next))).toBe("[redacted]");
    });
  },
);

function catchError(f: () => unknown): Error | undefined {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  return undefined;
}
