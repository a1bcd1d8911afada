/**
 * A local AWS Secrets Manager that the real SDK talks to unchanged: AWS JSON 1.1 over HTTP
 * (POST /, `X-Amz-Target: secretsmanager.<Operation>`), AWS's error types in `__type` and
 * `x-amzn-ErrorType`, a SigV4 Authorization header required. Fault knobs (src/sandbox/faults.ts),
 * a write quota shared by PutSecretValue / UpdateSecret / UpdateSecretVersionStage like AWS's
 * 50 per second, and call counters. Control endpoints under /__emulator/ for other processes,
 * among them `GET /__emulator/history[?secret=<name>]`: every stage move and PutSecretValue, with
 * its time (StageEvent).
 * Must not: answer a stack trace, or log a secret value.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Faults, parseFaultRule } from "./faults.js";
import { BodyTooLargeError, readBody, serveLocally } from "./local-server.js";
import { type ReplicationKnobs, Replication } from "./secrets-manager/replication.js";
import { type RoleTrust, Sts } from "./secrets-manager/sts.js";
import { AwsError, SecretsState, type StageEvent } from "./secrets-manager/secrets-state.js";
import { batchGetSecretValue, listSecrets } from "./secrets-manager/secret-listing.js";

const OPERATIONS = [
  "CreateSecret",
  "DescribeSecret",
  "GetSecretValue",
  "PutSecretValue",
  "UpdateSecretVersionStage",
  "ListSecretVersionIds",
  "ListSecrets",
  "BatchGetSecretValue",
  "TagResource",
  "UntagResource",
  "DeleteSecret",
  "ReplicateSecretToRegions",
  "RemoveRegionsFromReplication",
] as const;
type Operation = Exclude<
  (typeof OPERATIONS)[number],
  "ReplicateSecretToRegions" | "RemoveRegionsFromReplication" | "ListSecrets" | "BatchGetSecretValue"
>;
/** Operations that change a secret: refused on a replica, and passed on to a primary's replicas. */
const CHANGES = new Set<string>([
  "PutSecretValue",
  "UpdateSecretVersionStage",
  "TagResource",
  "UntagResource",
  "DeleteSecret",
]);
/** The operations that share AWS's 50/s write quota. TagResource and UntagResource have a quota of their own (50/s) and do not count here. */
const WRITES = new Set<string>(["PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage"]);
/** AWS's own quotas of the listing reads (requests per second, not adjustable): beyond them, ThrottlingException. */
const READ_TPS: Record<string, number> = { ListSecrets: 100, BatchGetSecretValue: 100 };

export interface EmulatorStats {
  calls: Record<string, number>;
  throttled: number;
  writes: number;
  /**
   * When each accepted write landed (epoch ms, real time), by the quota it spent: its region, and
   * `|account` for another account's. What shows whether regions wrote side by side.
   */
  writesAt: Record<string, number[]>;
}

export interface SecretsManagerEmulator {
  url: string;
  /** The emulator's data, for seeding thousands of secrets without HTTP (benchmarks). */
  state: SecretsState;
  /**
   * The data of another region, or of another account (requests signed for that region, or with a
   * session of a role in that account, reach it); the home region's of the home account is `state`.
   */
  stateOf(region: string, account?: string): SecretsState;
  /** Lets a role be assumed (STS AssumeRole), with the external id its trust policy requires. */
  trustRole(roleArn: string, trust?: RoleTrust): void;
  /** Every AssumeRole answered, in order. */
  assumedRoles(): Array<{ roleArn: string; sessionName: string }>;
  /** Replication's fault knobs: how long a change takes to reach a replica, hold it, fail regions. */
  setReplication(knobs: Partial<ReplicationKnobs>): void;
  /** Changes the emulator's clock (version creation dates), e.g. to make keys old. */
  setClock(clock: () => number): void;
  faults: Faults;
  stats(): EmulatorStats;
  resetStats(): void;
  setWriteTps(tps: number | undefined): void;
  /** The stage history (every label move and PutSecretValue, oldest first), of all secrets or one. */
  history(secretId?: string): StageEvent[];
  close(): Promise<void>;
}

