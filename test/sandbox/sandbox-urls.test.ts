/** `startSandbox` starts every simulator and names each in `urls`, the JSON line `key-rotator sandbox` prints. */
import { afterEach, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../src/sandbox/sandbox.js";
import { ANTHROPIC_VERSION } from "../../src/sandbox/anthropic-sim.js";
import { SANDBOX_DATADOG } from "../../src/sandbox/datadog-sim.js";
import { SANDBOX_SENDGRID } from "../../src/sandbox/sendgrid-sim.js";
import { SANDBOX_TWILIO } from "../../src/sandbox/twilio-sim.js";

let sandbox: Sandbox | undefined;
afterEach(async () => sandbox?.close());

it("urls names the key simulators and the second dashboard-only one beside the emulator, CallCov and JustCall, each answering", async () => {
  sandbox = await startSandbox();
  expect(Object.keys(sandbox.urls)).toEqual([
    "secretsManager",
    "callcov",
    "justcall",
    "twilio",
    "sendgrid",
    "datadog",
    "anthropic",
  ]);
  const basic = Buffer.from(`${SANDBOX_TWILIO.accountSid}:${SANDBOX_TWILIO.authToken}`).toString("base64");
  const twilio = await fetch(`${sandbox.urls.twilio}/2010-04-01/Accounts/${SANDBOX_TWILIO.accountSid}/Keys.json`, {
    headers: { authorization: `Basic ${basic}` },
  });
  expect(twilio.status).toBe(200);
  const sendgrid = await fetch(`${sandbox.urls.sendgrid}/v3/scopes`, {
    headers: { authorization: `Bearer ${SANDBOX_SENDGRID.managementKey}` },
  });
  expect(sendgrid.status).toBe(200);
  const datadog = await fetch(`${sandbox.urls.datadog}/api/v2/api_keys`, {
    headers: { "DD-API-KEY": SANDBOX_DATADOG.apiKey, "DD-APPLICATION-KEY": SANDBOX_DATADOG.appKey },
  });
  expect(datadog.status).toBe(200);
  const claude = sandbox.anthropic.issueKey("sandbox check");
  const anthropic = await fetch(`${sandbox.urls.anthropic}/v1/models`, {
    headers: { "x-api-key": claude.key, "anthropic-version": ANTHROPIC_VERSION },
  });
  expect(anthropic.status).toBe(200);
  expect(sandbox.twilio.url).toBe(sandbox.urls.twilio);
});
