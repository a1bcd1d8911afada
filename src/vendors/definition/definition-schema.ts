/**
 * The vendor definition: one YAML file that describes a vendor's key API (or its dashboard-only
 * flow) well enough for the engine to rotate its keys. docs/vendors.md is the annotated reference;
 * this schema is the one place its rules live. Everything here is data: the interpreter
 * (definition-vendor.ts) is the only code that talks to a vendor.
 *
 * Rules that keep a definition from being turned against its user are checked here and in
 * template.ts: paths are relative to the credential's base URL, a secret goes only into a header
 * or the body, and a call's templates name only what that call has.
 */
import { z } from "zod";
import { parseDuration } from "../../schedule/duration.js";

const id = z.string().regex(/^[a-z][a-z0-9]{1,31}$/, "expected lowercase letters and digits, starting with a letter");
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: "expected a duration like 5m, 1h or 7d" });
    return z.NEVER;
  }
  return ms;
});
/** A JSON pointer (RFC 6901) into an answer: "" for the whole body, else "/a/0/b". */
const pointer = z.string().regex(/^(\/([^~/]|~[01])*)*$/, "expected a JSON pointer like /data/id");
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "expected a header name (letters, digits, -)");
const template = z.string().max(2_000);
const statuses = z.array(z.number().int().min(100).max(599)).min(1);
const regex = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch {
    ctx.addIssue({ code: "custom", message: "not a valid regular expression" });
  }
});

/** A JSON body: strings are templates, everything else is sent as written. */
const jsonBody: z.ZodType<unknown> = z.lazy(() =>
  z.union([template, z.number(), z.boolean(), z.null(), z.array(jsonBody), z.record(z.string(), jsonBody)]),
);

/** One HTTP call: `path` is relative to the credential's base URL; values are templates. */
const call = z.strictObject({
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
  path: template.regex(/^\/(?!\/)/, "a path starts with one / (it is relative to the credential's base URL)"),
  query: z.record(z.string().min(1), template).default({}),
  headers: z.record(headerName, template).default({}),
  /** A JSON body, or a form (application/x-www-form-urlencoded); not both. */
  body: jsonBody.optional(),
  form: z.record(z.string().min(1), template).optional(),
  /** HTTP Basic credentials (sent as `Authorization: Basic …`): a key that is an id plus a secret. */
  basic: z.strictObject({ username: template, password: template }).optional(),
  /** Answers that mean each outcome; any other 5xx or 408 is retried, any other status is an error. */
  status: z
    .strictObject({
      ok: statuses.default([200]),
      refused: statuses.default([401]),
      forbidden: statuses.default([403]),
      gone: statuses.default([404]),
    })
    .prefault({}),
});

const createCall = call.extend({
  answer: z.strictObject({ key: pointer, id: pointer, name: pointer.optional(), createdAt: pointer.optional() }),
});
const verifyCall = call.extend({
  /** When present, a 200 is only a yes if the answer holds this value here (JustCall: /status = success). */
  expect: z.strictObject({ pointer, equals: z.union([z.string(), z.number(), z.boolean()]) }).optional(),
  /** What a refusal and a forbidden answer mean, in the vendor's words, for alerts and `submit`. */
  reasons: z
    .strictObject({
      refused: z.string().min(1).default("the vendor does not accept the key"),
      forbidden: z.string().min(1).default("the key lacks permission for this resource"),
    })
    .prefault({}),
});
const listCall = call.extend({
  answer: z.strictObject({
    items: pointer,
    id: pointer,
    name: pointer.optional(),
    createdAt: pointer.optional(),
  }),
  /** How the list pages; absent: one answer holds every key. */
  pages: z
    .union([
      z.strictObject({ cursor: z.strictObject({ answer: pointer, query: z.string().min(1) }) }),
      z.strictObject({ nextPath: pointer }),
      z.strictObject({
        number: z.strictObject({ query: z.string().min(1), first: z.number().int().min(0).default(0) }),
      }),
    ])
    .optional(),
});

/** How key management authenticates; `secret.*` names keys of the management secret's JSON. */
const auth = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("none") }),
  z.strictObject({ kind: z.literal("headers"), headers: z.record(headerName, template) }),
  z.strictObject({ kind: z.literal("basic"), username: template, password: template }),
  z.strictObject({
    kind: z.literal("login"),
    login: call.extend({
      answer: z.strictObject({ token: pointer, refreshToken: pointer.optional(), expiresIn: pointer }),
    }),
    refresh: call
      .extend({ answer: z.strictObject({ token: pointer, refreshToken: pointer.optional(), expiresIn: pointer }) })
      .optional(),
    refreshTokenLifetime: duration.optional(),
    /** Renew the session this long before its token expires. */
    renewAhead: duration.default(300_000),
    /** How a call carries the session: `session.token`. */
    headers: z.record(headerName, template),
  }),
]);

