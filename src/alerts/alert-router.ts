/**
 * Routes alerts to sinks by credential and severity, suppresses repeats of an open alert, sends a
 * resolve to the sinks that got the trigger, and retries each sink with backoff. Open alerts live
 * in an OpenAlertStore: Redis in the worker, so a resolve decided on one replica reaches the
 * incident raised on another, repeats are suppressed fleet-wide, and a restart forgets nothing;
 * in memory for a process alone (`rotate --direct`). What an open entry may decide, so that a
 * forged one cannot hold an alert past its bound or stop a resolve, is in open-alert-policy.ts.
 *
 * Must not: throw, or hold up a rotation. Sends run in the background (`flush()` waits for them);
 * a store call that fails or takes longer than `storeTimeoutMs` is logged and the router sends
 * anyway, because a duplicate alert costs less than a lost one.
 */
import type { Alert, Alerter } from "../core/ports.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { AlertSink } from "./alert-sinks.js";
import { claimedRoutes, distrustOf, holdsBack, resolvedAlert, resolveTargets, routesOf } from "./open-alert-policy.js";
import { MemoryOpenAlertStore, type OpenAlertStore } from "./open-alert-store.js";

export interface CredentialRoutes {
  warning: string[];
  critical: string[];
  escalate?: string[];
}

export interface AlertRouterOptions {
  sinks: Map<string, AlertSink>;
  /** Each credential's routes by its id (a Map, or the worker's compact IdTable). */
  routes: Pick<ReadonlyMap<string, CredentialRoutes>, "get">;
  log: Pick<Logger, "info" | "warn" | "error">;
  metrics?: Metrics;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  renotifyMs?: number;
  attempts?: number;
  /** Where open alerts live; in this process's memory unless given. */
  openAlerts?: OpenAlertStore;
  /** How long one read or write of the open alerts may take before the router sends without it. */
  storeTimeoutMs?: number;
  /**
   * How long this process holds back one alert at most, whatever the open-alert store says: the
   * bound that holds even against a store rewritten continuously (24 h; never below renotifyMs).
   */
  maxHoldMs?: number;
}

type Options = Required<Omit<AlertRouterOptions, "metrics" | "openAlerts">> & Pick<AlertRouterOptions, "metrics">;

export class AlertRouter implements Alerter {
  readonly #o: Options;
  #open: OpenAlertStore;
  readonly #pending = new Set<Promise<void>>();
  /** When this process first held back each alert since it last sent it: see #heldTooLong. */
  readonly #heldSince = new Map<string, { since: number; last: number }>();

