/**
 * Where Redis is and how to reach it, read once from the environment: one node (REDIS_URL), a
 * Redis Cluster (REDIS_CLUSTER_HOSTS) or a Sentinel set (REDIS_SENTINEL_HOSTS and
 * REDIS_SENTINEL_MASTER_NAME), with TLS and an ACL user and password shared by all three:
 *
 *   REDIS_URL                    redis://host:6379/0, or rediss:// for TLS (default redis://127.0.0.1:6379)
 *   REDIS_CLUSTER_HOSTS          host:port,host:port   some nodes of a Redis Cluster (the rest are found)
 *   REDIS_SENTINEL_HOSTS         host:port,host:port   the sentinels
 *   REDIS_SENTINEL_MASTER_NAME   the master's name in the sentinels' configuration
 *   REDIS_TLS                    true: TLS to every node (and sentinel); rediss:// says it for REDIS_URL
 *   REDIS_TLS_CA_FILE            PEM file of the CA(s) to trust instead of the system's
 *   REDIS_USERNAME               the ACL user
 *   REDIS_PASSWORD_FILE          a file holding the password (REDIS_PASSWORD also works, but shows in the environment)
 *   REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD_FILE (or REDIS_SENTINEL_PASSWORD)
 *                                the sentinels' own login, when they require one
 *
 * Must not: show a password (`describeRedis` names the place only; passwords travel as SecretValue),
 * or guess between two topologies: more than one set is a configuration error.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../core/errors.js";
import { SecretValue } from "../core/secret.js";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export interface HostPort {
  host: string;
  port: number;
}

/** A login: the password as read (from its file or variable), and the file it came from, if any. */
export interface RedisLogin {
  username?: string;
  password?: SecretValue;
  passwordFile?: string;
}

export interface RedisAccess {
  /** TLS on; `ca` the PEM read from `caFile`, else the system's CAs. */
  tls?: { caFile?: string; ca?: Buffer };
  login?: RedisLogin;
}

export type RedisTopology =
  | ({ kind: "node"; url: string } & RedisAccess)
  | ({ kind: "cluster"; nodes: HostPort[] } & RedisAccess)
  | ({ kind: "sentinel"; sentinels: HostPort[]; masterName: string; sentinelLogin?: RedisLogin } & RedisAccess);

const TOPOLOGY_VARS = ["REDIS_URL", "REDIS_CLUSTER_HOSTS", "REDIS_SENTINEL_HOSTS"] as const;

/** The topology the environment names; every problem found is reported at once (ConfigError). */
export function redisTopologyFrom(env: NodeJS.ProcessEnv = process.env): RedisTopology {
  const problems: string[] = [];
  const set = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const chosen = TOPOLOGY_VARS.filter((name) => set(name) !== undefined);
  if (chosen.length > 1)
    problems.push(`${chosen.join(" and ")} are all set: set only one (a single node, a cluster, or Sentinel)`);
  const url = set("REDIS_URL");
  const tlsVar = set("REDIS_TLS");
  if (tlsVar !== undefined && !/^(true|false|1|0|yes|no)$/i.test(tlsVar))
    problems.push(`REDIS_TLS: "${tlsVar}" is not true or false`);
  const tlsOn = /^(true|1|yes)$/i.test(tlsVar ?? "") || (url?.toLowerCase().startsWith("rediss://") ?? false);
  const caFile = set("REDIS_TLS_CA_FILE");
  let tls: RedisAccess["tls"];
  if (caFile && !tlsOn) problems.push("REDIS_TLS_CA_FILE is set but TLS is off: use rediss:// or REDIS_TLS=true");
  else if (tlsOn) tls = caFile ? { caFile, ca: readOrProblem(caFile, "REDIS_TLS_CA_FILE", problems) } : {};
  const login = loginFrom(env, "REDIS", problems);
  const access: RedisAccess = { ...(tls ? { tls } : {}), ...(login ? { login } : {}) };

  let topology: RedisTopology;
  const clusterHosts = set("REDIS_CLUSTER_HOSTS");
  const sentinelHosts = set("REDIS_SENTINEL_HOSTS");
  const masterName = set("REDIS_SENTINEL_MASTER_NAME");
  if (masterName && !sentinelHosts) problems.push("REDIS_SENTINEL_MASTER_NAME is set without REDIS_SENTINEL_HOSTS");
  if (clusterHosts) {
    topology = { kind: "cluster", nodes: hostList("REDIS_CLUSTER_HOSTS", clusterHosts, problems), ...access };
  } else if (sentinelHosts) {
    if (!masterName) problems.push("REDIS_SENTINEL_HOSTS is set without REDIS_SENTINEL_MASTER_NAME");
    const sentinelLogin = loginFrom(env, "REDIS_SENTINEL", problems);
    topology = {
      kind: "sentinel",
      sentinels: hostList("REDIS_SENTINEL_HOSTS", sentinelHosts, problems),
      masterName: masterName ?? "",
      ...(sentinelLogin ? { sentinelLogin } : {}),
      ...access,
    };
  } else {
    const nodeUrl = url ?? DEFAULT_REDIS_URL;
    if (!/^rediss?:\/\/[^/]/i.test(nodeUrl))
      problems.push(`REDIS_URL: "${shownUrl(nodeUrl)}" is not a redis:// or rediss:// URL`);
    else if (login && /^rediss?:\/\/[^/@]+@/i.test(nodeUrl))
      problems.push(
        "REDIS_URL carries a user or password and REDIS_USERNAME/REDIS_PASSWORD are set too: give them once",
      );
    topology = { kind: "node", url: nodeUrl, ...access };
  }
  if (problems.length > 0) throw new ConfigError(problems, "Redis configuration");
  return topology;
}