export async function startSecretsManagerEmulator(
  options: { port?: number; host?: string; writeTps?: number; clock?: () => number; region?: string } = {},
): Promise<SecretsManagerEmulator> {
  let clock = options.clock ?? Date.now;
  // One region's data per region a request is signed for; the home region's is `state`.
  const home = options.region ?? "us-east-1";
  const state = new SecretsState(() => clock(), home, HOME_ACCOUNT);
  const regions = new Map<string, SecretsState>([[`${HOME_ACCOUNT}|${home}`, state]]);
  const stateOf = (region: string, account = HOME_ACCOUNT): SecretsState => {
    let st = regions.get(`${account}|${region}`);
    if (!st) {
      st = new SecretsState(() => clock(), region, account);
      regions.set(`${account}|${region}`, st);
    }
    return st;
  };
  const sts = new Sts(() => clock());
  // Replication within each account, between its regions.
  let replicationKnobs: ReplicationKnobs = { delayMs: 0, hold: false, failRegions: [] };
  const replications = new Map<string, Replication>();
  const replicationOf = (account: string): Replication => {
    let r = replications.get(account);
    if (!r) {
      r = new Replication(
        (region) => stateOf(region, account),
        () => clock(),
      );
      r.knobs = replicationKnobs;
      replications.set(account, r);
    }
    return r;
  };
  const faults = new Faults();
  let stats: EmulatorStats = { calls: {}, throttled: 0, writes: 0, writesAt: {} };
  let writeTps = options.writeTps;
  // AWS's write quota is each account's own in each region: one bucket each (keyed as the worker's
  // write budget is: the region, then `|account` for another account's).
  const buckets = new Map<string, { tokens: number; at: number }>();
  const quotaOf = (region: string, account: string) => (account === HOME_ACCOUNT ? region : `${region}|${account}`);
  const takeWriteToken = (quota: string): boolean => {
    if (writeTps === undefined) return true;
    const now = clock();
    let bucket = buckets.get(quota);
    if (!bucket) {
      bucket = { tokens: writeTps, at: now };
      buckets.set(quota, bucket);
    }
    // A clock moved back (tests age keys with it) gives no tokens and takes none.
    bucket.tokens = Math.min(writeTps, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * writeTps);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  // Like the write quota, each region's own (AWS's quotas are per region): one bucket per region and operation.
  const readBuckets = new Map<string, { tokens: number; at: number }>();
  const takeReadToken = (operation: string, region: string): boolean => {
    const tps = READ_TPS[operation] ?? Number.POSITIVE_INFINITY;
    // Real time, not the emulator's clock: tests move that clock to age keys, not to spend quota.
    const now = performance.now();
    const key = `${region}|${operation}`;
    const b = readBuckets.get(key) ?? { tokens: tps, at: now };
    b.tokens = Math.min(tps, b.tokens + (Math.max(0, now - b.at) / 1000) * tps);
    b.at = now;
    readBuckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A body over local-server's 1 MiB cap: 413 in AWS's JSON error shape (the type is the emulator's choice).
      if (err instanceof BodyTooLargeError)
        return sendError(res, new AwsError("RequestEntityTooLargeException", err.message, 413));
      sendError(res, new AwsError("InternalServiceError", "An error occurred on the server side.", 500));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (req.url?.startsWith("/__emulator/")) return control(req, res, body);
    if (
      req.method === "POST" &&
      String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
    ) {
      const answer = sts.handle(body);
      res.writeHead(answer.status, { "content-type": "text/xml" });
      res.end(answer.body);
      return;
    }
    if (req.method !== "POST")
      return sendError(res, new AwsError("UnknownOperationException", "Only POST / with X-Amz-Target is supported."));
    const auth = req.headers.authorization ?? "";
    if (!/^AWS4-HMAC-SHA256 Credential=\S+/.test(auth)) {
      return sendError(
        res,
        new AwsError(
          "MissingAuthenticationTokenException",
          "Request is missing Authentication Token (a SigV4 Authorization header).",
        ),
      );
    }
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("secretsmanager.") ? target.slice("secretsmanager.".length) : "";
    if (!(OPERATIONS as readonly string[]).includes(operation)) {
      return sendError(
        res,
        new AwsError(
          "UnknownOperationException",
          `Unknown operation ${target === "" ? "(no X-Amz-Target header)" : target}.`,
        ),
      );
    }
    stats.calls[operation] = (stats.calls[operation] ?? 0) + 1;
    const fault = await faults.apply(operation, req, res);
    if (fault === "handled") return;
    if (fault?.kind === "rate-limit") return throttle(res);
    if (fault?.kind === "error")
      return sendError(
        res,
        new AwsError("InternalServiceError", "An error occurred on the server side.", fault.status ?? 500),
      );
    if (fault?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end('{"ARN": <not json');
      return;
    }
    let request: Record<string, unknown>;
    try {
      const parsed: unknown = body.length === 0 ? {} : JSON.parse(body);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      request = parsed as Record<string, unknown>;
    } catch {
      return sendError(res, new AwsError("SerializationException", "The request body is not a valid JSON object."));
    }
    if (operation in READ_TPS && !takeReadToken(operation, regionOf(auth) ?? home)) return throttle(res);
    if (WRITES.has(operation)) {
      const quota = quotaOf(regionOf(auth) ?? home, sts.accountOf(accessKeyOf(auth)) ?? HOME_ACCOUNT);
      if (!takeWriteToken(quota)) return throttle(res);
      stats.writes += 1;
      (stats.writesAt[quota] ??= []).push(Date.now());
    }
    try {
      const region = regionOf(auth) ?? home;
      const account = sts.accountOf(accessKeyOf(auth)) ?? HOME_ACCOUNT;
      const st = stateOf(region, account);
      const replication = replicationOf(account);
      replication.catchUp();
      const nameOf = () => String(st.DescribeSecret({ SecretId: request.SecretId }).Name);
      if (CHANGES.has(operation)) replication.assertWritable(region, nameOf());
      let out: Record<string, unknown>;
      if (operation === "ReplicateSecretToRegions" || operation === "RemoveRegionsFromReplication") {
        const described = st.DescribeSecret({ SecretId: request.SecretId });
        out = { ...replication[operation](region, String(described.Name), request), ARN: described.ARN };
      } else if (operation === "ListSecrets" || operation === "BatchGetSecretValue") {
        const listing = st.listing();
        out =
          operation === "ListSecrets"
            ? listSecrets(listing.secrets, request, listing.region)
            : batchGetSecretValue(() => listing.secrets, listing.find, request, listing.region);
      } else {
        out = st[operation as Operation](request);
        if (operation === "DescribeSecret") out = { ...out, ...replication.describe(region, String(out.Name)) };
        if (CHANGES.has(operation)) replication.changed(region, String(out.Name ?? nameOf()));
      }
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify(out));
    } catch (err) {
      sendError(
        res,
        err instanceof AwsError
          ? err
          : new AwsError("InternalServiceError", "An error occurred on the server side.", 500),
      );
    }
  }

  function throttle(res: ServerResponse): void {
    stats.throttled += 1;
    sendError(res, new AwsError("ThrottlingException", "Rate exceeded"));
  }

  function control(req: IncomingMessage, res: ServerResponse, body: string): void {
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    try {
      const url = new URL(req.url ?? "/", "http://emulator");
      if (req.method === "GET" && url.pathname === "/__emulator/history") {
        const secret = url.searchParams.get("secret");
        return json(200, { events: state.history(secret ?? undefined) });
      }
      if (req.method === "GET" && req.url === "/__emulator/stats") return json(200, stats);
      if (req.method === "POST" && req.url === "/__emulator/faults")
        return json(200, { rules: faults.add(parseFaultRule(JSON.parse(body))).rules });
      if (req.method === "DELETE" && req.url === "/__emulator/faults")
        return json(200, (faults.reset(), { rules: [] }));
      if (req.method === "POST" && req.url === "/__emulator/release")
        return json(200, (faults.release(), { released: true }));
      if (req.method === "POST" && req.url === "/__emulator/replication") {
        replicationKnobs = { ...replicationKnobs, ...(JSON.parse(body) as Partial<ReplicationKnobs>) };
        for (const r of replications.values()) r.knobs = replicationKnobs;
        return json(200, replicationKnobs);
      }
      if (req.method === "POST" && req.url === "/__emulator/write-tps") {
        const tps = (JSON.parse(body) as { tps?: number | null }).tps;
        writeTps = typeof tps === "number" && tps > 0 ? tps : undefined;
        return json(200, { writeTps: writeTps ?? null });
      }
      json(404, { message: `no control route ${req.method ?? ""} ${req.url ?? ""}` });
    } catch (err) {
      json(400, { message: err instanceof Error ? err.message : "bad control request" });
    }
  }

  const local = await serveLocally(server, options);
  return {
    url: local.url,
    faults,
    state,
    stateOf,
    setReplication: (knobs) => {
      replicationKnobs = { ...replicationKnobs, ...knobs };
      for (const r of replications.values()) r.knobs = replicationKnobs;
    },
    trustRole: (roleArn, trust = {}) => void sts.roles.set(roleArn, trust),
    assumedRoles: () => [...sts.assumed],
    setClock: (next) => void (clock = next),
    history: (secretId) => state.history(secretId),
    stats: () => structuredClone(stats),
    resetStats: () => void (stats = { calls: {}, throttled: 0, writes: 0, writesAt: {} }),
    setWriteTps: (tps) => {
      writeTps = tps;
      // Each region's bucket starts again, full at the new rate.
      for (const bucket of buckets.values()) {
        bucket.tokens = tps ?? 0;
        bucket.at = clock();
      }
    },
    close: async () => {
      faults.reset();
      await local.close();
    },
  };
}

function sendError(res: ServerResponse, err: AwsError): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(err.status, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": err.type });
  res.end(JSON.stringify({ __type: err.type, message: err.message }));
}

const HOME_ACCOUNT = "000000000000";

/** The access key id a SigV4 Authorization header was signed with. */
function accessKeyOf(authorization: string): string {
  return /Credential=([^/\s]+)\//.exec(authorization)?.[1] ?? "";
}

/** The region a SigV4 Authorization header is scoped to (`Credential=AKID/date/region/service/...`). */
function regionOf(authorization: string): string | undefined {
  return /Credential=[^/\s]+\/\d{8}\/([a-z0-9-]+)\/secretsmanager\//.exec(authorization)?.[1];
}
