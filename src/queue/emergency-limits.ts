/**
 * Emergencies are bounded and audited (DESIGN.md rule 10), for every replica and the CLI alike:
 *
 * - a cooldown per credential: after an emergency starts a rotation, the next one for that
 *   credential is refused for `cooldownMs` (AWS asks for at most one PutSecretValue per secret per
 *   10 minutes), unless forced with a reason;
 * - a global cap: at most `maxPerMinute` emergencies start in any 60 s, across all credentials
 *   and replicas. Forcing does not lift it: it is the fleet's bound on what people can start;
 * - a breach drill (breach-drill.ts) is one declaration for every credential of a vendor: each
 *   of its rotations passes its credential's cooldown, but not the cap (a drill is paced by the
 *   write budget instead), and does not count against it;
 * - the store's write budget is the lane's to share (emergency-lane.ts); a forced emergency too.
 *   The lane asks for its slot of the budget with the admission, in the same script: an emergency
 *   refused takes no slot, and one admitted reaches its first store call two round trips sooner.
 *
 * Joining is not free, so it is gated too: an emergency counts from its own request (rule 10),
 * so one that joins a rotation whose new key was made before the request makes that rotation run
 * again at once (a new key, two more store writes). Every emergency request therefore passes the
 * same gate whether it would start a rotation or join one; a refused request changes nothing in
 * flight, and refused requests never count against the cap.
 *
 * Both counters live in Redis, so any replica sees them, and Redis content is not trusted to
 * delay longer than one bound: a cooldown stamp in the future, garbage, or a key of the wrong
 * type is reset to "now" when first seen, so it delays an emergency by at most one cooldown;
 * cap entries dated in the future are dropped, so a forged cap delays by at most one minute. Time
 * is Redis's own (TIME), one clock for every replica.
 *
 * Every refusal is audited: a `emergency.refused` log line and an entry in the credential's audit
 * trail (rotation-history-store.ts), which `key-rotator history` shows; so is every forced emergency.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { RotatorError } from "../core/errors.js";
import type { Logger } from "../observability/logger.js";
import type { RotationHistory } from "./rotation-history-store.js";
import type { Enqueued, RotationRequest } from "./rotation-queue.js";
import type { EmergencySettings } from "../config/runtime-config.js";
import { TAKE_SLOT, TAKE_TOKEN, type WriteBucket } from "./write-budget.js";

/** Why an emergency was turned away. */
export type RefusedFor = "cooldown" | "global-cap";

/**
 * An emergency was refused by its bounds: nothing was started. The admin endpoint answers 429 with
 * `Retry-After`, the CLI exits 1 with the same message. Retryable after `retryAfterSeconds`.
 */
export class EmergencyRefusedError extends RotatorError {
  readonly refusedFor: RefusedFor;
  readonly retryAfterSeconds: number;
  constructor(message: string, refusedFor: RefusedFor, retryAfterSeconds: number) {
    super(message, { retryable: true });
    this.refusedFor = refusedFor;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export type Admission =
  | {
      admitted: true;
      ticket: string;
      at: number;
      previous: number | undefined;
      /** The lane's write budget, when asked for with the admission: taken, or spent this window. */
      budget?: boolean;
    }
  | { admitted: false; refusedFor: RefusedFor; retryAfterMs: number };

const WINDOW_MS = 60_000;

// KEYS: cooldown stamp of the credential, the cap's sorted set. ARGV: cooldownMs, maxPerMinute,
// force (1/0), ticket, capped (1/0: 0 for a breach drill's rotation, which the cap does not count).
// Returns {1, now, previous stamp or -1} or {0, refusedFor, retryAfterMs}.
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooldown = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local force = ARGV[3] == '1'
local previous = -1
local raw = redis.pcall('GET', KEYS[1])
if type(raw) == 'table' and raw.err then
  redis.call('DEL', KEYS[1])
  raw = false
end
if raw then
  local since = tonumber(raw)
  if since == nil or since ~= since or since > now then
    since = now
    if cooldown > 0 then redis.call('SET', KEYS[1], now, 'PX', cooldown) else redis.call('DEL', KEYS[1]) end
  end
  previous = since
  local left = since + cooldown - now
  if left > 0 and not force then
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 or ttl > left then redis.call('PEXPIRE', KEYS[1], left) end
    return {0, 'cooldown', left}
  end
end
if ARGV[5] ~= '0' then
  if redis.call('TYPE', KEYS[2]).ok ~= 'zset' then redis.call('DEL', KEYS[2]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${WINDOW_MS})
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
  if redis.call('ZCARD', KEYS[2]) >= cap then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, 'global-cap', math.max(1, tonumber(oldest[2]) + ${WINDOW_MS} - now)}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ${WINDOW_MS})
