/** The Twilio simulator over real HTTP: what Twilio's Key resource docs say, as docs/vendors.md lists it. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rfc2822, SANDBOX_TWILIO, startTwilioSimulator, type TwilioSimulator } from "../../src/sandbox/twilio-sim.js";

let sim: TwilioSimulator;
let now: number;
const { accountSid, authToken } = SANDBOX_TWILIO;
const base = `/2010-04-01/Accounts/${accountSid}`;
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});
const admin = basic(accountSid, authToken);

beforeEach(async () => {
  now = Date.UTC(2026, 2, 3, 4, 5, 6);
  sim = await startTwilioSimulator({ clock: () => now, requestsPerSecond: 5 });
});
afterEach(async () => sim.close());

const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
  fetch(`${sim.url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/x-www-form-urlencoded", ...headers },
    ...(body === undefined ? {} : { body }),
  });
/** Creates a key through the API, a second later than the last call (the fixed clock's per-second budget). */
const create = async (name: string) => {
  now += 1000;
  return (await (
    await call("POST", `${base}/Keys.json`, admin, `FriendlyName=${encodeURIComponent(name)}`)
  ).json()) as {
    sid: string;
    secret: string;
  };
};
const err401 = {
  code: 20003,
  message: "Authentication Error - invalid username",
  more_info: "https://www.twilio.com/docs/errors/20003",
  status: 401,
};

