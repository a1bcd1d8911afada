/**
 * The inventory: one zod schema for the YAML file operators write (DESIGN.md "Contracts").
 * Parsed once at start; every problem is reported at once with its path. Durations are parsed
 * into milliseconds here so nothing downstream parses text. See examples/inventory.yaml.
 */
import { z } from "zod";
import { cronProblem, isTimeZone } from "../schedule/cadence.js";
import { parseDuration } from "../schedule/duration.js";
import { BUILT_IN_REGISTRY, type VendorRegistry } from "../vendors/registry.js";
import type { VendorModule } from "../vendors/vendor-module.js";

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
  /** The secret's region (default: AWS_REGION). */
  region: z
    .string()
    .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, "expected an AWS region such as eu-central-1")
    .optional(),
  /** A role to assume for this secret (another account), with the SDK's own credential provider. */
  roleArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
      "expected an IAM role ARN (arn:aws:iam::123456789012:role/name)",
    )
    .optional(),
  /** The external id the role's trust policy asks for. */
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, "expected 2 to 1224 characters of letters, digits and +=,.@:/-")
    .optional(),
  /** The customer-managed KMS key that encrypts the secret, if not AWS's own: `iam-policy` grants its use. */
  kmsKeyArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
      "expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias)",
    )
    .optional(),
  /** The secret is replicated to other regions: the health check watches its replicas. */
  replicated: z.boolean().default(false),
};

/** The fields of a flow: a person's part in an operator-assisted rotation. */
const flowFields = {
  "key-api": {},
  operator: {
    operator: z
      .strictObject({
        /** The account allows one key at a time: revoke first, then make the new one (downtime measured). */
        singlePair: z.boolean().default(false),
        remindEvery: duration("4h").default(14_400_000),
        deadline: duration("48h").default(172_800_000),
        escalateTo: routeNames.default([]),
      })
      .default({ singlePair: false, remindEvery: 14_400_000, deadline: 172_800_000, escalateTo: [] }),
  },
} as const;

/** For vendors that report usage on verify: when use counts as anomalous. */
const usageFields = {
  usage: z
    .strictObject({
      factor: z.number().positive().default(3),
      quotaWarnRatio: z.number().gt(0).lte(1).default(0.8),
      perDay: z.number().int().positive().optional(),
    })
    .optional(),
};

/**
 * One credential schema per vendor module the inventory uses: the common fields, its flow's, its
 * usage block, its own. Any other vendor is refused with the list of every vendor the registry knows.
 */
function credentialSchema(registry: VendorRegistry, modules: readonly VendorModule[]) {
  const options = modules.map((m) =>
    z.strictObject({
      ...credentialBase,
      vendor: z.literal(m.id),
      ...flowFields[m.flow],
      ...(m.usageDefaults ? usageFields : {}),
      ...m.fields,
    }),
  );
  return z.discriminatedUnion("vendor", options as [(typeof options)[number], ...(typeof options)[number][]], {
    error: `expected vendor ${registry.ids.join(" or ")}`,
  });
}

function settingsSchema(registry: VendorRegistry, modules: readonly VendorModule[]) {
  return z.strictObject({
    queuePrefix: z.string().min(1).default("{key-rotator}"),
    dueCheckEvery: duration("1h").default(3_600_000),
    healthCheckEvery: duration("15m").default(900_000),
    /** How often each key is shown to its vendor (a Free CallCov key has 1,000 requests a day; hourly is 2.4%). */
    verifyEvery: duration("1h").default(3_600_000),
    orphanSweepEvery: duration("6h").default(21_600_000),
    /** Credentials a shard job of a due or health tick covers: a tick over more is shared by the replicas. */
    tickShardSize: z.number().int().min(1).max(1_000_000).default(2_000),
    orphanMinAge: duration("10m").default(600_000),
    lockDuration: duration("30s").default(30_000),
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Secrets Manager writes per second the fleet may use in each region and account (AWS: 50, shared with other writers). */
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
     * How long before a key is due the health check warns, per vendor (default: the vendor module's).
     * Keys a person must make get a week's notice; keys the worker makes itself, none. Any vendor
     * the registry knows may be named; the parsed settings hold the default of each vendor the
     * inventory uses (only their definitions are read) and whatever else was given.
     */
    ageWarnBefore: z
      .strictObject(
        Object.fromEntries(
          registry.ids.map((id) => {
            const used = modules.find((m) => m.id === id);
            return [id, used ? duration("7d").default(used.ageWarnBeforeMs) : duration("7d").optional()];
          }),
        ) as Record<string, z.ZodOptional<ReturnType<typeof duration>>>,
      )
      .default(Object.fromEntries(modules.map((m) => [m.id, m.ageWarnBeforeMs]))),
  });
}

/** The inventory's fields, its credentials given as a list of anything (the outline). */
function inventoryOutlineFor(registry: VendorRegistry, modules: readonly VendorModule[]) {
  const settings = settingsSchema(registry, modules);
  return z.strictObject({
    /** Vendor definition files (docs/vendors.md) besides the built-in ones, relative to the inventory. */
    vendorDefinitions: z.array(z.string().min(1)).max(100).default([]),
    settings: settings.default(settings.parse({})),
    alertRoutes: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "route names are lowercase letters, digits and dashes"),
        alertRoute,
      )
      .default({}),
    credentials: z.array(z.unknown()).min(1, "list at least one credential"),
  });
}

