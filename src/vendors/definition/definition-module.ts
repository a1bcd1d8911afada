/**
 * A vendor module made from a vendor definition: the inventory fields it declares, the value it
 * keeps in the store, its adapters (definition-vendor.ts), its usage defaults, and for an operator
 * vendor how `submit` reads a key and the words that guide a person. Pure: the factories are
 * called by the composition root.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { InvalidStateError } from "../../core/errors.js";
import type { SecretStore } from "../../core/ports.js";
import { SecretValue } from "../../core/secret.js";
import { keyApiValueShape, storedFields, valueShape } from "../../core/stored-value.js";
import { type KeyApiModule, type OperatorModule, type VendorCredential, type VendorModule } from "../vendor-module.js";
import { DefinitionHttp } from "./definition-http.js";
import type { KeyApiDefinition, OperatorDefinition, VendorDefinition } from "./definition-schema.js";
import { DefinitionKeyApi, DefinitionVerifier, keyPartsSecret } from "./definition-vendor.js";
import { parseSubmission } from "./submission.js";
import { render } from "./template.js";

type Fields = Record<string, string>;

export function definitionModule(d: VendorDefinition, source: string): VendorModule {
  return d.flow === "key-api" ? keyApi(d, source) : operator(d, source);
}

function fieldShape(d: VendorDefinition): z.ZodRawShape {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, f] of Object.entries(d.fields)) {
    const need = `a ${d.name} credential needs ${name}${f.description ? ` (${f.description})` : ""}`;
    let s: z.ZodType<string> = f.enum
      ? z.enum(f.enum as [string, ...string[]], { error: `expected ${f.enum.join(" or ")}` })
      : z.string({ error: need }).min(1, need);
    if (f.pattern !== undefined)
      s = (s as z.ZodString).regex(new RegExp(f.pattern), `expected ${name} matching ${f.pattern}`);
    shape[name] = f.default !== undefined ? s.default(f.default) : s;
  }
  if (d.flow === "key-api" && d.management.secretField && !shape[d.management.secretField]) {
    const need = `a ${d.name} credential needs ${d.management.secretField} (the secret holding its management credential)`;
    shape[d.management.secretField] = z.string({ error: need }).min(1, need);
  }
  return shape;
}

function keyApi(d: KeyApiDefinition, source: string): KeyApiModule {
  const value = keyApiValueShape(d.id, { pattern: new RegExp(d.key.pattern), hint: d.key.hint });
  const secretField = d.management.secretField;
  const usageReported =
    d.rateLimit.perKey &&
    d.rateLimit.limit !== undefined &&
    d.rateLimit.remaining !== undefined &&
    d.rateLimit.reset !== undefined;
  return {
    id: d.id,
    name: d.name,
    flow: "key-api",
    managementSecretField: secretField,
    source,
    docs: d.docs,
    fields: fieldShape(d),
    value: { ...value, secretOf: (v) => keyPartsSecret({ id: v.keyId, secret: v.apiKey }) },
    ageWarnBeforeMs: d.ageWarnBefore,
    secretsRead: (c: VendorCredential<Fields>) => (secretField ? [c.fields[secretField] ?? ""] : []),
    ...(usageReported
      ? {
          usageDefaults: (c: VendorCredential<Fields>) => {
            const perDay = d.usage?.perDay;
            if (perDay === undefined) return {};
            if (typeof perDay === "number") return { perDay };
            const byField = perDay.values[c.fields[perDay.field] ?? ""];
            return byField !== undefined ? { perDay: byField } : {};
          },
        }
      : {}),
    accountOf: (c: VendorCredential<Fields>) => `${c.baseUrl}|${render(d.account, fieldValues(c.fields))}`,
    keyApi: (c: VendorCredential<Fields>, ctx) =>
      new DefinitionKeyApi(
        new DefinitionHttp({
          definition: d,
          baseUrl: c.baseUrl,
          fields: c.fields,
          ...(secretField
            ? { loadManagementSecret: () => loadManagementSecret(ctx.store, c.fields[secretField] ?? "", d) }
            : {}),
          onRequest: ctx.onRequest,
        }),
        d,
        c.fields,
      ),
  };
}

function operator(d: OperatorDefinition, source: string): OperatorModule {
  const parts = Object.fromEntries(
    Object.entries(d.key.parts).map(([name, p]) => [name, z.string().regex(new RegExp(p.pattern), p.hint)]),
  );
  const schema = z.looseObject({ vendor: z.literal(d.id), ...parts, ...storedFields });
  type Value = z.output<typeof schema>;
  const partsOf = (v: Value) => Object.fromEntries(Object.keys(d.key.parts).map((p) => [p, String(v[p])]));
  return {
    id: d.id,
    name: d.name,
    flow: "operator",
    source,
    docs: d.docs,
    fields: fieldShape(d),
    value: {
      ...valueShape<Value>(schema, (v) => keyPartsSecret(partsOf(v)), identityOf(d, partsOf)),
      describe: (v: Value) => displayOf(d, partsOf(v)),
    },
    ageWarnBeforeMs: d.ageWarnBefore,
    secretsRead: () => [],
    verifier: (c: VendorCredential<Fields>, ctx) =>
      new DefinitionVerifier(
        new DefinitionHttp({ definition: d, baseUrl: c.baseUrl, fields: c.fields, onRequest: ctx.onRequest }),
        d,
      ),
    parseSubmission: (input) => ({ vendor: d.id, ...parseSubmission(d, input) }),
    maxSubmissionBytes: d.key.maxInputBytes,
    guide: d.guide,
  };
}

/**
 * What names an operator key: its identity part (never a secret), or, for a key that is one secret
 * with no public part, a SHA-256 digest of its parts, so equal keys match and none is held in view.
 */