/**
 * The variables that name `topology` to a child process (a worker the demo or a test starts): the
 * other topologies' variables are set empty, so the parent's environment cannot add a second one.
 * A password read from a file is passed as the file.
 */
export function redisEnvFor(topology: RedisTopology): Record<string, string> {
  const env: Record<string, string> = {
    REDIS_URL: "",
    REDIS_CLUSTER_HOSTS: "",
    REDIS_SENTINEL_HOSTS: "",
    REDIS_SENTINEL_MASTER_NAME: "",
    REDIS_TLS: topology.tls ? "true" : "false",
    REDIS_TLS_CA_FILE: topology.tls?.caFile ?? "",
    ...loginEnv("REDIS", topology.login),
  };
  if (topology.kind === "node") env.REDIS_URL = topology.url;
  else if (topology.kind === "cluster") env.REDIS_CLUSTER_HOSTS = hostsText(topology.nodes);
  else {
    env.REDIS_SENTINEL_HOSTS = hostsText(topology.sentinels);
    env.REDIS_SENTINEL_MASTER_NAME = topology.masterName;
    Object.assign(env, loginEnv("REDIS_SENTINEL", topology.sentinelLogin));
  }
  return env;
}

/** Where Redis is, for messages: never a password. */
export function describeRedis(target: RedisTopology | string): string {
  if (typeof target === "string") return shownUrl(target);
  const user = target.login?.username ? ` as ${target.login.username}` : "";
  const tls = target.tls && target.kind !== "node" ? " over TLS" : "";
  if (target.kind === "node") return `${shownUrl(target.url)}${user}`;
  if (target.kind === "cluster") return `Redis Cluster ${hostsText(target.nodes)}${user}${tls}`;
  return `Sentinel master ${target.masterName} via ${hostsText(target.sentinels)}${user}${tls}`;
}

/** The URL as it may be shown: any user and password replaced by `***`. */
export function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/**
 * The hash tag every key under `prefix` hashes by, or undefined when the prefix has none: Redis
 * hashes the part between the first `{` and the first `}` after it, when that part is not empty.
 * The closing `}` must be inside the prefix, or the rest of each key would decide.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf("{");
  if (open < 0) return undefined;
  const close = prefix.indexOf("}", open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

/**
 * On a Redis Cluster, BullMQ's scripts (and ours) touch several keys of a queue at once, which
 * Redis allows only within one slot: the queue prefix must be a hash tag. ConfigError otherwise.
 */
export function assertQueuePrefixFits(topology: RedisTopology | string, prefix: string): void {
  if (typeof topology === "string" || topology.kind !== "cluster" || hashTagOf(prefix) !== undefined) return;
  throw new ConfigError([
    `settings.queuePrefix "${prefix}" is not a hash tag: on a Redis Cluster every key of the queue must land in one slot, so the prefix must be wrapped in braces, such as {key-rotator}`,
  ]);
}

function loginFrom(env: NodeJS.ProcessEnv, head: string, problems: string[]): RedisLogin | undefined {
  const username = env[`${head}_USERNAME`]?.trim() || undefined;
  const passwordFile = env[`${head}_PASSWORD_FILE`]?.trim() || undefined;
  const inline = env[`${head}_PASSWORD`] || undefined;
  if (passwordFile && inline) problems.push(`${head}_PASSWORD_FILE and ${head}_PASSWORD are both set: set one`);
  let password: SecretValue | undefined;
  if (passwordFile) {
    const text = readOrProblem(passwordFile, `${head}_PASSWORD_FILE`, problems);
    if (text !== undefined) password = new SecretValue(text.toString("utf8").replace(/\r?\n$/, ""));
  } else if (inline) password = new SecretValue(inline);
  if (!username && !password) return undefined;
  return {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(passwordFile ? { passwordFile } : {}),
  };
}

function loginEnv(head: string, login: RedisLogin | undefined): Record<string, string> {
  return {
    [`${head}_USERNAME`]: login?.username ?? "",
    [`${head}_PASSWORD_FILE`]: login?.passwordFile ?? "",
    [`${head}_PASSWORD`]: login && !login.passwordFile ? (login.password?.reveal() ?? "") : "",
  };
}

/** The file's content; a problem (naming the file, never quoting it) when it is missing or empty. */
function readOrProblem(file: string, name: string, problems: string[]): Buffer | undefined {
  try {
    const content = readFileSync(file);
    if (content.length === 0) problems.push(`${name} ${file}: the file is empty`);
    return content;
  } catch (err) {
    problems.push(`${name}: cannot read ${file} (${(err as { code?: string }).code ?? "unreadable"})`);
    return undefined;
  }
}

function hostList(name: string, text: string, problems: string[]): HostPort[] {
  const out: HostPort[] = [];
  for (const item of text.split(",").map((s) => s.trim())) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
      problems.push(`${name}: "${item}" is not host:port`);
      continue;
    }
    out.push({ host: m[1].replace(/^\[|\]$/g, ""), port });
  }
  return out;
}

function hostsText(hosts: HostPort[]): string {
  return hosts.map((h) => `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`).join(",");
}
