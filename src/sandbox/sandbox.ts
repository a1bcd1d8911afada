/**
 * The local stand-ins for AWS and the vendors, together: the Secrets Manager emulator and the
 * CallCov, JustCall, Twilio, SendGrid, Datadog and Anthropic simulators on loopback (ports portBase+0
 * to +6). `key-rotator sandbox`, the demo, the tests and the benchmark all start them through here.
 */
import { type CallCovSimulator, startCallCovSimulator } from "./callcov-sim.js";
import type { Plan } from "./callcov/callcov-state.js";
import { type AnthropicSimulator, startAnthropicSimulator } from "./anthropic-sim.js";
import { type DatadogSimulator, startDatadogSimulator } from "./datadog-sim.js";
import { type JustCallSimulator, startJustCallSimulator } from "./justcall-sim.js";
import { type SecretsManagerEmulator, startSecretsManagerEmulator } from "./secrets-manager-emulator.js";
import { type SendGridSimulator, startSendGridSimulator } from "./sendgrid-sim.js";
import { startTwilioSimulator, type TwilioSimulator } from "./twilio-sim.js";

export const SANDBOX_LOGIN = { email: "admin@callcov.test", password: "sandbox-password-1" };

export interface Sandbox {
  urls: {
    secretsManager: string;
    callcov: string;
    justcall: string;
    twilio: string;
    sendgrid: string;
    datadog: string;
    anthropic: string;
  };
  emulator: SecretsManagerEmulator;
  callcov: CallCovSimulator;
  justcall: JustCallSimulator;
  /** Account SANDBOX_TWILIO; SANDBOX_SENDGRID and SANDBOX_DATADOG hold the other two's management keys. */
  twilio: TwilioSimulator;
  sendgrid: SendGridSimulator;
  datadog: DatadogSimulator;
  /** The second dashboard-only vendor: keys are made and deleted in its Console (`issueKey`, `revokeKey`). */
  anthropic: AnthropicSimulator;
  close(): Promise<void>;
}

/** Ports the sandbox listens on: the emulator and one per simulator, from `portBase` up. */
export const SANDBOX_PORTS = 7;

export async function startSandbox(
  options: {
    portBase?: number;
    host?: string;
    writeTps?: number;
    plan?: Plan;
    managementPerMinute?: number;
    justcallSinglePair?: boolean;
  } = {},
): Promise<Sandbox> {
  const port = (i: number) => (options.portBase ? options.portBase + i : 0);
  const host = options.host ?? "127.0.0.1";
  const emulator = await startSecretsManagerEmulator({
    port: port(0),
    host,
    ...(options.writeTps ? { writeTps: options.writeTps } : {}),
  });
  const callcov = await startCallCovSimulator({
    port: port(1),
    host,
    accounts: [SANDBOX_LOGIN],
    plan: options.plan ?? "business",
    ...(options.managementPerMinute ? { managementPerMinute: options.managementPerMinute } : {}),
  });
  const justcall = await startJustCallSimulator({
    port: port(2),
    host,
    ...(options.justcallSinglePair ? { singlePair: true } : {}),
  });
  const twilio = await startTwilioSimulator({ port: port(3), host });
  const sendgrid = await startSendGridSimulator({ port: port(4), host });
  const datadog = await startDatadogSimulator({ port: port(5), host });
  const anthropic = await startAnthropicSimulator({ port: port(6), host });
  return {
    urls: {
      secretsManager: emulator.url,
      callcov: callcov.url,
      justcall: justcall.url,
      twilio: twilio.url,
      sendgrid: sendgrid.url,
      datadog: datadog.url,
      anthropic: anthropic.url,
    },
    emulator,
    callcov,
    justcall,
    twilio,
    sendgrid,
    datadog,
    anthropic,
    close: async () => {
      await Promise.all([
        emulator.close(),
        callcov.close(),
        justcall.close(),
        twilio.close(),
        sendgrid.close(),
        datadog.close(),
        anthropic.close(),
      ]);
    },
  };
}