  constructor(options: AlertRouterOptions) {
    const { openAlerts, ...rest } = options;
    this.#o = {
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      renotifyMs: 3_600_000,
      attempts: 3,
      storeTimeoutMs: 2_000,
      maxHoldMs: 86_400_000,
      ...rest,
    };
    this.#open = openAlerts ?? new MemoryOpenAlertStore();
  }

  /**
   * Moves the open alerts to another store (the worker's Redis, once it is connected: the router
   * is built before). Alerts opened in the old store stay there; call it before raising any.
   */
  keepOpenAlertsIn(store: OpenAlertStore): void {
    this.#open = store;
  }

  async raise(alert: Alert): Promise<void> {
    try {
      const key = keyOf(alert.credentialId, alert.kind);
      this.#o.log.warn(
        {
          event: "alert.raised",
          credentialId: alert.credentialId,
          kind: alert.kind,
          severity: alert.severity,
          step: alert.step,
          rotationId: alert.rotationId,
        },
        `alert: ${alert.credentialId}: ${alert.summary}`,
      );
      const open = await this.#store("get", alert, () => this.#open.get(key));
      const now = this.#o.now();
      const names = this.#routesFor(alert);
      const verdict = holdsBack(open, alert, names, now, this.#o.renotifyMs);
      if (!verdict.hold && verdict.distrust) this.#distrusted(alert, verdict.distrust);
      if (verdict.hold && !this.#heldTooLong(key, now)) {
        for (const sink of names) this.#o.metrics?.alertsTotal.labels({ sink, result: "suppressed" }).inc();
        return;
      }
      this.#heldSince.delete(key);
      this.#dispatch(names, alert, "trigger");
      // Sinks that got an earlier trigger (a critical that is now a warning) still need the resolve.
      const sentTo = [...new Set([...claimedRoutes(open, routesOf(this.#o.routes.get(alert.credentialId))), ...names])];
      await this.#store("set", alert, () => this.#open.set(key, { alert, sentTo, at: now }));
    } catch (err) {
      this.#o.log.error(
        { event: "alert.router-failed", credentialId: alert.credentialId, kind: alert.kind, error: messageOf(err) },
        "alert router failed",
      );
    }
  }

  async resolve(credentialId: string, kind: string): Promise<void> {
    try {
      const key = keyOf(credentialId, kind);
      this.#heldSince.delete(key);
      const failed = Symbol("failed");
      const open = await this.#store("take", { credentialId, kind }, () => this.#open.take(key), failed);
      if (open === undefined) return;
      const known = open === failed ? undefined : open;
      const now = this.#o.now();
      const distrust = known && distrustOf(known, { credentialId, kind }, now);
      if (distrust) this.#distrusted({ credentialId, kind }, distrust);
      const blind = open === failed ? " (open alerts unavailable, sent to every deduplicating route)" : "";
      this.#o.log.info(
        { event: "alert.resolved", credentialId, kind, ...(blind ? { blind: true } : {}) },
        `resolved${blind}: ${credentialId}: ${kind}`,
      );
      const targets = resolveTargets(
        distrust ? undefined : known,
        routesOf(this.#o.routes.get(credentialId)),
        this.#o.sinks,
      );
      this.#dispatch(targets, resolvedAlert(known, credentialId, kind, now), "resolve");
    } catch (err) {
      this.#o.log.error(
        { event: "alert.router-failed", credentialId, kind, error: messageOf(err) },
        "alert router failed",
      );
    }
  }

  /** The keys (`<credential>/<kind>`) of every open alert, or undefined when the store cannot say. */
  async openKeys(): Promise<Set<string> | undefined> {
    return this.#store("keys", { credentialId: "*", kind: "*" }, () => this.#open.keys());
  }

  /** Sends to the credential's escalation routes (JustCall deadline passed, for example). */
  async escalate(alert: Alert): Promise<void> {
    this.#dispatch(this.#o.routes.get(alert.credentialId)?.escalate ?? [], alert, "trigger");
  }

  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #routesFor(alert: Alert): string[] {
    const routes = this.#o.routes.get(alert.credentialId);
    return alert.severity === "critical"
      ? (routes?.critical ?? [])
      : alert.severity === "warning"
        ? (routes?.warning ?? [])
        : [];
  }

  /**
   * The backstop for a Redis rewritten again and again (each entry looks fresh): this process sends
   * a held alert anyway once it has held it for `maxHoldMs`, whatever Redis says. In a fleet that
   * costs at most one duplicate per replica per `maxHoldMs`; a lone forged entry never gets this far.
   */
  #heldTooLong(key: string, now: number): boolean {
    const held = this.#heldSince.get(key);
    // A hold long past (the alert was not raised here for a while) starts the count again.
    if (!held || held.since > now || now - held.last > this.#o.renotifyMs) {
      if (this.#heldSince.size >= 10_000) this.#heldSince.clear();
      this.#heldSince.set(key, { since: now, last: now });
      return false;
    }
    held.last = now;
    return now - held.since >= Math.max(this.#o.maxHoldMs, this.#o.renotifyMs);
  }

  #distrusted(about: Pick<Alert, "credentialId" | "kind">, why: string): void {
    this.#o.log.warn(
      { event: "alert.open-entry-ignored", credentialId: about.credentialId, kind: about.kind, reason: why },
      `open alert ${about.credentialId}/${about.kind} in the store ignored: ${why}`,
    );
  }

  /** Runs one store call with a time limit; on failure logs and returns `onFail`. */
  async #store<T, F = undefined>(
    op: string,
    about: Pick<Alert, "credentialId" | "kind">,
    call: () => Promise<T>,
    onFail?: F,
  ): Promise<T | F> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${this.#o.storeTimeoutMs} ms`)),
          this.#o.storeTimeoutMs,
        );
      });
      return await Promise.race([call(), limit]);
    } catch (err) {
      this.#o.log.warn(
        { event: "alert.store-failed", op, credentialId: about.credentialId, kind: about.kind, error: messageOf(err) },
        `open alerts unavailable (${op}): sending without them`,
      );
      return onFail as F;
    } finally {
      clearTimeout(timer);
    }
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
        if (attempt === this.#o.attempts) {
          this.#o.metrics?.alertsTotal.labels({ sink: sink.name, result: "failed" }).inc();
          this.#o.log.error(
            {
              event: "alert.failed",
              sink: sink.name,
              credentialId: alert.credentialId,
              kind: alert.kind,
              attempts: attempt,
              error: messageOf(err),
            },
            `alert to ${sink.name} failed`,
          );
          return;
        }
        await this.#o.sleep(1000 * 2 ** (attempt - 1));
      }
    }
  }
}

function keyOf(credentialId: string, kind: string): string {
  return `${credentialId}/${kind}`;
}

/**
 * The alerter for one health tick: `open` is a snapshot of the open alerts taken as the tick began,
 * so the resolves of everything that is fine (nearly every credential, every tick) cost nothing
 * instead of a Redis round trip each. Raises go through and join the snapshot. Only the health
 * tick raises and resolves its kinds, one tick at a time, so nothing can open unseen meanwhile.
 */
export function resolvingOnlyOpen(alerter: Alerter, open: Set<string>): Alerter {
  return {
    raise: async (alert) => {
      open.add(keyOf(alert.credentialId, alert.kind));
      await alerter.raise(alert);
    },
    resolve: async (credentialId, kind) => {
      if (open.delete(keyOf(credentialId, kind))) await alerter.resolve(credentialId, kind);
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
