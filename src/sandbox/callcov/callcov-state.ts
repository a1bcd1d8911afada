/**
 * The CallCov simulator's account, keys, JWT sessions and rate limits, without HTTP. Follows
 * seeds 001/002 and DESIGN.md's assumptions: keys `sk_live_…`/`sk_test_…` shown once, JWT access
 * tokens for 30 minutes and refresh tokens for 7 days (HS256, clock injectable), and per-key
 * per-plan limits per minute and per day.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export type Plan = "free" | "starter" | "business" | "enterprise";
export const PLAN_LIMITS: Record<Plan, { perMinute: number; perDay: number }> = {
  free: { perMinute: 10, perDay: 1_000 },
  starter: { perMinute: 60, perDay: 10_000 },
  business: { perMinute: 300, perDay: 100_000 },
  enterprise: { perMinute: 3_000, perDay: 1_000_000 },
};
export const ACCESS_TTL_S = 30 * 60;
export const REFRESH_TTL_S = 7 * 24 * 3600;

export interface SimKey {
  id: string;
  name: string;
  key: string;
  createdAt: number;
  /** When the key went from active to inactive (epoch ms); absent while it is active. */
  revokedAt?: number;
  active: boolean;
  plan: Plan;
  forbidden: boolean;
}

/** One key's life at the simulator, as keyHistory() and `GET /__sim/keys` tell it (never its value). */
export interface KeyRecord {
  id: string;
  name: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms of the revocation; absent while the key is active. */
  revokedAt?: number;
  active: boolean;
}

interface Budget {
  minute: number;
  minuteCount: number;
  day: number;
  dayCount: number;
}

/**
 * What the X-RateLimit-* headers say: the figures of the window that binds. Seed 001 gives a
 * per-minute and a per-day budget but one set of headers, so they describe the minute window
 * (reset at the next minute, epoch seconds) unless the day's budget is the tighter one (fewer
 * requests left than the minute's, or none left): then Limit is the day's budget and Reset the end
 * of the UTC day. A 429 therefore always says Remaining 0 and when a retry can succeed.
 */
export interface RateVerdict {
  ok: boolean;
  limit: number;
  remaining: number;
  reset: number;
  window: "minute" | "day";
}

export class CallCovState {
  readonly keys = new Map<string, SimKey>();
  /** Active keys by their secret, so a request finds its key in one lookup at 10,000 keys too. */
  readonly #activeBySecret = new Map<string, SimKey>();
  readonly counters = {
    created: 0,
    /** Successful revocations (active -> inactive), all keys together. */
    revoked: 0,
    logins: 0,
    refreshes: 0,
    rateLimited: 0,
    requestsByKey: {} as Record<string, { accepted: number; refused: number; consumer: number }>,
    /** Per key id: every `DELETE /api/v1/api-keys/{id}` received, whatever the answer (204, 404, 401, 429, a fault). */
    revokeRequestsByKey: {} as Record<string, number>,
    /** Per key id: successful revocations (active -> inactive). At most 1: no call makes a key active again. */
    revocationsByKey: {} as Record<string, number>,
    /**
     * Every request received, by "METHOD route" (a key id in the path shown as {id}), counted on
     * arrival like revokeRequestsByKey: what a test counts to say how many vendor calls a thing cost.
     */
    requestsByRoute: {} as Record<string, number>,
  };
  readonly #budgets = new Map<string, Budget>();
  readonly #jwtSecret = randomBytes(32);
  #seq = 0;
  /** Test knob: the mode of the next created key, to simulate a vendor handing out the wrong kind. */
  nextKeyMode: "live" | "test" | undefined;

  constructor(
    public clock: () => number,
    readonly accounts: Array<{ email: string; password: string }>,
    public plan: Plan,
    readonly mode: "live" | "test",
    /** The per-minute budget of the account's management calls (JWT). */
    readonly managementPerMinute = 120,
  ) {}

  issueKey(name: string, mode: "live" | "test" = this.nextKeyMode ?? this.mode): SimKey {
    this.nextKeyMode = undefined;
    const id = `key_${(++this.#seq).toString().padStart(6, "0")}${randomBytes(3).toString("hex")}`;
    const key: SimKey = {
      id,
      name,
      key: `sk_${mode}_${randomBytes(24).toString("base64url")}`,
      createdAt: this.clock(),
      active: true,
      plan: this.plan,
      forbidden: false,
    };
    this.keys.set(id, key);
    this.#activeBySecret.set(key.key, key);
    this.counters.created += 1;
    return key;
  }

  revoke(id: string): boolean {
    const k = this.keys.get(id);
    if (!k || !k.active) return false;
    k.active = false;
    k.revokedAt = this.clock();
    this.#activeBySecret.delete(k.key);
    this.counters.revoked += 1;
    this.counters.revocationsByKey[id] = (this.counters.revocationsByKey[id] ?? 0) + 1;
    return true;
  }

