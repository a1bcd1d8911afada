/**
 * JustCall as a vendor module: no key API in its documents (seed 000), so the operator-assisted
 * flow: a person makes and revokes `api_key:api_secret` pairs in the dashboard and hands the new
 * pair in with `key-rotator submit`; the worker verifies pairs with `GET /v2/account`. No usage
 * signal. A person must act, so keys warn a week before they are due.
 */
import { operatorModule } from "../vendor-module.js";
import { MAX_PAIR_INPUT_BYTES, parseJustCallPairInput } from "./justcall-pair-input.js";
import { justcallValue } from "./justcall-value.js";
import { JustCallVerifier } from "./justcall-verifier.js";

export const justcall = operatorModule({
  id: "justcall",
  name: "JustCall",
  flow: "operator",
  fields: {},
  value: justcallValue,
  ageWarnBeforeMs: 7 * 86_400_000,
  secretsRead: () => [],
  verifier: (c, ctx) => new JustCallVerifier({ baseUrl: c.baseUrl, onRequest: ctx.onRequest }),
  parseSubmission: (input) => {
    const pair = parseJustCallPairInput(input);
    return { vendor: "justcall" as const, apiKey: pair.apiKey, apiSecret: pair.apiSecret.reveal() };
  },
  maxSubmissionBytes: MAX_PAIR_INPUT_BYTES,
  guide: {
    noun: "pair",
    dashboard: "JustCall (Settings → API & Webhooks)",
    submitHint: "key and secret on standard input",
    prompt: "Paste the API key and the API secret (two lines, or key:secret), then press Ctrl-D:",
  },
});
