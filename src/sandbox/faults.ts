/**
 * Fault knobs shared by the Secrets Manager emulator and the vendor simulators. A test (or the
 * sandbox's control endpoint) arms faults; the server calls `apply` first on every request.
 * Faults are either standing rates (every matching request has a chance) or a queue of "the next
 * N matching requests" for deterministic tests. `hold` parks matching requests until released,
 * so a chaos test can kill a process while it waits inside a call.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type FaultKind =
  | "latency" // answer after `latencyMs`
  | "error" // answer `status` (default 500) with a vendor-shaped error body
  | "timeout" // never answer; the socket stays open until the client gives up
  | "rate-limit" // answer 429 (or the store's ThrottlingException)
  | "malformed" // answer 200 with a body that is not JSON
  | "reset" // destroy the connection without an answer
  | "hold"; // wait until release(), then go on normally

export interface FaultRule {
  kind: FaultKind;
  /** Only requests whose "METHOD path" (or X-Amz-Target for the emulator) contains this. */
  match?: string;
  /** How many matching requests this rule hits; absent means every one (a standing rule). */
  count?: number;
  /** Let this many matching requests through untouched before the rule starts to hit. */
  skip?: number;
  /** Probability a matching request is hit, 0..1 (default 1). */
  rate?: number;
  latencyMs?: number;
  status?: number;
}

export interface FaultDecision {
  rule: FaultRule;
}

export class Faults {
  #rules: FaultRule[] = [];
  #held: Array<(action: "go" | "drop") => void> = [];
  /** How many requests each fault kind has hit, for tests to read. */
  readonly hits: Record<string, number> = {};

  add(rule: FaultRule): this {
    this.addRule(rule);
    return this;
  }

  /** Adds a rule and returns it as stored, for `remove` (a fault window that ends). */
  addRule(rule: FaultRule): FaultRule {
    const stored = { ...rule };
    this.#rules.push(stored);
    return stored;
  }

  /** Removes one rule that addRule returned (a no-op once it is spent or gone); held requests stay held. */
  remove(rule: FaultRule): void {
    this.#rules = this.#rules.filter((r) => r !== rule);
  }

  /** Removes every rule and releases every held request. */
  reset(): void {
    this.#rules = [];
    this.release();
  }

  /** Lets every held request go on. */
  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const go of held) go("go");
  }

  /** Drops every held request without handling it: as if it never reached the server. */
  dropHeld(): void {
    const held = this.#held;
    this.#held = [];
    for (const go of held) go("drop");
  }

  get heldCount(): number {
    return this.#held.length;
  }

  get rules(): readonly FaultRule[] {
    return this.#rules;
  }

  /** Picks the rule (if any) that hits this request, consuming one of its count. */
  pick(label: string, random: () => number = Math.random): FaultRule | undefined {
    for (const rule of this.#rules) {
      if (rule.match !== undefined && !label.includes(rule.match)) continue;
      if (rule.skip !== undefined && rule.skip > 0) {
        rule.skip -= 1;
        continue;
      }
      if (rule.rate !== undefined && random() >= rule.rate) continue;
      if (rule.count !== undefined) {
        rule.count -= 1;
        if (rule.count <= 0) this.#rules = this.#rules.filter((r) => r !== rule);
      }
      this.hits[rule.kind] = (this.hits[rule.kind] ?? 0) + 1;
      return rule;
    }
    return undefined;
  }

  /**
   * Applies the generic part of a fault. Returns the rule when the caller must still answer in
   * its own dialect (`error`, `rate-limit`, `malformed`), or undefined to go on normally.
   * `timeout` and `reset` are fully handled here (the caller must return without answering).
   */
  async apply(label: string, req: IncomingMessage, res: ServerResponse): Promise<FaultRule | "handled" | undefined> {
    const rule = this.pick(label);
    if (!rule) return undefined;
    switch (rule.kind) {
      case "latency":
        await new Promise((r) => setTimeout(r, rule.latencyMs ?? 1000));
        return undefined;
      case "hold": {
        const action = await new Promise<"go" | "drop">((r) => this.#held.push(r));
        if (action === "go") return undefined;
        req.socket.destroy();
        return "handled";
      }
      case "timeout":
        // Keep the socket open and silent; close it only when the client goes away.
        req.socket.setTimeout(0);
        res.on("close", () => undefined);
        return "handled";
      case "reset":
        req.socket.destroy();
        return "handled";
      default:
        return rule;
    }
  }
}

/** Parses a fault rule from a control request body; throws an Error naming the bad field. */
export function parseFaultRule(body: unknown): FaultRule {
  const kinds: FaultKind[] = ["latency", "error", "timeout", "rate-limit", "malformed", "reset", "hold"];
  if (typeof body !== "object" || body === null) throw new Error("fault rule: expected a JSON object");
  const b = body as Record<string, unknown>;
  if (typeof b.kind !== "string" || !kinds.includes(b.kind as FaultKind)) {
    throw new Error(`fault rule.kind: expected one of ${kinds.join(", ")}`);
  }
  const rule: FaultRule = { kind: b.kind as FaultKind };
  for (const field of ["count", "skip", "rate", "latencyMs", "status"] as const) {
    if (b[field] === undefined) continue;
    if (typeof b[field] !== "number" || !Number.isFinite(b[field]))
      throw new Error(`fault rule.${field}: expected a number`);
    rule[field] = b[field];
  }
  if (b.match !== undefined) {
    if (typeof b.match !== "string") throw new Error("fault rule.match: expected a string");
    rule.match = b.match;
  }
  return rule;
}
