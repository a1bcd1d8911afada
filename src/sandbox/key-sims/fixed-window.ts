/**
 * A fixed-window request budget per bucket, windows aligned to the epoch ("calendar aligned", as
 * Datadog documents): what the simulators' rate limits and their X-RateLimit-* headers are made of.
 */

export interface WindowVerdict {
  ok: boolean;
  limit: number;
  /** Requests left in this window after this one (0 when refused). */
  remaining: number;
  /** The window's length in seconds. */
  periodS: number;
  /** When the window ends, epoch seconds. */
  resetAt: number;
  /** Seconds from now until the window ends (at least 1 while it runs). */
  resetIn: number;
}

export class FixedWindow {
  readonly #counts = new Map<string, { window: number; count: number }>();

  constructor(
    readonly clock: () => number,
    public limit: number,
    readonly periodS: number,
  ) {}

  /** Spends one request of `bucket`'s budget, or refuses it when the window's budget is spent. */
  take(bucket: string): WindowVerdict {
    const nowS = this.clock() / 1000;
    const window = Math.floor(nowS / this.periodS);
    const c = this.#counts.get(bucket);
    const entry = c && c.window === window ? c : { window, count: 0 };
    this.#counts.set(bucket, entry);
    const ok = entry.count < this.limit;
    if (ok) entry.count += 1;
    const resetAt = (window + 1) * this.periodS;
    return {
      ok,
      limit: this.limit,
      remaining: Math.max(0, this.limit - entry.count),
      periodS: this.periodS,
      resetAt,
      resetIn: Math.max(1, Math.ceil(resetAt - nowS)),
    };
  }

  /** The figures of a refusal in the current window, without spending: what an armed rate-limit fault reports. */
  spent(): WindowVerdict {
    const nowS = this.clock() / 1000;
    const resetAt = (Math.floor(nowS / this.periodS) + 1) * this.periodS;
    return {
      ok: false,
      limit: this.limit,
      remaining: 0,
      periodS: this.periodS,
      resetAt,
      resetIn: Math.max(1, Math.ceil(resetAt - nowS)),
    };
  }
}
