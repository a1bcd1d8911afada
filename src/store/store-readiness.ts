/**
 * `/readyz`'s answer for the secret store, cheap and cached: a probe kubelet sends every few
 * seconds must not become a Secrets Manager call each time (8,640 a day a replica at one call per
 * 10 s probe). One probe call (DescribeSecret: the cheapest read, 40,000 a second allowed) decides
 * for `okTtlMs` (a minute) when it answers, for `failTtlMs` (10 s) when it does not, so a store
 * that comes back is seen soon; probes that arrive together share one call.
 * Must not: say ready on a failure, or put a secret value in its error (the store's errors carry none).
 */
export class StoreReadiness {
  #answer: { at: number; error?: unknown } | undefined;
  #inFlight: Promise<void> | undefined;
  readonly #probe: () => Promise<unknown>;
  readonly #okTtlMs: number;
  readonly #failTtlMs: number;
  readonly #now: () => number;

  constructor(
    probe: () => Promise<unknown>,
    options: { okTtlMs?: number; failTtlMs?: number; now?: () => number } = {},
  ) {
    this.#probe = probe;
    this.#okTtlMs = options.okTtlMs ?? 60_000;
    this.#failTtlMs = options.failTtlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Resolves when the store answered within its time to live; throws its last fault otherwise. */
  async check(): Promise<void> {
    const a = this.#answer;
    if (a && this.#now() - a.at < ("error" in a ? this.#failTtlMs : this.#okTtlMs)) {
      if ("error" in a) throw a.error;
      return;
    }
    this.#inFlight ??= this.#probe().then(
      () => {
        this.#answer = { at: this.#now() };
      },
      (error: unknown) => {
        this.#answer = { at: this.#now(), error };
      },
    );
    await this.#inFlight.finally(() => (this.#inFlight = undefined));
    if (this.#answer && "error" in this.#answer) throw this.#answer.error;
  }
}
