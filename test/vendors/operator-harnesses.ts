/**
 * For every operator-flow (dashboard-only) vendor in the registry, how tests reach it: its
 * simulator started on a free port, and the person at its dashboard, who makes a key (getting its
 * parts, as `submit` takes them by name) and revokes one, over the simulator's dashboard controls.
 * The product never calls a dashboard; only this file, playing the person, does. An operator
 * vendor without an entry here fails the operator-flow contract suite: adding one means adding
 * its simulator here too.
 */
import type { Faults } from "../../src/sandbox/faults.js";
import { startAnthropicSimulator } from "../../src/sandbox/anthropic-sim.js";
import { startJustCallSimulator } from "../../src/sandbox/justcall-sim.js";

/** A key's parts by the definition's part names, in the definition's order: `{apiKey, apiSecret}`. */
export type KeyParts = Record<string, string>;

export interface RunningOperator {
  /** The simulator's base URL: the credential's `baseUrl`. */
  baseUrl: string;
  faults: Faults;
  /** Makes a key in the vendor's dashboard, as a person would; its parts are shown this once. */
  makeKey(): Promise<KeyParts>;
  /** Revokes (deletes) the key in the vendor's dashboard, as a person would. */
  revokeKey(key: KeyParts): Promise<void>;
  /** Whether the vendor still accepts the key. */
  isActive(key: KeyParts): boolean;
  /** The status the vendor's verify answers for a key it does not accept (401 unless told). */
  refusedStatus?: number;
  stop(): Promise<void>;
}

export interface OperatorHarness {
  start(): Promise<RunningOperator>;
}

async function dashboard(url: string, method: "POST" | "DELETE", body?: unknown): Promise<unknown> {
  const res = await fetch(url, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!res.ok) throw new Error(`the dashboard refused ${method} (${res.status})`);
  return res.json();
}

export const OPERATOR_HARNESSES: Record<string, OperatorHarness> = {
  justcall: {
    async start() {
      const sim = await startJustCallSimulator();
      return {
        baseUrl: sim.url,
        faults: sim.faults,
        makeKey: async () => {
          const pair = (await dashboard(`${sim.url}/__dashboard/pairs`, "POST")) as KeyParts;
          return { apiKey: pair.apiKey ?? "", apiSecret: pair.apiSecret ?? "" };
        },
        revokeKey: async (key) =>
          void (await dashboard(`${sim.url}/__dashboard/pairs/${encodeURIComponent(key.apiKey ?? "")}`, "DELETE")),
        isActive: (key) => sim.listPairs().some((p) => p.apiKey === key.apiKey && p.active),
        stop: () => sim.close(),
      };
    },
  },
  anthropic: {
    async start() {
      const sim = await startAnthropicSimulator();
      // The Console lists keys by id and name; the person knows which id a key they made has.
      const ids = new Map<string, string>();
      const idOf = (key: KeyParts) => ids.get(key.apiKey ?? "") ?? "unknown";
      return {
        baseUrl: sim.url,
        faults: sim.faults,
        makeKey: async () => {
          const made = (await dashboard(`${sim.url}/__sim/keys`, "POST", { name: "key-rotator contract" })) as {
            id: string;
            key: string;
          };
          ids.set(made.key, made.id);
          return { apiKey: made.key };
        },
        revokeKey: async (key) =>
          void (await dashboard(`${sim.url}/__sim/keys/${encodeURIComponent(idOf(key))}`, "DELETE")),
        isActive: (key) => sim.isKeyActive(idOf(key)),
        stop: () => sim.close(),
      };
    },
  },
};
