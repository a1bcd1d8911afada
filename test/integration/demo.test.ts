/**
 * `npm run demo` as a person runs it (`key-rotator demo --json`, a real process with its own
 * sandbox and worker): exit 0, and every rotation ended as the demo says, read from its summary.
 * Scenario 5 above all (issue 18): one Twilio, one SendGrid and one Datadog key rotated by the
 * worker, each judged at its simulator: the new key accepted, the old one refused, none left over.
 * The sandbox's management secrets never reach the output.
 */
import { describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { SANDBOX_DATADOG } from "../../src/sandbox/datadog-sim.js";
import { SANDBOX_SENDGRID } from "../../src/sandbox/sendgrid-sim.js";
import { SANDBOX_TWILIO } from "../../src/sandbox/twilio-sim.js";

interface Outcome {
  credential: string;
  vendor: string;
  how: string;
  expected: string;
  result: string;
  oldKey: string;
  currentWorks: string;
  ok: boolean;
}

describe("npm run demo", () => {
  it(
    "rotates seven keys as it says, one of each vendor added as a definition among them",
    { timeout: 180_000 },
    async () => {
      const demo = startCli(["demo", "--json"]);
      const code = await demo.exited;
      const output = demo.lines.join("\n");
      const summary = demo.lines.find((l) => l.startsWith('{"ok"'));
      expect(summary, output).toBeDefined();
      const { ok, outcomes } = JSON.parse(summary ?? "{}") as { ok: boolean; outcomes: Outcome[] };

      const byVendor = (vendor: string) => outcomes.filter((o) => o.vendor === vendor);
      for (const [vendor, refused] of [
        ["twilio", 401],
        ["sendgrid", 401],
        ["datadog", 403],
      ] as const) {
        expect(byVendor(vendor), `${vendor}\n${output}`).toEqual([
          expect.objectContaining({
            expected: "completed",
            result: "completed",
            currentWorks: "yes",
            oldKey: `revoked (refused, ${refused})`,
            ok: true,
          }),
        ]);
      }
      expect(byVendor("callcov").map((o) => [o.how, o.result, o.oldKey, o.ok])).toEqual([
        ["scheduled (key age)", "completed", "revoked", true],
        ["emergency (person)", "completed", "revoked", true],
        ["manual, verify refused", "rolled back", "kept (still current)", true],
      ]);
      expect(byVendor("justcall").map((o) => [o.result, o.oldKey, o.ok])).toEqual([["completed", "revoked", true]]);
      expect(outcomes).toHaveLength(7);
      expect(ok).toBe(true);
      expect(code, output).toBe(0);

      for (const secret of [SANDBOX_TWILIO.authToken, SANDBOX_SENDGRID.managementKey, SANDBOX_DATADOG.apiKey])
        expect(output).not.toContain(secret);
      expect(output).not.toContain(SANDBOX_DATADOG.appKey);
    },
  );
});
