/**
 * The CallCov simulator's key history (issue 16, item 12): every key records when it was made and
 * when it was revoked, in process (keyHistory) and over the test-only control surface
 * (`GET /__sim/keys`), so checks from outside can say exactly which keys were live when.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CallCovSimulator, startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";

let sim: CallCovSimulator;
let now: number;
const account = { email: "user@example.com", password: "SecurePassword123!" };

beforeEach(async () => {
  now = Date.UTC(2026, 10, 23, 10, 0, 0);
  sim = await startCallCovSimulator({ clock: () => now, accounts: [account], plan: "business" });
});
afterEach(async () => sim.close());

async function token(): Promise<string> {
  const res = await fetch(`${sim.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(account),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

interface ListedKey {
  id: string;
  name: string;
  active: boolean;
  created_at: string;
  created_at_ms: number;
  revoked_at: string | null;
  revoked_at_ms: number | null;
}

describe("CallCov simulator: key history", () => {
  it("records creation and revocation times of keys made and revoked over the API", async () => {
    const jwt = await token();
    const auth = { authorization: `Bearer ${jwt}`, "content-type": "application/json" };
    const made = (await (
      await fetch(`${sim.url}/api/v1/api-keys/`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ name: "key-rotator/cc-1/r1" }),
      })
    ).json()) as { id: string; key: string };
    const other = sim.issueKey("made by hand");
    now += 5_000;
    expect((await fetch(`${sim.url}/api/v1/api-keys/${made.id}`, { method: "DELETE", headers: auth })).status).toBe(
      204,
    );
    now += 5_000;
    // A second revoke is a 404 and does not move the recorded time.
    expect((await fetch(`${sim.url}/api/v1/api-keys/${made.id}`, { method: "DELETE", headers: auth })).status).toBe(
      404,
    );

    const t0 = Date.UTC(2026, 10, 23, 10, 0, 0);
    expect(sim.keyHistory()).toEqual([
      { id: made.id, name: "key-rotator/cc-1/r1", createdAt: t0, revokedAt: t0 + 5_000, active: false },
      { id: other.id, name: "made by hand", createdAt: t0, active: true },
    ]);

    const res = await fetch(`${sim.url}/__sim/keys`);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: ListedKey[] };
    expect(
      data.map((k) => ({
        id: k.id,
        active: k.active,
        created: k.created_at_ms,
        revoked: k.revoked_at_ms,
        revokedIso: k.revoked_at,
      })),
    ).toEqual([
      { id: made.id, active: false, created: t0, revoked: t0 + 5_000, revokedIso: new Date(t0 + 5_000).toISOString() },
      { id: other.id, active: true, created: t0, revoked: null, revokedIso: null },
    ]);
    expect(data[0]?.created_at).toBe(new Date(t0).toISOString());
    // Every request counted by route, key ids folded into {id}.
    expect(sim.state.counters.requestsByRoute).toMatchObject({
      "POST /api/v1/auth/login": 1,
      "POST /api/v1/api-keys/": 1,
      "DELETE /api/v1/api-keys/{id}": 2,
    });
    // The control surface never shows a key's value.
    expect(JSON.stringify(data)).not.toContain(made.key);
    expect(JSON.stringify(data)).not.toContain(other.key);
  });

  it("the product's own list still shows only active keys", async () => {
    const a = sim.issueKey("a");
    sim.issueKey("b");
    sim.state.revoke(a.id);
    const jwt = await token();
    const listed = (await (
      await fetch(`${sim.url}/api/v1/api-keys/`, { headers: { authorization: `Bearer ${jwt}` } })
    ).json()) as { data: Array<{ id: string; revoked_at?: unknown }> };
    expect(listed.data.map((k) => k.id)).not.toContain(a.id);
    expect(listed.data.every((k) => k.revoked_at === undefined)).toBe(true);
  });
});