/** A field of the credential in the inventory, besides the common ones. */
const field = z.strictObject({
  enum: z.array(z.string().min(1)).min(1).optional(),
  pattern: regex.optional(),
  default: z.string().optional(),
  description: z.string().optional(),
});

/** A part of a key a person hands in (operator flow). */
const part = z.strictObject({
  pattern: regex,
  hint: z.string().min(1),
  /** Lengths `submit` reports on by name before the pattern's hint. */
  minLength: z.number().int().min(1).max(4_096).optional(),
  maxLength: z.number().int().min(1).max(4_096).optional(),
  /** Other names `submit` accepts for this part in JSON input (the vendor's own: api_key). */
  aliases: z.array(z.string().min(1)).default([]),
});

const common = {
  id,
  name: z.string().min(1).max(60),
  /** The vendor's documents this definition follows (URLs), shown by `key-rotator vendors`. */
  docs: z.array(z.string().url()).default([]),
  fields: z.record(z.string().regex(/^[a-z][A-Za-z0-9]*$/, "expected a camelCase field name"), field).default({}),
  /** How long before a key is due the health check warns (0: never). */
  ageWarnBefore: z.union([z.literal(0), duration]).default(0),
  /** Rate-limit headers: usage on verify, and how long a 429 waits. */
  rateLimit: z
    .strictObject({
      limit: headerName.optional(),
      remaining: headerName.optional(),
      reset: z.strictObject({ header: headerName, unit: z.enum(["epoch-seconds", "seconds"]) }).optional(),
      /**
       * The headers count one key's own use (CallCov): then verify reports usage and the usage gate
       * holds a revocation while the old key is still used. False when the window is the account's
       * or an endpoint's (SendGrid), which would show the rotator's own calls as use of the old key.
       */
      perKey: z.boolean().default(false),
      retryAfter: headerName.default("retry-after"),
      /** A 429 whose reset is at most this far away is waited out (up to three times); else the job retries later. */
      maxWait: duration.default(70_000),
      /** When a 429 carries no reset and no Retry-After, try again after this. */
      fallbackWait: duration.default(60_000),
    })
    .prefault({}),
};

const keyApi = z.strictObject({
  ...common,
  flow: z.literal("key-api"),
  /** The inventory field that names the management secret (its value is JSON with `secret.*` keys). */
  management: z.strictObject({
    secretField: z.string().min(1).optional(),
    secretKeys: z.array(z.string().min(1)).default([]),
    auth,
  }),
  key: z.strictObject({
    pattern: regex,
    hint: z.string().min(1),
    /** A made key must start with this (a template of fields: sk_{{fields.mode}}_), else it is revoked. */
    prefix: template.optional(),
  }),
  /** What makes two credentials share an account (one session, one orphan sweep), besides the base URL. */
  account: template.default(""),
  usage: z
    .strictObject({
      perDay: z.union([
        z.number().int().positive(),
        z.strictObject({ field: z.string(), values: z.record(z.string(), z.number().int().positive()) }),
      ]),
    })
    .optional(),
  calls: z.strictObject({ create: createCall, list: listCall, revoke: call, verify: verifyCall }),
});

const operator = z.strictObject({
  ...common,
  flow: z.literal("operator"),
  key: z.strictObject({
    parts: z.record(z.string().regex(/^[a-z][A-Za-z0-9]*$/, "expected a camelCase part name"), part),
    /**
     * The part that names the key at the vendor without being a secret (JustCall's api_key). Leave
     * it out for a key that is one secret with no public part: two keys are then the same key when
     * every part is, compared by a digest (`identityOf`), so no secret stands in for a name.
     */
    identity: z.string().min(1).optional(),
    /**
     * How the vendor's dashboard shows a key, for the request to revoke the old one: a label and
     * the first and last characters of the identity ("API key abcd…wxyz"). Shown only when at
     * least eight characters stay hidden.
     */
    display: z
      .strictObject({
        label: z.string().min(1).max(40),
        first: z.number().int().min(0).max(6),
        last: z.number().int().min(0).max(6),
      })
      .optional(),
    /** `submit` also takes the parts on one line joined by this. */
    joinedBy: z.string().min(1).max(3).optional(),
    maxInputBytes: z.number().int().min(64).max(65_536).default(2_048),
  }),
  calls: z.strictObject({ verify: verifyCall }),
  guide: z.strictObject({
    noun: z.string().min(1),
    dashboard: z.string().min(1),
    submitHint: z.string().min(1),
    prompt: z.string().min(1),
  }),
});

export const definitionSchema = z.discriminatedUnion("flow", [keyApi, operator], {
  error: 'expected flow "key-api" or "operator"',
});

export type VendorDefinition = z.output<typeof definitionSchema>;
export type KeyApiDefinition = z.output<typeof keyApi>;
export type OperatorDefinition = z.output<typeof operator>;
export type CallDefinition = z.output<typeof call>;
export type VerifyCallDefinition = z.output<typeof verifyCall>;
export type ListCallDefinition = z.output<typeof listCall>;
export type AuthDefinition = z.output<typeof auth>;
