/**
 * A Twilio REST API (2010-04-01) simulator for the Key resource: a key is an id (`SK…`) plus a
 * secret, used as HTTP Basic user and password. Follows Twilio's public docs (cited in
 * docs/vendors.md): create/list/fetch/delete under `/2010-04-01/Accounts/{AccountSid}/Keys`,
 * form-encoded requests, RFC 2822 dates, list pages with `next_page_uri`, and errors as
 * `{code, message, more_info, status}` (20003 on 401, 20404 on 404, 20429 on 429, 21481 for a bad
 * PageToken). Keys made through the API are Standard keys, which Twilio refuses on `/Accounts`
 * and `/Keys` (20003); only the account's Auth Token or a Main key (made in the Console, here
 * `issueKey(name, { main: true })`) manage keys. So a key is verified on a resource a Standard key
 * may read: `GET .../Messages.json`. Twilio documents no rate-limit headers: a 429 carries none.
 * Must not: list or fetch a secret, or put one in an error.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Faults } from "./faults.js";
import { FixedWindow } from "./key-sims/fixed-window.js";
import { KeyLedger, type KeyRecord, type LedgerKey, safeEqual } from "./key-sims/key-ledger.js";
import { decodeSegment, send, sendEmpty, serveKeySim } from "./key-sims/key-sim-server.js";

/** The sandbox's Twilio account. Made up, for the local simulator only: no real account has them. */
export const SANDBOX_TWILIO = {
  accountSid: "ACac56de48c0798954b972d41d536b1926",
  authToken: "dcb8f731be68a6b1280a295b70828299",
} as const;

const MORE_INFO = "https://www.twilio.com/docs/errors";
const twilioError = (code: number, status: number, message: string) => ({
  code,
  message,
  more_info: `${MORE_INFO}/${code}`,
  status,
});

export const TWILIO_ERRORS = {
  /** The body Twilio's support article shows for credentials refused on the Accounts API. */
  authenticate: twilioError(20003, 401, "Authentication Error - invalid username"),
  tooManyRequests: twilioError(20429, 429, "Too Many Requests"),
  invalidPageToken: twilioError(21481, 400, "Invalid PageToken"),
  notFound: (path: string) => twilioError(20404, 404, `The requested resource ${path} was not found`),
} as const;

interface TwilioKeyMeta {
  main: boolean;
}

export interface TwilioSimulator {
  url: string;
  faults: Faults;
  accountSid: string;
  /** Seeds a key as if made in the Console; `main: true` makes a Main key, which may manage keys. */
  issueKey(name: string, options?: { main?: boolean }): { id: string; key: string };
  isKeyActive(id: string): boolean;
  /** Every key ever made with its creation and revocation times (epoch ms), in creation order. */
  keyHistory(): KeyRecord[];
  /** Every request received, by route ("DELETE /2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json"). */
  requestsByRoute: Record<string, number>;
  close(): Promise<void>;
}

export interface TwilioSimulatorOptions {
  port?: number;
  host?: string;
  clock?: () => number;
  account?: { accountSid: string; authToken: string };
  /** Requests a second per account before a 429 (Twilio limits concurrency; this stands in for it). */
  requestsPerSecond?: number;
}

const ACCOUNT_PATH = /^\/2010-04-01\/Accounts\/([^/]+?)(\.json|\/.*)?$/;
const KEY_PATH = /^\/Keys\/([^/]+)\.json$/;

