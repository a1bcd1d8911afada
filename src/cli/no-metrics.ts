/**
 * Metrics for a one-shot CLI process, which nobody scrapes: every counter, gauge and histogram
 * takes its calls (`labels(...).inc()`, `set`, `observe`) and keeps nothing, so a command that
 * reaches the store or a vendor does not load prom-client to count for no one (issue 21).
 * Must not: be given to the worker, whose /metrics reads the registry.
 */
import type { Metrics } from "../observability/metrics.js";

export function noMetrics(): Metrics {
  // Any property or call gives the same nothing back; `then` stays absent so an await ends.
  const nothing: unknown = new Proxy(() => undefined, {
    get: (_target, property) => (property === "then" ? undefined : nothing),
    apply: () => nothing,
  });
  return nothing as Metrics;
}
