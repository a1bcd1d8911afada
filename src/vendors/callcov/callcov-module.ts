/**
 * CallCov as a vendor module: a key API (seeds 001/002) with a management login (email and
 * password for a JWT session, kept in its own secret), per-plan rate limits that show on every
 * response (`X-RateLimit-*`, the usage signal), and keys `sk_live_…` / `sk_test_…`.
 */
import { z } from "zod";
import { keyApiValueShape } from "../../core/stored-value.js";
import { keyApiModule } from "../vendor-module.js";
import { loadManagementLogin } from "./callcov-login.js";
import { CALLCOV_PLANS } from "./callcov-plans.js";
import { CallCovVendor } from "./callcov-vendor.js";

export const callcov = keyApiModule({
  id: "callcov",
  name: "CallCov",
  flow: "key-api",
  fields: {
    mode: z.enum(["live", "test"]).default("live"),
    plan: z.enum(["free", "starter", "business", "enterprise"]).default("starter"),
    managementSecretId: z
      .string({ error: "a CallCov credential needs managementSecretId (the secret holding its management login)" })
      .min(1),
  },
  value: keyApiValueShape("callcov", {
    pattern: /^sk_(live|test)_[A-Za-z0-9_-]{8,}$/,
    hint: "expected a CallCov key (sk_live_… or sk_test_…)",
  }),
  // Keys rotate by themselves: no warning ahead of the due date.
  ageWarnBeforeMs: 0,
  secretsRead: (c) => [c.fields.managementSecretId],
  usageDefaults: (c) => {
    const perDay = CALLCOV_PLANS[c.fields.plan].perDay;
    return perDay !== undefined ? { perDay } : {};
  },
  accountOf: (c) => `${c.baseUrl}|${c.fields.managementSecretId}|${c.fields.mode}`,
  keyApi: (c, ctx) =>
    new CallCovVendor({
      baseUrl: c.baseUrl,
      mode: c.fields.mode,
      loadLogin: () => loadManagementLogin(ctx.store, c.fields.managementSecretId),
      onRequest: ctx.onRequest,
    }),
});
