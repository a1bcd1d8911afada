/**
 * Where the alert router keeps its open alerts: the alert last sent for a condition
 * (`<credential>/<kind>`), the sinks it went to, and when. It is what suppresses repeats and what
 * lets a resolve reach the sinks that got the trigger (PagerDuty closes an incident only on a
 * resolve with its dedup key). The worker keeps it in Redis, shared by every replica and kept over
 * restarts; the in-memory store here is for a process that runs alone (`rotate --direct`, tests).
 *
 * Must not: hold a secret value. An Alert never carries one (ports.ts), sink names are route
 * names, and nothing else is stored.
 */
import type { Alert } from "../core/ports.js";

export interface OpenAlert {
  /** The alert as last sent, so a resolve can name its step and rotation. */
  alert: Alert;
  /** Route names of the sinks that got a trigger for it, and so must get the resolve. */
  sentTo: string[];
  /** When it was last sent, epoch ms. */
  at: number;
}

/**
 * Open alerts by key (`<credential>/<kind>`). Every method may throw (an unreachable Redis); the
 * router catches, logs, and errs on the side of sending. Entries may expire on their own (the
 * Redis store bounds them with a TTL), which reads as "not open".
 */
export interface OpenAlertStore {
  /** The open alert, or undefined when none is open. Read-only, safe to repeat. */
  get(key: string): Promise<OpenAlert | undefined>;

  /** Records the alert as open, replacing what was there. Safe to repeat. */
  set(key: string, open: OpenAlert): Promise<void>;

  /**
   * Removes the open alert and returns what was there, in one step, so that of two replicas
   * resolving the same alert only one gets it back and sends the resolve. Safe to repeat: a key
   * with nothing open returns undefined.
   */
  take(key: string): Promise<OpenAlert | undefined>;

  /**
   * The keys of every open alert, in one read: a health tick asks once instead of once for each
   * credential and check. May list an entry that expires a moment later (resolving it is a no-op).
   */
  keys(): Promise<Set<string>>;
}

/** Open alerts in this process only: lost on exit, not shared. */
export class MemoryOpenAlertStore implements OpenAlertStore {
  readonly #open = new Map<string, OpenAlert>();

  async get(key: string): Promise<OpenAlert | undefined> {
    return this.#open.get(key);
  }

  async set(key: string, open: OpenAlert): Promise<void> {
    this.#open.set(key, open);
  }

  async take(key: string): Promise<OpenAlert | undefined> {
    const open = this.#open.get(key);
    this.#open.delete(key);
    return open;
  }

  async keys(): Promise<Set<string>> {
    return new Set(this.#open.keys());
  }
}