describe("Twilio simulator: the Key resource", () => {
  it("creates a key (201, SK sid, secret once, RFC 2822 dates) that then authenticates", async () => {
    const res = await call("POST", `${base}/Keys.json`, admin, "FriendlyName=rotated%201");
    expect(res.status).toBe(201);
    const k = (await res.json()) as Record<string, string>;
    expect(k).toEqual({
      sid: expect.stringMatching(/^SK[0-9a-f]{32}$/),
      friendly_name: "rotated 1",
      date_created: "Tue, 03 Mar 2026 04:05:06 +0000",
      date_updated: "Tue, 03 Mar 2026 04:05:06 +0000",
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    });
    const verify = await call("GET", `${base}/Messages.json?PageSize=1`, basic(k.sid ?? "", k.secret ?? ""));
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ messages: [], next_page_uri: null, page: 0, page_size: 1 });
    const fetched = await call("GET", `${base}/Keys/${k.sid}.json`, admin);
    expect(await fetched.json()).toEqual({
      sid: k.sid,
      friendly_name: "rotated 1",
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
    });
  });

  it("lists in pages: next_page_uri relative with a PageToken, null on the last page, no secrets", async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await create(`k${i}`));
    const seen: string[] = [];
    let uri: string | null = `${base}/Keys.json?PageSize=2`;
    const pages = [];
    while (uri) {
      now += 1000;
      const res = await call("GET", uri, admin);
      expect(res.status).toBe(200);
      const page = (await res.json()) as {
        keys: Array<Record<string, string>>;
        next_page_uri: string | null;
        page: number;
        page_size: number;
        first_page_uri: string;
        start: number;
        end: number;
      };
      pages.push(page);
      for (const k of page.keys) {
        expect(k).not.toHaveProperty("secret");
        seen.push(k.sid ?? "");
      }
      uri = page.next_page_uri;
      if (uri) expect(uri).toMatch(new RegExp(`^${base}/Keys\\.json\\?PageSize=2&Page=\\d&PageToken=PASK`));
    }
    expect(seen).toEqual(made.map((k) => k.sid));
    expect(pages.map((p) => [p.page, p.keys.length, p.start, p.end])).toEqual([
      [0, 2, 0, 1],
      [1, 2, 2, 3],
      [2, 1, 4, 4],
    ]);
    expect(pages[0]?.first_page_uri).toBe(`${base}/Keys.json?PageSize=2&Page=0`);
    const bad = await call("GET", `${base}/Keys.json?PageSize=2&PageToken=PAnope`, admin);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: number }).code).toBe(21481);
  });

  it("deletes with 204; the key is then refused (401, 20003) and a second delete is 404 (20404)", async () => {
    const k = await create("old");
    expect((await call("DELETE", `${base}/Keys/${k.sid}.json`, admin)).status).toBe(204);
    expect(sim.isKeyActive(k.sid)).toBe(false);
    const refused = await call("GET", `${base}/Messages.json`, basic(k.sid, k.secret));
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual(err401);
    const again = await call("DELETE", `${base}/Keys/${k.sid}.json`, admin);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({
      code: 20404,
      message: `The requested resource ${base}/Keys/${k.sid}.json was not found`,
      more_info: "https://www.twilio.com/docs/errors/20404",
      status: 404,
    });
    expect(sim.keyHistory().find((h) => h.id === k.sid)).toEqual({
      id: k.sid,
      name: "old",
      createdAt: now,
      revokedAt: now,
      active: false,
    });
  });

  it("refuses bad credentials, another account's path, and a Standard key on /Keys and /Accounts", async () => {
    const k = await create("standard");
    const cases: Array<[string, Record<string, string>]> = [
      [`${base}/Keys.json`, {}],
      [`${base}/Keys.json`, basic(accountSid, "wrong")],
      [`${base}/Keys.json`, basic(k.sid, `${k.secret}x`)],
      [`${base}/Keys.json`, basic(k.sid, k.secret)],
      [`${base}.json`, basic(k.sid, k.secret)],
      [`/2010-04-01/Accounts/AC${"0".repeat(32)}/Keys.json`, admin],
    ];
    for (const [path, headers] of cases) {
      const res = await call("GET", path, headers);
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual(err401);
    }
    expect((await call("GET", `${base}.json`, admin)).status).toBe(200);
  });

  it("lets a Main key (made in the Console) manage keys, as the Auth Token does", async () => {
    const main = sim.issueKey("console main", { main: true });
    const res = await call("POST", `${base}/Keys.json`, basic(main.id, main.key), "FriendlyName=by-main");
    expect(res.status).toBe(201);
    const account = await call("GET", `${base}.json`, basic(main.id, main.key));
    expect(await account.json()).toMatchObject({ sid: accountSid, status: "active" });
    expect(JSON.stringify(await (await call("GET", `${base}.json`, admin)).json())).not.toContain(authToken);
  });

  it("answers 429 with code 20429 past the per-second budget, and again after the second turns", async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call("GET", `${base}/Keys.json`, admin)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await call("GET", `${base}/Keys.json`, admin);
    expect(await limited.json()).toEqual({
      code: 20429,
      message: "Too Many Requests",
      more_info: "https://www.twilio.com/docs/errors/20429",
      status: 429,
    });
    now += 1000;
    expect((await call("GET", `${base}/Keys.json`, admin)).status).toBe(200);
  });

  it("fault knobs: an armed 503 answers in Twilio's shape, once, and is counted; /__sim/keys shows history", async () => {
    await fetch(`${sim.url}/__sim/faults`, {
      method: "POST",
      body: JSON.stringify({ kind: "error", status: 503, match: "DELETE", count: 1 }),
    });
    const k = await create("faulty");
    const hit = await call("DELETE", `${base}/Keys/${k.sid}.json`, admin);
    expect(hit.status).toBe(503);
    expect(await hit.json()).toMatchObject({ status: 503 });
    expect(sim.isKeyActive(k.sid)).toBe(true);
    expect((await call("DELETE", `${base}/Keys/${k.sid}.json`, admin)).status).toBe(204);
    expect(sim.requestsByRoute["DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json"]).toBe(2);
    const listed = (await (await fetch(`${sim.url}/__sim/keys`)).json()) as { data: Array<Record<string, unknown>> };
    expect(listed.data).toEqual([
      expect.objectContaining({ id: k.sid, active: false, created_at_ms: now, revoked_at_ms: now }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(k.secret);
  });
});
