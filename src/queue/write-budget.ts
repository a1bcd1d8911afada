/**
 * The store's write budget, per region: Secrets Manager's PutSecretValue / UpdateSecretVersionStage
 * quota (50 a second, not adjustable) is each region's own, so rotations of secrets in one region
 * never wait on another region's. A token bucket per region in Redis (refilled continuously,
 * holding at most one window's slots), shared by every replica, the queue's workers and the
 * emergency lane; one slot per rotation run, as BullMQ's own limiter counts.
 *
 * Why a bucket and not a counter per window: BullMQ's limiter opens its own 1-second windows.
 * Two fixed windows with the same count, not in step, refused a whole burst of jobs that ran their
 * take a few milliseconds before the region's window (opened by the previous burst) ran out: each
 * refused job had spent a slot of BullMQ's window and waited a second. In the integration test
 * (q = 10 writes/s a region) one region lost whole seconds (writes a second: 10 10 10 5 5 10 0 10
 * 0 ...) and three regions wrote 20 a second, not 30. A bucket refuses only the slots that have
 * not come back yet.
 *
 * Must not: block: a spent bucket answers false at once (the caller delays the job, or hands it
 * to the queue). A forged key can hold rotations back one window at most (a bucket is read capped
 * to its size and its time to now, anything else is dropped, and every key gets an expiry).
 */
import type { Redis } from "ioredis";

// BullMQ's own limiter key (a counter per window, which BullMQ's scripts count too): the lane takes
// a slot of it with this. One slot unless the window is full; a counter without an expiry (forged
// or stale) gets one, so it cannot block past one window.
export const TAKE_SLOT = `
local raw = redis.pcall('GET', KEYS[1])
if type(raw) == 'table' and raw.err then redis.call('DEL', KEYS[1]) raw = false end
local n = tonumber(raw or '0')
if n == nil then redis.call('DEL', KEYS[1]) n = 0 end
local ttl = redis.call('PTTL', KEYS[1])
if n >= tonumber(ARGV[1]) and ttl > 0 then return 0 end
if ttl < 0 and n > 0 then redis.call('DEL', KEYS[1]) end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

// A token bucket: KEYS[1] a hash {tokens, at}; ARGV[1] its size (slots a window), ARGV[2] the
// window in ms (the bucket refills its size in a window). Takes one token if there is one; Redis's
// own clock, so every replica's take counts the same time.
export const TAKE_TOKEN = `
local size = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, at = size, now
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local saved, since = tonumber(v[1]), tonumber(v[2])
  if saved and since then
    tokens = math.max(0, math.min(size, saved))
    at = math.min(since, now)
  end
else
  redis.call('DEL', KEYS[1])
end
tokens = math.min(size, tokens + (now - at) * size / window)
local took = 0
if tokens >= 1 then
  tokens = tokens - 1
  took = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 2 * window)
return took
`;

/** One region's bucket, as TAKE_TOKEN takes from it: its key, slots a window, the window in ms. */
export interface WriteBucket {
  key: string;
  size: number;
  windowMs: number;
}

/**
 * A credential's way to its region's budget, the one port both takers use: the queue's processor
 * takes a slot with `take`; the emergency lane takes it inside its admission's script, from the
 * bucket `bucketOf` names. One mapping from credential to region, so the two cannot disagree.
 */
export interface CredentialWriteBudget {
  bucketOf(credentialId: string): WriteBucket;
  /** Takes a slot of the credential's region's budget; false when its bucket is spent. */
  take(credentialId: string): Promise<boolean>;
}

export class RegionWriteBudget {
  constructor(
    private readonly redis: Redis,
    /** The queue prefix (a hash tag on a cluster, so the counters share the queue's slot). */
    private readonly prefix: string,
    /** Rotation runs a region's budget allows per window. */
    readonly perWindow: number,
    readonly windowMs = 1_000,
  ) {}

  /** Where `region`'s bucket is (the emergency lane takes from it in its admission's script). */
  bucket(region: string): WriteBucket {
    return { key: `${this.prefix}:write-budget:${region}`, size: this.perWindow, windowMs: this.windowMs };
  }

  /** Takes a slot of `region`'s budget; false when its bucket is spent. */
  async take(region: string): Promise<boolean> {
    const b = this.bucket(region);
    return (await this.redis.eval(TAKE_TOKEN, 1, b.key, b.size, b.windowMs)) === 1;
  }

  /** This budget seen by credential: `regionOf` names the region (quota) a credential's writes count against. */
  forCredentials(regionOf: (credentialId: string) => string): CredentialWriteBudget {
    return { bucketOf: (id) => this.bucket(regionOf(id)), take: (id) => this.take(regionOf(id)) };
  }
}