  /**
   * Every key ever made, with its creation and revocation times, in creation order: what a test
   * judging from outside needs to say exactly which keys were live at any moment. No key values.
   */
  keyHistory(): KeyRecord[] {
    return [...this.keys.values()].map((k) => ({
      id: k.id,
      name: k.name,
      createdAt: k.createdAt,
      ...(k.revokedAt !== undefined ? { revokedAt: k.revokedAt } : {}),
      active: k.active,
    }));
  }

  /** Counts a revoke request for `id` on arrival, before auth, rate limits or faults decide its answer. */
  countRevokeRequest(id: string): void {
    this.counters.revokeRequestsByKey[id] = (this.counters.revokeRequestsByKey[id] ?? 0) + 1;
  }

  findActive(secret: string): SimKey | undefined {
    const k = this.#activeBySecret.get(secret);
    return k?.active ? k : undefined;
  }

  count(keyId: string, outcome: "accepted" | "refused" | "consumer", n = 1): void {
    const c = (this.counters.requestsByKey[keyId] ??= { accepted: 0, refused: 0, consumer: 0 });
    c[outcome] += n;
  }

  /** Spends `n` from a budget (a key's, or the account's management budget). */
  spend(budgetId: string, limits: { perMinute: number; perDay: number }, n = 1): RateVerdict {
    const b = this.#budget(budgetId);
    const { minute, day } = b;
    const ok = b.minuteCount + n <= limits.perMinute && b.dayCount + n <= limits.perDay;
    if (ok) {
      b.minuteCount += n;
      b.dayCount += n;
    } else this.counters.rateLimited += 1;
    const minuteLeft = Math.max(0, limits.perMinute - b.minuteCount);
    const dayLeft = Math.max(0, limits.perDay - b.dayCount);
    if (dayLeft < minuteLeft || dayLeft === 0)
      return { ok, limit: limits.perDay, remaining: dayLeft, reset: (day + 1) * 86_400, window: "day" };
    return { ok, limit: limits.perMinute, remaining: minuteLeft, reset: (minute + 1) * 60, window: "minute" };
  }

  /**
   * Test knob: records requests of `budgetId` in the current minute and/or UTC day without the
   * limits' checks, e.g. a day nearly spent without sending 100,000 requests.
   */
  preCount(budgetId: string, counts: { minute?: number; day?: number }): void {
    const b = this.#budget(budgetId);
    b.minuteCount += counts.minute ?? 0;
    b.dayCount += counts.day ?? 0;
  }

  /** The budget of the current minute and UTC day (epoch-aligned windows), reset when either has passed. */
  #budget(budgetId: string): Budget {
    const now = this.clock();
    const minute = Math.floor(now / 60_000);
    const day = Math.floor(now / 86_400_000);
    const b = this.#budgets.get(budgetId) ?? { minute, minuteCount: 0, day, dayCount: 0 };
    if (b.minute !== minute) Object.assign(b, { minute, minuteCount: 0 });
    if (b.day !== day) Object.assign(b, { day, dayCount: 0 });
    this.#budgets.set(budgetId, b);
    return b;
  }

  login(
    email: string,
    password: string,
  ): { access_token: string; refresh_token: string; token_type: "bearer"; expires_in: number } | undefined {
    const account = this.accounts.find((a) => a.email === email && safeEqual(a.password, password));
    if (!account) return undefined;
    this.counters.logins += 1;
    return {
      access_token: this.#sign(email, "access", ACCESS_TTL_S),
      refresh_token: this.#sign(email, "refresh", REFRESH_TTL_S),
      token_type: "bearer",
      expires_in: ACCESS_TTL_S,
    };
  }

  refresh(token: string): { access_token: string; token_type: "bearer"; expires_in: number } | "expired" | "invalid" {
    const claims = this.verifyJwt(token, "refresh");
    if (typeof claims === "string") return claims;
    this.counters.refreshes += 1;
    return {
      access_token: this.#sign(claims.sub, "access", ACCESS_TTL_S),
      token_type: "bearer",
      expires_in: ACCESS_TTL_S,
    };
  }

  verifyJwt(token: string, typ: "access" | "refresh"): { sub: string } | "expired" | "invalid" {
    const [h, p, s] = token.split(".");
    if (!h || !p || !s) return "invalid";
    const expected = createHmac("sha256", this.#jwtSecret).update(`${h}.${p}`).digest("base64url");
    if (!safeEqual(expected, s)) return "invalid";
    let claims: { sub?: unknown; typ?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as typeof claims;
    } catch {
      return "invalid";
    }
    if (claims.typ !== typ || typeof claims.sub !== "string" || typeof claims.exp !== "number") return "invalid";
    if (this.clock() / 1000 >= claims.exp) return "expired";
    return { sub: claims.sub };
  }

  #sign(sub: string, typ: "access" | "refresh", ttl: number): string {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const iat = Math.floor(this.clock() / 1000);
    const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ sub, typ, iat, exp: iat + ttl, jti: randomBytes(8).toString("hex") })}`;
    return `${body}.${createHmac("sha256", this.#jwtSecret).update(body).digest("base64url")}`;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
