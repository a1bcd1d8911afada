/**
 * What a JustCall credential keeps in its secret: the pair, `{ vendor, apiKey, apiSecret }`, plus
 * the fields every value may carry. The limits are the pair input's (justcall-pair-input.ts).
 */
import { z } from "zod";
import { SecretValue } from "../../core/secret.js";
import { storedFields, valueShape } from "../../core/stored-value.js";

const pairValue = z.looseObject({
  vendor: z.literal("justcall"),
  apiKey: z.string().regex(/^[A-Za-z0-9_-]{6,128}$/, "expected a JustCall API key (letters, digits, - or _)"),
  apiSecret: z.string().regex(/^[A-Za-z0-9_-]{6,256}$/, "expected a JustCall API secret (letters, digits, - or _)"),
  ...storedFields,
});

export type JustCallValue = z.output<typeof pairValue>;

/** The pair's value shape: JustCall checks `key:secret`; the api key names the pair. */
export const justcallValue = valueShape(
  pairValue,
  (v) => new SecretValue(`${v.apiKey}:${v.apiSecret}`),
  (v) => v.apiKey,
);
