/**
 * CallCov's key list in pages (DESIGN.md: `?cursor=`, `{ data, next_cursor }`): the simulator
 * pages, the adapter follows every page, stops early with `limit`, still reads a vendor that does
 * not page, and ends a read that loops or never ends instead of reading forever.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { VendorError } from "../../../src/core/errors.js";
import { SecretValue } from "../../../src/core/secret.js";
import { type CallCovSimulator, startCallCovSimulator } from "../../../src/sandbox/callcov-sim.js";
import { CallCovVendor } from "../../support/seed-vendors.js";

const LOGIN = { email: "ops@example.com", password: "SecurePassword123!" };
let sim: CallCovSimulator | undefined;
afterEach(async () => sim?.close());

const vendorAt = (baseUrl: string) =>
  new CallCovVendor({
    baseUrl,
    mode: "live",
    loadLogin: async () => ({ email: LOGIN.email, password: new SecretValue(LOGIN.password) }),
    timeoutMs: 2_000,
  });

async function simWith(keys: number, listPageSize?: number): Promise<CallCovSimulator> {
  sim = await startCallCovSimulator({
    accounts: [LOGIN],
    managementPerMinute: 10_000,
    ...(listPageSize ? { listPageSize } : {}),
  });
  for (let i = 0; i < keys; i++) sim.issueKey(`key-rotator/c${i}/r${i}`);
  return sim;
}

describe("CallCov's key list in pages", () => {
  it("the simulator answers pages of at most its page size with a cursor, null on the last", async () => {
    const s = await simWith(1_200);
    const token = (await (
      await fetch(`${s.url}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(LOGIN),
      })
    ).json()) as { access_token: string };
    const auth = { authorization: `Bearer ${token.access_token}` };
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await fetch(`${s.url}/api/v1/api-keys/${cursor ? `?cursor=${cursor}` : ""}`, { headers: auth });
      const page = (await res.json()) as { data: unknown[]; next_cursor: string | null };
      sizes.push(page.data.length);
      cursor = page.next_cursor;
    } while (cursor);
    expect(sizes).toEqual([500, 500, 200]);
    expect((await fetch(`${s.url}/api/v1/api-keys/?cursor=bm9wZQ`, { headers: auth })).status).toBe(400);
  });

  it("the adapter reads every page, skipping revoked keys; `limit` stops after the page that reaches it", async () => {
    const s = await simWith(40, 7);
    const v = vendorAt(s.url);
    const all = await v.listKeys();
    expect(all).toHaveLength(40);
    expect(new Set(all.map((k) => k.keyId)).size).toBe(40);
    const before = s.state.counters.requestsByRoute["GET /api/v1/api-keys/"] ?? 0;
    expect(await v.listKeys({ limit: 1 })).toHaveLength(7);
    expect(s.state.counters.requestsByRoute["GET /api/v1/api-keys/"]).toBe(before + 1);
  });

  it("reads a vendor that does not page (one answer, no next_cursor)", async () => {
    const s = await simWith(30, Number.POSITIVE_INFINITY);
    expect(await vendorAt(s.url).listKeys()).toHaveLength(30);
  });

  it("a cursor that comes back again is a loop: an error, not an endless read", async () => {
    let pages = 0;
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/api/v1/auth/login")) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ access_token: "a", refresh_token: "r", expires_in: 1800 }));
      }
      pages += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: [], next_cursor: pages % 2 === 0 ? "two" : "one" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const err = await vendorAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
        .listKeys()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VendorError);
      expect((err as Error).message).toMatch(/loop/);
      expect(pages).toBe(3);
    } finally {
      server.close();
    }
  });
});
