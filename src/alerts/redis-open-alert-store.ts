/**
 * Open alerts in Redis, shared by every worker replica and kept over restarts: one string key per
 * open alert, `<prefix>:alerts:open:<credential>/<kind>`, holding JSON { alert, sentTo, at }. The
 * prefix is the queue prefix, so in a Redis Cluster the hash tag keeps them in the queue's slot.
 * Each key expires `ttlMs` after it was last sent (30 days by default): a condition still failing
 * is re-sent (and so re-written) every re-notify interval, so only alerts nobody raised or resolved
 * for that long fall off, and a credential removed from the inventory leaves nothing behind.
 * A value that does not parse is reported as an error, never read as "nothing open": the router
 * logs it, sends, and so overwrites it. What a value that parses may decide is limited by
 * open-alert-policy.ts, since anyone who reaches Redis can write one.
 *
 * Must not: store anything but the alert (which never carries a secret), sink route names, and a
 * time.
 */
import type { Redis } from "ioredis";
import { scanKeys } from "../queue/redis.js";
import { z } from "zod";
import type { OpenAlert, OpenAlertStore } from "./open-alert-store.js";

export const DEFAULT_OPEN_ALERT_TTL_MS = 30 * 86_400_000;

const openAlertSchema = z.object({
  alert: z.object({
    credentialId: z.string(),
    severity: z.enum(["info", "warning", "critical"]),
    kind: z.string(),
    summary: z.string(),
    step: z.string().optional(),
    rotationId: z.string().optional(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    reminder: z.boolean().optional(),
  }),
  // Route names; a forged list of thousands is garbage, not a claim to weigh.
  sentTo: z.array(z.string().max(200)).max(100),
  at: z.number(),
});

export class RedisOpenAlertStore implements OpenAlertStore {
  readonly #ttlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    options: { ttlMs?: number } = {},
  ) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_OPEN_ALERT_TTL_MS;
  }

  async get(key: string): Promise<OpenAlert | undefined> {
    return this.#parse(key, await this.redis.get(this.#key(key)));
  }

  async set(key: string, open: OpenAlert): Promise<void> {
    await this.redis.set(this.#key(key), JSON.stringify(open), "PX", this.#ttlMs);
  }

  async take(key: string): Promise<OpenAlert | undefined> {
    return this.#parse(key, await this.redis.getdel(this.#key(key)));
  }

  // SCAN, not KEYS: it does not block Redis, and a tick makes one pass of a few dozen calls. On a
  // cluster SCAN must be asked of the masters themselves (scanKeys does).
  async keys(): Promise<Set<string>> {
    const start = `${this.prefix}:alerts:open:`;
    const found = await scanKeys(this.redis, `${start.replace(/[*?[\]\\]/g, "\\$&")}*`);
    return new Set(found.map((k) => k.slice(start.length)));
  }

  #key(key: string): string {
    return `${this.prefix}:alerts:open:${key}`;
  }

  #parse(key: string, text: string | null): OpenAlert | undefined {
    if (text === null) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`open alert ${key} in Redis is not JSON`);
    }
    const parsed = openAlertSchema.safeParse(json);
    if (!parsed.success)
      throw new Error(
        `open alert ${key} in Redis has an unexpected shape: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    return parsed.data;
  }
}
