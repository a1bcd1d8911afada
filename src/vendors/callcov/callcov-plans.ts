/**
 * CallCov's rate limits per plan, as seed 001 gives them ("Enterprise: Custom": set
 * `usage.perDay` in the inventory). The usage watcher warns before a key spends its day.
 */
export const CALLCOV_PLANS = {
  free: { perMinute: 10, perDay: 1_000 },
  starter: { perMinute: 60, perDay: 10_000 },
  business: { perMinute: 300, perDay: 100_000 },
  enterprise: { perMinute: undefined, perDay: undefined },
} as const satisfies Record<string, { perMinute: number | undefined; perDay: number | undefined }>;

export type CallCovPlan = keyof typeof CALLCOV_PLANS;