end
if cooldown > 0 then redis.call('SET', KEYS[1], now, 'PX', cooldown) end
return {1, now, previous}
`;

// Undoes an admission whose request started nothing. KEYS as above. ARGV: the
// admission's stamp, its ticket, the stamp it replaced (or -1), cooldownMs.
const REFUND = `
redis.pcall('ZREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local previous = tonumber(ARGV[3])
local left = previous + tonumber(ARGV[4]) - tonumber(ARGV[1])
if previous >= 0 and left > 0 then
  redis.call('SET', KEYS[1], previous, 'PX', left)
else
  redis.call('DEL', KEYS[1])
end
return 1
`;

/**
 * The emergency lane's slot of the store's write budget (write-budget.ts): a token of the
 * credential's region's bucket (absent: no budget beyond the limiter), then a slot of BullMQ's
 * limiter counter, as `TAKE_TOKEN` and `TAKE_SLOT` take them.
 */
export interface LaneBudget {
  region?: WriteBucket | undefined;
  limiter: { key: string; max: number; windowMs: number };
}

const asFunction = (name: string, body: string) => `local function ${name}(KEYS, ARGV)\n${body}\nend\n`;

// ADMIT, then (admitted only) the region's token and the limiter's slot, in one script: the keys
// share the queue prefix's hash tag. KEYS: ADMIT's two, the region's bucket (the limiter again
// when there is none), the limiter. ARGV: ADMIT's five, the bucket's size and window ('' for none),
// the limiter's max and window. Returns ADMIT's answer, with 1 (taken) or 0 (spent) after an admission.
const ADMIT_AND_TAKE = `${asFunction("admit", ADMIT)}${asFunction("take_token", TAKE_TOKEN)}${asFunction("take_slot", TAKE_SLOT)}
local admitted = admit({KEYS[1], KEYS[2]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]})
if admitted[1] ~= 1 then return admitted end
local took = 1
if ARGV[6] ~= '' then took = take_token({KEYS[3]}, {ARGV[6], ARGV[7]}) end
if took == 1 then took = take_slot({KEYS[4]}, {ARGV[8], ARGV[9]}) end
return {admitted[1], admitted[2], admitted[3], took}
`;

export class EmergencyLimits {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly settings: EmergencySettings,
  ) {}

  #keys(credentialId: string): [string, string] {
    return [`${this.prefix}:emergency:cooldown:${credentialId}`, `${this.prefix}:emergency:started`];
  }

  /**
   * Admits one emergency that would start a rotation (and counts it), or says why not and for how
   * long. `capped: false` is a breach drill's (breach-drill.ts): its cooldown only, outside the cap.
   * With `budget`, an admission also takes the lane's slot of the write budget (`budget` in the answer).
   */
  async admit(credentialId: string, force: boolean, capped = true, budget?: LaneBudget): Promise<Admission> {
    const ticket = randomUUID();
    const args = [this.settings.cooldownMs, this.settings.maxPerMinute, force ? 1 : 0, ticket, capped ? 1 : 0];
    const reply = (
      budget
        ? await this.redis.eval(
            ADMIT_AND_TAKE,
            4,
            ...this.#keys(credentialId),
            budget.region?.key ?? budget.limiter.key,
            budget.limiter.key,
            ...args,
            budget.region?.size ?? "",
            budget.region?.windowMs ?? "",
            budget.limiter.max,
            budget.limiter.windowMs,
          )
        : await this.redis.eval(ADMIT, 2, ...this.#keys(credentialId), ...args)
    ) as [number, string | number, number, number?];
    if (reply[0] !== 1) return { admitted: false, refusedFor: reply[1] as RefusedFor, retryAfterMs: reply[2] };
    const admission = {
      admitted: true as const,
      ticket,
      at: Number(reply[1]),
      previous: reply[2] >= 0 ? reply[2] : undefined,
    };
    return budget ? { ...admission, budget: reply[3] === 1 } : admission;
  }

  /** Gives back an admission whose request started nothing (its start failed). */
  async refund(credentialId: string, admission: Extract<Admission, { admitted: true }>): Promise<void> {
    await this.redis.eval(
      REFUND,
      2,
      ...this.#keys(credentialId),
      admission.at,
      admission.ticket,
      admission.previous ?? -1,
      this.settings.cooldownMs,
    );
  }
}

export interface EmergencyGate {
  limits: EmergencyLimits;
  history: RotationHistory;
  log: Logger;
  now(): number;
}

export type EmergencyRequest = RotationRequest & { force?: boolean };

/**
 * Starts an emergency within its bounds: admits it and calls `start` (the lane, or the queue, which
 * may join a rotation in flight), or audits the refusal and throws EmergencyRefusedError. With
 * `budget` the admission takes the lane's slot of the write budget too (`start` is told whether).
 */
export async function gateEmergency(
  gate: EmergencyGate,
  request: EmergencyRequest,
  start: (request: RotationRequest, budget: boolean | undefined) => Promise<Enqueued>,
  budget?: LaneBudget,
): Promise<Enqueued> {
  const { force = false, ...rotation } = request;
  const admission = await gate.limits.admit(request.credentialId, force, true, budget);
  if (!admission.admitted) return refuse(gate, request, admission.refusedFor, admission.retryAfterMs);
  if (force)
    await audit(
      gate,
      { event: "emergency.forced", request },
      `emergency for ${request.credentialId} forced past its cooldown by ${request.actor ?? "unknown"}`,
    );
  try {
    return await start(rotation, admission.budget);
  } catch (err) {
    // Nothing was started (Redis went away, say): the next request should not wait for this one.
    await gate.limits.refund(request.credentialId, admission).catch(() => undefined);
    throw err;
  }
}

async function refuse(
  gate: EmergencyGate,
  request: EmergencyRequest,
  refusedFor: RefusedFor,
  retryAfterMs: number,
): Promise<never> {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const message =
    refusedFor === "cooldown"
      ? `emergency for ${request.credentialId} refused: it had an emergency rotation less than the cooldown ago; retry in ${retryAfterSeconds}s, or force it with a reason`
      : `emergency for ${request.credentialId} refused: the fleet-wide cap of emergencies per minute is reached; retry in ${retryAfterSeconds}s`;
  await audit(gate, { event: "emergency.refused", request, refusedFor, retryAfterSeconds }, message);
  throw new EmergencyRefusedError(message, refusedFor, retryAfterSeconds);
}

async function audit(
  gate: EmergencyGate,
  e: {
    event: "emergency.refused" | "emergency.forced";
    request: EmergencyRequest;
    refusedFor?: RefusedFor;
    retryAfterSeconds?: number;
  },
  message: string,
): Promise<void> {
  const { credentialId, actor = "unknown", reason } = e.request;
  const entry = {
    at: gate.now(),
    credentialId,
    event: e.event,
    actor,
    ...(reason ? { reason } : {}),
    ...(e.refusedFor ? { refusedFor: e.refusedFor } : {}),
    ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}),
  };
  const { at: _at, ...logged } = entry;
  gate.log.warn(logged, message);
  await gate.history.audit(entry);
}