export async function startTwilioSimulator(options: TwilioSimulatorOptions = {}): Promise<TwilioSimulator> {
  const clock = options.clock ?? Date.now;
  const account = options.account ?? SANDBOX_TWILIO;
  const ledger = new KeyLedger<TwilioKeyMeta>(clock);
  const budget = new FixedWindow(clock, options.requestsPerSecond ?? 100, 1);
  const issue = (name: string, main = false) => {
    const k = ledger.add({
      id: `SK${randomBytes(16).toString("hex")}`,
      name,
      secret: randomBytes(24).toString("base64url").slice(0, 32),
      meta: { main },
    });
    return { id: k.id, key: k.secret };
  };

  const server = await serveKeySim(options, ledger, (name) => issue(name), {
    route: (method, path) => {
      const m = ACCOUNT_PATH.exec(path);
      if (!m) return `${method} ${path}`;
      const rest = (m[2] ?? "").replace(KEY_PATH, "/Keys/{Sid}.json");
      return `${method} /2010-04-01/Accounts/{AccountSid}${rest}`;
    },
    fault: (rule, res) =>
      rule.kind === "rate-limit"
        ? send(res, 429, TWILIO_ERRORS.tooManyRequests)
        : send(res, rule.status ?? 500, twilioError(20500, rule.status ?? 500, "Internal Server Error")),
    failure: (status, res) =>
      send(
        res,
        status,
        status === 413
          ? twilioError(20001, 413, "The request body exceeds 1 MiB")
          : twilioError(20500, 500, "Internal Server Error"),
      ),
    handle: ({ method, path, url, body, req }, res) => {
      const m = ACCOUNT_PATH.exec(path);
      const sid = m ? decodeSegment(m[1] ?? "") : undefined;
      if (!m || sid === undefined) return send(res, 404, TWILIO_ERRORS.notFound(path));
      const who = authenticate(req, sid);
      if (!who) return send(res, 401, TWILIO_ERRORS.authenticate);
      if (!budget.take(sid).ok) return send(res, 429, TWILIO_ERRORS.tooManyRequests);
      const rest = m[2] ?? "";
      const base = `/2010-04-01/Accounts/${sid}`;
      // Standard keys may not touch the Account or Key resources (Twilio's Key resource page).
      const manages = rest === ".json" || rest === "/Keys.json" || KEY_PATH.test(rest);
      if (manages && who === "standard") return send(res, 401, TWILIO_ERRORS.authenticate);
      if (method === "GET" && rest === ".json") return send(res, 200, accountJson(sid, clock()));
      if (method === "GET" && rest === "/Messages.json") return send(res, 200, emptyMessages(base, url));
      if (method === "POST" && rest === "/Keys.json") {
        const form = new URLSearchParams(body);
        const made = issue(form.get("FriendlyName") ?? "");
        const k = ledger.get(made.id) as LedgerKey<TwilioKeyMeta>;
        return send(res, 201, { ...keyJson(k), secret: k.secret });
      }
      if (method === "GET" && rest === "/Keys.json") {
        const page = listPage(ledger, base, url.searchParams);
        return page ? send(res, 200, page) : send(res, 400, TWILIO_ERRORS.invalidPageToken);
      }
      const keySid = decodeSegment(KEY_PATH.exec(rest)?.[1] ?? "");
      const k = keySid ? ledger.get(keySid) : undefined;
      if (method === "GET" && keySid && k?.active) return send(res, 200, keyJson(k));
      if (method === "DELETE" && keySid && ledger.revoke(keySid)) return sendEmpty(res, 204);
      send(res, 404, TWILIO_ERRORS.notFound(path));
    },
  });

  /** Who the Basic credentials are for this account: the account itself, a Main key, a Standard key, or nobody. */
  function authenticate(req: IncomingMessage, pathSid: string): "account" | "main" | "standard" | undefined {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? "");
    if (!m || pathSid !== account.accountSid) return undefined;
    const decoded = Buffer.from(m[1] ?? "", "base64").toString("utf8");
    const sep = decoded.indexOf(":");
    if (sep < 0) return undefined;
    const user = decoded.slice(0, sep);
    const password = decoded.slice(sep + 1);
    if (user === account.accountSid) return safeEqual(password, account.authToken) ? "account" : undefined;
    const k = ledger.findActive(password);
    if (!k || k.id !== user) return undefined;
    return k.meta.main ? "main" : "standard";
  }

  return {
    url: server.url,
    faults: server.faults,
    accountSid: account.accountSid,
    issueKey: (name, o) => issue(name, o?.main ?? false),
    isKeyActive: (id) => ledger.get(id)?.active ?? false,
    keyHistory: () => ledger.history(),
    requestsByRoute: server.requestsByRoute,
    close: () => server.close(),
  };
}

/** RFC 2822 as Twilio writes it: "Tue, 14 Aug 2018 19:37:39 +0000". */
export function rfc2822(ms: number): string {
  return new Date(ms).toUTCString().replace("GMT", "+0000");
}

function keyJson(k: LedgerKey<TwilioKeyMeta>) {
  const when = rfc2822(k.createdAt);
  return { sid: k.id, friendly_name: k.name, date_created: when, date_updated: when };
}

function accountJson(sid: string, now: number) {
  // Twilio's Account resource also carries auth_token; the simulator leaves secrets out of answers.
  return {
    sid,
    owner_account_sid: sid,
    friendly_name: "key-rotator sandbox",
    status: "active",
    type: "Full",
    date_created: rfc2822(now),
    date_updated: rfc2822(now),
    uri: `/2010-04-01/Accounts/${sid}.json`,
  };
}

function emptyMessages(base: string, url: URL) {
  const size = pageSizeOf(url.searchParams) ?? 50;
  const first = `${base}/Messages.json?PageSize=${size}&Page=0`;
  return pageEnvelope("messages", [], { uri: first, first, next: null, page: 0, size });
}

function pageSizeOf(q: URLSearchParams): number | undefined {
  const n = Number(q.get("PageSize") ?? 50);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 1000) : undefined;
}

function pageEnvelope<T>(
  key: string,
  items: T[],
  p: { uri: string; first: string; next: string | null; page: number; size: number },
) {
  const start = p.page * p.size;
  return {
    [key]: items,
    page: p.page,
    page_size: p.size,
    first_page_uri: p.first,
    next_page_uri: p.next,
    previous_page_uri: null,
    uri: p.uri,
    start,
    end: start + Math.max(0, items.length - 1),
  };
}

/**
 * One page of the active keys in creation order. `PageToken` is `PA` + the sid of the previous
 * page's last key, as in Twilio's next_page_uri; the page number is only reported back. undefined
 * for a PageToken this simulator did not make.
 */
function listPage(ledger: KeyLedger<TwilioKeyMeta>, base: string, q: URLSearchParams) {
  const size = pageSizeOf(q) ?? 50;
  const page = Math.max(0, Math.floor(Number(q.get("Page") ?? 0)) || 0);
  const all = ledger.all();
  let from = 0;
  const token = q.get("PageToken");
  if (token !== null) {
    const at = all.findIndex((k) => `PA${k.id}` === token);
    if (at < 0) return undefined;
    from = at + 1;
  }
  const items: LedgerKey<TwilioKeyMeta>[] = [];
  let i = from;
  for (; i < all.length && items.length < size; i++) if (all[i]?.active) items.push(all[i] as LedgerKey<TwilioKeyMeta>);
  const more = all.slice(i).some((k) => k.active);
  const last = items.at(-1);
  const query = (p: number, t?: string) => `${base}/Keys.json?PageSize=${size}&Page=${p}${t ? `&PageToken=${t}` : ""}`;
  return pageEnvelope("keys", items.map(keyJson), {
    uri: query(page, token ?? undefined),
    first: query(0),
    next: more && last ? query(page + 1, `PA${last.id}`) : null,
    page,
    size,
  });
}
