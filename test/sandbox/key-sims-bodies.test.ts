/** The Twilio, SendGrid and Datadog simulators read at most 1 MiB of a body and answer 413 in their own shape. */
import { afterEach, describe, expect, it } from "vitest";
import { startDatadogSimulator } from "../../src/sandbox/datadog-sim.js";
import { MAX_BODY_BYTES } from "../../src/sandbox/local-server.js";
import { startSendGridSimulator } from "../../src/sandbox/sendgrid-sim.js";
import { startTwilioSimulator } from "../../src/sandbox/twilio-sim.js";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

describe("request bodies over 1 MiB", () => {
  it.each([
    ["twilio", startTwilioSimulator, "/2010-04-01/Accounts/AC1/Keys.json", { status: 413 }],
    [
      "sendgrid",
      startSendGridSimulator,
      "/v3/api_keys",
      { errors: [{ field: null, message: "request body too large" }] },
    ],
    ["datadog", startDatadogSimulator, "/api/v2/api_keys", { errors: ["Request body too large"] }],
  ] as const)("%s answers 413 in its error format and keeps serving", async (_name, start, path, body) => {
    const sim = await start();
    closers.push(() => sim.close());
    const res = await fetch(`${sim.url}${path}`, { method: "POST", body: "x".repeat(MAX_BODY_BYTES + 1) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject(body);
    expect(sim.keyHistory().length).toBeLessThanOrEqual(1);
    expect((await fetch(`${sim.url}/__sim/keys`)).status).toBe(200);
  });
});
