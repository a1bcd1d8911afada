/**
 * The keys of one simulated vendor account, without HTTP: every key ever made (revoked ones stay,
 * for keyHistory and `GET /__sim/keys`), found by id or by its secret. Shared by the Twilio,
 * SendGrid and Datadog simulators. Must not: hand a secret to anything but the create answer and
 * the test that seeded the key.
 */
import { timingSafeEqual } from "node:crypto";
import type { KeyRecord } from "../callcov/callcov-state.js";

export type { KeyRecord };

export interface LedgerKey<M> {
  id: string;
  name: string;
  secret: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms of the revocation; absent while the key is active. */
  revokedAt?: number;
  active: boolean;
  /** What the vendor keeps beside the key: scopes, key type, ... */
  meta: M;
}

export class KeyLedger<M> {
  readonly #keys = new Map<string, LedgerKey<M>>();
  readonly #activeBySecret = new Map<string, LedgerKey<M>>();

  constructor(public clock: () => number) {}

  add(key: { id: string; name: string; secret: string; meta: M }): LedgerKey<M> {
    const stored: LedgerKey<M> = { ...key, createdAt: this.clock(), active: true };
    this.#keys.set(stored.id, stored);
    this.#activeBySecret.set(stored.secret, stored);
    return stored;
  }

  /** false when no active key has this id (unknown, or revoked already). */
  revoke(id: string): boolean {
    const k = this.#keys.get(id);
    if (!k || !k.active) return false;
    k.active = false;
    k.revokedAt = this.clock();
    this.#activeBySecret.delete(k.secret);
    return true;
  }

  get(id: string): LedgerKey<M> | undefined {
    return this.#keys.get(id);
  }

  /** The active key whose secret this is, compared in constant time once found. */
  findActive(secret: string): LedgerKey<M> | undefined {
    const k = this.#activeBySecret.get(secret);
    return k?.active && safeEqual(k.secret, secret) ? k : undefined;
  }

  /** Every key ever made, in creation order. */
  all(): LedgerKey<M>[] {
    return [...this.#keys.values()];
  }

  active(): LedgerKey<M>[] {
    return this.all().filter((k) => k.active);
  }

  /** Every key's life, in creation order, never its secret. */
  history(): KeyRecord[] {
    return this.all().map((k) => ({
      id: k.id,
      name: k.name,
      createdAt: k.createdAt,
      ...(k.revokedAt !== undefined ? { revokedAt: k.revokedAt } : {}),
      active: k.active,
    }));
  }
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
