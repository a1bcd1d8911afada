/**
 * The inventory: one zod schema for the YAML file operators write (DESIGN.md "Contracts").
 * Parsed once at start; every problem is reported at once with its path. Durations are parsed
 * into milliseconds here so nothing downstream parses text. See examples/inventory.yaml.
 */
import { z } from "zod";
import { cronProblem, isTimeZone } from "../schedule/cadence.js";
import { parseDuration } from "../schedule/duration.js";

const duration = (example = "90d") =>
  z.string({ error: `expected a duration like ${example}` }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `expected a duration like ${example}` });
      return z.NEVER;
    }
    return ms;
  });

const timezone = z.string().refine(isTimeZone, { message: "unknown time zone (use an IANA name like Europe/Berlin)" });
const cron = z.string().superRefine((text, ctx) => {
  const problem = cronProblem(text);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const secretRef = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name") }),
    z.strictObject({ file: z.string().min(1) }),
  ],
  {
    error: "expected { env: NAME } or { file: /path }",
  },
);
const httpUrl = z
  .string()
  .refine((u) => /^https?:\/\/[^\s/]+/.test(u) && URL.canParse(u), { message: "expected an http(s) URL" });

const alertRoute = z.discriminatedUnion(
  "type",
  [
    z.strictObject({ type: z.literal("slack"), webhookUrl: secretRef }),
    z.strictObject({
      type: z.literal("pagerduty"),
      routingKey: secretRef,
      url: httpUrl.default("https://events.pagerduty.com/v2/enqueue"),
    }),
    z.strictObject({ type: z.literal("webhook"), url: httpUrl, hmacSecret: secretRef.optional() }),
  ],
  { error: "expected type slack, pagerduty or webhook" },
);

const window = z.strictObject({ cron, duration: duration("4h"), timezone: timezone.default("UTC") });

const rotation = z
  .strictObject({
    every: duration("90d").optional(),
    cron: cron.optional(),
    timezone: timezone.optional(),
    grace: duration("15m").default(900_000),
    maxGraceExtension: duration("2h").default(7_200_000),
    window: window.optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.every === undefined) === (r.cron === undefined))
      ctx.addIssue({ code: "custom", message: "give exactly one of every or cron", path: [] });
    if (r.cron !== undefined && r.timezone === undefined)
      ctx.addIssue({ code: "custom", message: "a cron needs a timezone", path: ["timezone"] });
    if (r.every !== undefined && r.grace >= r.every)
      ctx.addIssue({ code: "custom", message: "grace must be shorter than every", path: ["grace"] });
  });

const routeNames = z.array(z.string().min(1));
const alerts = z.strictObject({ warning: routeNames.default([]), critical: routeNames.default([]) });

const credentialBase = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "expected lowercase letters, digits and dashes (at most 63)"),
  secretId: z.string().min(1).max(2048),
  baseUrl: httpUrl,
  rotation,
  alerts: alerts.default({ warning: [], critical: [] }),
};

const callcovCredential = z.strictObject({
  ...credentialBase,
  vendor: z.literal("callcov"),
  mode: z.enum(["live", "test"]).default("live"),
  plan: z.enum(["free", "starter", "business", "enterprise"]).default("starter"),
  managementSecretId: z
    .string({ error: "a CallCov credential needs managementSecretId (the secret holding its management login)" })
    .min(1),
  usage: z
    .strictObject({
      factor: z.number().positive().default(3),
      quotaWarnRatio: z.number().gt(0).lte(1).default(0.8),
      perDay: z.number().int().positive().optional(),
    })
    .optional(),
});

const justcallCredential = z.strictObject({
  ...credentialBase,
  vendor: z.literal("justcall"),
  operator: z
    .strictObject({
      singlePair: z.boolean().default(false),
      remindEvery: duration("4h").default(14_400_000),
      deadline: duration("48h").default(172_800_000),
      escalateTo: routeNames.default([]),
    })
    .default({ singlePair: false, remindEvery: 14_400_000, deadline: 172_800_000, escalateTo: [] }),
});

const credential = z.discriminatedUnion("vendor", [callcovCredential, justcallCredential], {
  error: "expected vendor callcov or justcall",
});

const settings = z.strictObject({
  queuePrefix: z.string().min(1).default("{key-rotator}"),
  dueCheckEvery: duration("1h").default(3_600_000),
  healthCheckEvery: duration("15m").default(900_000),
  orphanSweepEvery: duration("6h").default(21_600_000),
  orphanMinAge: duration("10m").default(600_000),
  lockDuration: duration("30s").default(30_000),
  concurrency: z.number().int().min(1).max(256).default(4),
  /** Secrets Manager writes per second this fleet may use (AWS: 50 per region, shared). */
  storeWriteQuota: z.number().positive().max(100_000).default(50),
  httpPort: z.number().int().min(0).max(65_535).default(8080),
  /**
   * Bounds on emergencies (DESIGN.md rule 10). `cooldown`: after an emergency starts a rotation of
   * a credential, another one for it waits this long unless forced (AWS asks for at most one
   * PutSecretValue per secret per 10 minutes). `maxPerMinute`: emergencies started in any minute,
   * across every credential and replica.
   */
  emergency: z
    .strictObject({
      cooldown: duration("10m").default(600_000),
      maxPerMinute: z.number().int().min(1).max(100_000).default(60),
    })
    .default({ cooldown: 600_000, maxPerMinute: 60 }),
  /**
   * How long before a key is due the health check warns, per vendor. JustCall pairs are made by a
   * person, so a week's notice; CallCov keys rotate by themselves, so 0: no warning ahead.
   */
  ageWarnBefore: z
    .strictObject({ justcall: duration("7d").default(604_800_000), callcov: duration("0s").default(0) })
    .default({ justcall: 604_800_000, callcov: 0 }),
});

export const inventorySchema = z.strictObject({
  settings: settings.default(settings.parse({})),
  alertRoutes: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "route names are lowercase letters, digits and dashes"),
      alertRoute,
    )
    .default({}),
  credentials: z.array(credential).min(1, "list at least one credential"),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type CredentialConfig = Inventory["credentials"][number];
export type AlertRouteConfig = Inventory["alertRoutes"][string];
export type SecretRef = z.infer<typeof secretRef>;