function inventoryObjectFor(
  outline: ReturnType<typeof inventoryOutlineFor>,
  credential: ReturnType<typeof credentialSchema>,
) {
  return outline.extend({ credentials: z.array(credential).min(1, "list at least one credential") });
}

type InventoryObject = ReturnType<typeof inventoryObjectFor>;
export type Inventory = Omit<z.output<InventoryObject>, "credentials"> & {
  credentials: CredentialConfig[];
  /** The vendors this inventory's credentials use (the built-in ones and its own definitions). */
  registry?: VendorRegistry;
};
export type InventorySchema = z.ZodType<Inventory> & InventoryObject;

/**
 * The inventory's schema in two parts, which check what the whole does: the outline (every field,
 * the credentials only as a list of at least one) and one credential's schema. A loader can then
 * check the credentials one at a time (load-inventory.ts).
 */
export interface InventoryParts {
  outline: z.ZodType<Omit<Inventory, "credentials" | "registry"> & { credentials: unknown[] }>;
  credential: z.ZodType<CredentialConfig>;
}

interface Schemas {
  whole: InventorySchema;
  parts: InventoryParts;
}

const schemas = new WeakMap<VendorRegistry, Map<string, Schemas>>();

/**
 * The inventory's schema for a registry's vendors, its output typed with the engine's view of a
 * credential. `used`: the vendor ids the inventory's credentials name (default: all the registry
 * knows); only their definitions are read (a command about one credential reads one definition).
 */
export function inventorySchemaFor(registry: VendorRegistry, used: readonly string[] = registry.ids): InventorySchema {
  return schemasFor(registry, used).whole;
}

/** The same schema as inventorySchemaFor, in its two parts. */
export function inventoryPartsFor(registry: VendorRegistry, used: readonly string[] = registry.ids): InventoryParts {
  return schemasFor(registry, used).parts;
}

function schemasFor(registry: VendorRegistry, used: readonly string[]): Schemas {
  const ids = [...new Set(used.filter((id) => registry.has(id)))].sort();
  let byUsed = schemas.get(registry);
  if (!byUsed) {
    byUsed = new Map();
    schemas.set(registry, byUsed);
  }
  let found = byUsed.get(ids.join(","));
  if (!found) {
    const modules = ids.map((id) => registry.get(id));
    const outline = inventoryOutlineFor(registry, modules);
    const credential = credentialSchema(registry, modules);
    found = {
      whole: inventoryObjectFor(outline, credential) as InventorySchema,
      parts: {
        outline: outline as unknown as InventoryParts["outline"],
        credential: credential as unknown as InventoryParts["credential"],
      },
    };
    byUsed.set(ids.join(","), found);
  }
  return found;
}

/** The inventory's schema for every built-in vendor (each definition read). */
export function builtInInventorySchema(): InventorySchema {
  return inventorySchemaFor(BUILT_IN_REGISTRY);
}
/**
 * A credential as the engine reads it: the common fields, its flow's and usage block where its
 * vendor has them; the vendor's own fields are the vendor module's to read (`vendorFieldsOf`).
 */
export type CredentialConfig = z.output<z.ZodObject<typeof credentialBase>> & {
  vendor: string;
  operator?: z.output<(typeof flowFields)["operator"]["operator"]>;
  usage?: z.output<typeof usageFields.usage>;
  [field: string]: unknown;
};

/** The fields a vendor module declared, taken from a parsed credential (what its factories get). */
export function vendorFieldsOf(c: CredentialConfig, fields: z.ZodRawShape): Record<string, unknown> {
  return Object.fromEntries(Object.keys(fields).map((k) => [k, c[k]]));
}
export type AlertRouteConfig = z.output<typeof alertRoute>;
export type SecretRef = z.infer<typeof secretRef>;