function identityOf<V>(d: OperatorDefinition, partsOf: (v: V) => Record<string, string>): (v: V) => string {
  const identity = d.key.identity;
  if (identity !== undefined) return (v) => String(partsOf(v)[identity]);
  return (v) =>
    `sha256:${createHash("sha256")
      .update(JSON.stringify(partsOf(v)))
      .digest("hex")}`;
}

/** The dashboard's view of a key's identity part, or undefined when fewer than eight characters would stay hidden. */
function displayOf(d: OperatorDefinition, parts: Record<string, string>): string | undefined {
  const show = d.key.display;
  const identity = d.key.identity === undefined ? undefined : parts[d.key.identity];
  if (!show || identity === undefined || identity.length < show.first + show.last + 8) return undefined;
  return `${show.label} ${identity.slice(0, show.first)}…${show.last > 0 ? identity.slice(-show.last) : ""}`;
}

function fieldValues(fields: Fields): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [`fields.${k}`, v]));
}

/**
 * Reads a management secret (JSON with the definition's `secretKeys`) at the moment of use. A bad
 * shape is reported by key, never quoted.
 */
async function loadManagementSecret(
  store: SecretStore,
  secretId: string,
  d: KeyApiDefinition,
): Promise<Record<string, SecretValue>> {
  const version = await store.read(secretId, { stage: "AWSCURRENT" });
  const expected = `{${d.management.secretKeys.map((k) => `"${k}": ...`).join(", ")}}`;
  let json: unknown;
  try {
    json = JSON.parse(version.value.reveal());
  } catch {
    throw new InvalidStateError(`management secret ${secretId}: the value is not JSON (expected ${expected})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw new InvalidStateError(`management secret ${secretId}: expected a JSON object ${expected}`);
  const record = json as Record<string, unknown>;
  const problems = d.management.secretKeys
    .filter((k) => typeof record[k] !== "string" || record[k] === "")
    .map((k) => `${k}: expected a non-empty string`);
  if (problems.length > 0) throw new InvalidStateError(`management secret ${secretId}: ${problems.join("; ")}`);
  return Object.fromEntries(d.management.secretKeys.map((k) => [k, new SecretValue(record[k] as string)]));
}
