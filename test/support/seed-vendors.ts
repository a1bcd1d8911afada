/**
 * The seed vendors' adapters as the product builds them from their definitions (vendors/*.yaml),
 * with the knobs tests turn (clock, sleep, timeouts). `verify` here takes the key as a test holds
 * it (a CallCov key; a JustCall `key:secret` pair) and hands the adapter the key's parts, as the
 * engine does through the stored value's `secretOf`.
 */
import type { CreatedKey, KeyApiVendor, ListedKey, Clock, Verdict } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { DefinitionHttp, type DefinitionHttpOptions } from "../../src/vendors/definition/definition-http.js";
import { parseDefinition } from "../../src/vendors/definition/load-definition.js";
import {
  DefinitionKeyApi,
  DefinitionVerifier,
  keyPartsSecret,
} from "../../src/vendors/definition/definition-vendor.js";
import type { KeyApiDefinition, OperatorDefinition } from "../../src/vendors/definition/definition-schema.js";
import { vendorModule } from "../../src/vendors/registry.js";
import type { OperatorModule } from "../../src/vendors/vendor-module.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const definition = <D>(id: string) =>
  parseDefinition(readFileSync(fileURLToPath(new URL(`../../vendors/${id}.yaml`, import.meta.url)), "utf8"), id) as D;
export const CALLCOV_DEFINITION = definition<KeyApiDefinition>("callcov");
export const JUSTCALL_DEFINITION = definition<OperatorDefinition>("justcall");

interface Knobs {
  baseUrl: string;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  timeoutMs?: number;
  maxRateLimitWaitMs?: number;
  onRequest?: (operation: string, status: number | "error") => void;
}

export interface CallCovAdapterOptions extends Knobs {
  mode?: "live" | "test";
  loadLogin: () => Promise<{ email: string; password: SecretValue }>;
}

/** CallCov's adapter from its definition; `verify` takes a bare key. */
export class CallCovVendor implements KeyApiVendor {
  readonly #api: DefinitionKeyApi;
  constructor(o: CallCovAdapterOptions) {
    const fields = { mode: o.mode ?? "live", plan: "starter", managementSecretId: "login" };
    const http = new DefinitionHttp({
      ...knobs(o),
      definition: CALLCOV_DEFINITION,
      fields,
      loadManagementSecret: async () => {
        const login = await o.loadLogin();
        return { email: new SecretValue(login.email), password: login.password };
      },
    });
    this.#api = new DefinitionKeyApi(http, CALLCOV_DEFINITION, fields);
  }
  createKey(name: string): Promise<CreatedKey> {
    return this.#api.createKey(name);
  }
  revokeKey(keyId: string): Promise<"revoked" | "already-gone"> {
    return this.#api.revokeKey(keyId);
  }
  listKeys(options?: { limit?: number }): Promise<ListedKey[]> {
    return this.#api.listKeys(options);
  }
  verify(key: SecretValue): Promise<Verdict> {
    return this.#api.verify(keyPartsSecret({ id: "", secret: key.reveal() }));
  }
}

/** JustCall's verifier from its definition; `verify` takes `key:secret`. */
export class JustCallVerifier {
  readonly #v: DefinitionVerifier;
  constructor(o: Knobs) {
    this.#v = new DefinitionVerifier(
      new DefinitionHttp({ ...knobs(o), definition: JUSTCALL_DEFINITION, fields: {} }),
      JUSTCALL_DEFINITION,
    );
  }
  /** `pair` is `key:secret`, or already the key's parts (a stored value's `secretOf`). */
  verify(pair: SecretValue): Promise<Verdict> {
    const text = pair.reveal();
    if (text.startsWith("{")) return this.#v.verify(pair);
    const at = text.indexOf(":");
    const parts =
      at < 0 ? { apiKey: text, apiSecret: "" } : { apiKey: text.slice(0, at), apiSecret: text.slice(at + 1) };
    return this.#v.verify(keyPartsSecret(parts));
  }
}

/** What `submit` makes of a JustCall pair on standard input (the definition's parts). */
export function parseJustCallPairInput(input: Buffer | string): { apiKey: string; apiSecret: SecretValue } {
  const module = vendorModule("justcall") as OperatorModule;
  const value = module.parseSubmission(typeof input === "string" ? Buffer.from(input, "utf8") : input) as {
    apiKey: string;
    apiSecret: string;
  };
  return { apiKey: value.apiKey, apiSecret: new SecretValue(value.apiSecret) };
}

export const JUSTCALL_REFUSED_REASON = "refused: invalid API key or secret";
export const JUSTCALL_FORBIDDEN_REASON = "forbidden: the plan or the user has no API access";

function knobs(o: Knobs): Omit<DefinitionHttpOptions, "definition" | "fields"> {
  return {
    baseUrl: o.baseUrl,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.sleep ? { sleep: o.sleep } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.maxRateLimitWaitMs !== undefined ? { maxRateLimitWaitMs: o.maxRateLimitWaitMs } : {}),
    ...(o.onRequest ? { onRequest: o.onRequest } : {}),
  };
}
