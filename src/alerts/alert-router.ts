/**
 * Routes alerts to sinks by credential and severity, suppresses repeats of an open alert, sends a
 * resolve to the sinks that got the trigger, and retries each sink with backoff. It never throws
 * and never holds up a rotation: sends run in the background (`flush()` waits for them). Open
 * alerts live in memory: after a restart a condition still failing is raised again, which is the
 * safe side.
 */
import type { Alert, Alerter } from "../core/ports.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { AlertSink } from "./alert-sinks.js";

export interface CredentialRoutes {
  warning: string[];
  critical: string[];
  escalate?: string[];
}

export interface AlertRouterOptions {
  sinks: Map<string, AlertSink>;
  routes: Map<string, CredentialRoutes>;
  log: Pick<Logger, "info" | "warn" | "error">;
  metrics?: Metrics;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  renotifyMs?: number;
  attempts?: number;
}

export class AlertRouter implements Alerter {
  readonly #o: Required<Omit<AlertRouterOptions, "metrics">> & Pick<AlertRouterOptions, "metrics">;
  readonly #open = new Map<string, { alert: Alert; sentTo: string[]; at: number }>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: AlertRouterOptions) {
    this.#o = { now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), renotifyMs: 3_600_000, attempts: 3, ...options };
  }

  async raise(alert: Alert): Promise<void> {
    const key = `${alert.credentialId}/${alert.kind}`;
    const open = this.#open.get(key);
    this.#o.log.warn({ event: "alert.raised", credentialId: alert.credentialId, kind: alert.kind, severity: alert.severity, step: alert.step, rotationId: alert.rotationId }, `alert: ${alert.credentialId}: ${alert.summary}`);
    if (open && open.alert.severity === alert.severity && this.#o.now() - open.at < this.#o.renotifyMs) {
      for (const sink of open.sentTo) this.#o.metrics?.alertsTotal.labels({ sink, result: "suppressed" }).inc();
      return;
    }
    const routes = this.#o.routes.get(alert.credentialId);
    const names = alert.severity === "critical" ? routes?.critical ?? [] : alert.severity === "warning" ? routes?.warning ?? [] : [];
    this.#open.set(key, { alert, sentTo: names, at: this.#o.now() });
    this.#dispatch(names, alert, "trigger");
  }

  async resolve(credentialId: string, kind: string): Promise<void> {
    const key = `${credentialId}/${kind}`;
    const open = this.#open.get(key);
    if (!open) return;
    this.#open.delete(key);
    this.#o.log.info({ event: "alert.resolved", credentialId, kind }, `resolved: ${credentialId}: ${kind}`);
    this.#dispatch(open.sentTo, open.alert, "resolve");
  }

  /** Sends to the credential's escalation routes (JustCall deadline passed, for example). */
  async escalate(alert: Alert): Promise<void> {
    this.#dispatch(this.#o.routes.get(alert.credentialId)?.escalate ?? [], alert, "trigger");
  }

  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #dispatch(names: string[], alert: Alert, action: "trigger" | "resolve"): void {
    for (const name of names) {
      const sink = this.#o.sinks.get(name);
      if (!sink) continue;
      const p = this.#deliver(sink, alert, action).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  async #deliver(sink: AlertSink, alert: Alert, action: "trigger" | "resolve"): Promise<void> {
    for (let attempt = 1; attempt <= this.#o.attempts; attempt++) {
      try {
        await sink.send(alert, action);
        this.#o.metrics?.alertsTotal.labels({ sink: sink.name, result: "sent" }).inc();
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (attempt === this.#o.attempts) {
          this.#o.metrics?.alertsTotal.labels({ sink: sink.name, result: "failed" }).inc();
          this.#o.log.error({ event: "alert.failed", sink: sink.name, credentialId: alert.credentialId, kind: alert.kind, attempts: attempt, error: message }, `alert to ${sink.name} failed`);
          return;
        }
        await this.#o.sleep(1000 * 2 ** (attempt - 1));
      }
    }
  }
}
