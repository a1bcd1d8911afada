/**
 * The store's write budget, per region: Secrets Manager's PutSecretValue / UpdateSecretVersionStage
 * quota (50 a second, not adjustable) is each region's own, so rotations of secrets in one region
 * never wait on another region's. A counter per region and window in Redis, shared by every
 * replica, the queue's workers and the emergency lane; one slot per rotation run, as BullMQ's own
 * limiter counts.
 *
 * Must not: block: a spent window answers false at once (the caller delays the job, or hands it
 * to the queue). A forged counter can hold rotations back one window at most (it gets an expiry).
 */
import type { Redis } from "ioredis";

// Takes one slot unless the window is full; a counter without an expiry (forged or stale) gets one,
// so it cannot block past one window. Also BullMQ's own limiter key takes this script (the lane).
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

export class RegionWriteBudget {
  constructor(
    private readonly redis: Redis,
    /** The queue prefix (a hash tag on a cluster, so the counters share the queue's slot). */
    private readonly prefix: string,
    /** Rotation runs a region's budget allows per window. */
    readonly perWindow: number,
    readonly windowMs = 1_000,
  ) {}

  /** Takes a slot of `region`'s budget for this window; false when it is spent. */
  async take(region: string): Promise<boolean> {
    return (
      (await this.redis.eval(TAKE_SLOT, 1, `${this.prefix}:write-budget:${region}`, this.perWindow, this.windowMs)) ===
      1
    );
  }
}
