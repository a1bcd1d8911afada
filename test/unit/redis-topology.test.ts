/** Reading the Redis topology from the environment, and the hash-tag rule for a cluster's queue prefix. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/errors.js";
import {
  assertQueuePrefixFits,
  describeRedis,
  hashTagOf,
  redisEnvFor,
  redisTopologyFrom,
} from "../../src/queue/redis-topology.js";

const dir = mkdtempSync(join(tmpdir(), "kr-topology-"));
const passwordFile = join(dir, "password");
writeFileSync(passwordFile, "s3cret-pw\n");
const caFile = join(dir, "ca.pem");
writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\n");

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    redisTopologyFrom(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe("redisTopologyFrom", () => {
  it("defaults to one node at 127.0.0.1:6379", () => {
    expect(redisTopologyFrom({})).toEqual({ kind: "node", url: "redis://127.0.0.1:6379" });
  });

  it.each([
    [{ REDIS_URL: "redis://r:6379/2" }, "node", "redis://r:6379/2"],
    [{ REDIS_CLUSTER_HOSTS: "10.0.0.1:7000, 10.0.0.2:7001" }, "cluster", "Redis Cluster 10.0.0.1:7000,10.0.0.2:7001"],
    [{ REDIS_CLUSTER_HOSTS: "[::1]:7000" }, "cluster", "Redis Cluster [::1]:7000"],
    [
      { REDIS_SENTINEL_HOSTS: "s1:26379,s2:26379", REDIS_SENTINEL_MASTER_NAME: "main" },
      "sentinel",
      "Sentinel master main via s1:26379,s2:26379",
    ],
    [{ REDIS_URL: "", REDIS_CLUSTER_HOSTS: "c:7000" }, "cluster", "Redis Cluster c:7000"],
  ])("%j is a %s: %s", (env, kind, shown) => {
    const topology = redisTopologyFrom(env);
    expect(topology.kind).toBe(kind);
    expect(describeRedis(topology)).toBe(shown);
  });

  it("TLS with a CA file and an ACL user whose password comes from a file; nothing shows the password", () => {
    const topology = redisTopologyFrom({
      REDIS_CLUSTER_HOSTS: "c:7000",
      REDIS_TLS: "true",
      REDIS_TLS_CA_FILE: caFile,
      REDIS_USERNAME: "rotator",
      REDIS_PASSWORD_FILE: passwordFile,
    });
    expect(topology.tls?.ca?.toString()).toContain("BEGIN CERTIFICATE");
    expect(topology.login?.username).toBe("rotator");
    expect(topology.login?.password?.reveal()).toBe("s3cret-pw");
    expect(describeRedis(topology)).toBe("Redis Cluster c:7000 as rotator over TLS");
    for (const shown of [JSON.stringify(topology), inspect(topology, { depth: 5 }), String(topology.login?.password)])
      expect(shown).not.toContain("s3cret-pw");
    // A child process gets the file, not the password.
    const env = redisEnvFor(topology);
    expect(env).toMatchObject({ REDIS_PASSWORD_FILE: passwordFile, REDIS_PASSWORD: "", REDIS_TLS: "true" });
    expect(JSON.stringify(env)).not.toContain("s3cret-pw");
    expect(redisTopologyFrom(env)).toEqual(topology);
  });

  it("rediss:// turns TLS on; a URL's password is never shown", () => {
    const topology = redisTopologyFrom({ REDIS_URL: "rediss://u:pw@r:6380", REDIS_TLS_CA_FILE: caFile });
    expect(topology.tls?.caFile).toBe(caFile);
    expect(describeRedis(topology)).toBe("rediss://***@r:6380");
  });

  it("Sentinel with its own login for the sentinels", () => {
    const topology = redisTopologyFrom({
      REDIS_SENTINEL_HOSTS: "s:26379",
      REDIS_SENTINEL_MASTER_NAME: "main",
      REDIS_SENTINEL_USERNAME: "watcher",
      REDIS_SENTINEL_PASSWORD_FILE: passwordFile,
    });
    expect(topology.kind === "sentinel" && topology.sentinelLogin?.username).toBe("watcher");
    expect(redisTopologyFrom(redisEnvFor(topology))).toEqual(topology);
  });

  it.each([
    [{ REDIS_URL: "redis://a:1", REDIS_CLUSTER_HOSTS: "b:2" }, "REDIS_URL and REDIS_CLUSTER_HOSTS are all set"],
    [{ REDIS_CLUSTER_HOSTS: "a:1,b,c:99999" }, 'REDIS_CLUSTER_HOSTS: "b" is not host:port'],
    [{ REDIS_SENTINEL_HOSTS: "s:26379" }, "REDIS_SENTINEL_HOSTS is set without REDIS_SENTINEL_MASTER_NAME"],
    [{ REDIS_SENTINEL_MASTER_NAME: "main" }, "REDIS_SENTINEL_MASTER_NAME is set without REDIS_SENTINEL_HOSTS"],
    [{ REDIS_URL: "http://r:6379" }, 'REDIS_URL: "http://r:6379" is not a redis:// or rediss:// URL'],
    [{ REDIS_TLS: "maybe" }, 'REDIS_TLS: "maybe" is not true or false'],
    [{ REDIS_TLS_CA_FILE: caFile }, "REDIS_TLS_CA_FILE is set but TLS is off"],
    [{ REDIS_TLS: "1", REDIS_TLS_CA_FILE: join(dir, "none") }, "REDIS_TLS_CA_FILE: cannot read"],
    [{ REDIS_PASSWORD_FILE: join(dir, "none") }, "REDIS_PASSWORD_FILE: cannot read"],
    [{ REDIS_PASSWORD_FILE: passwordFile, REDIS_PASSWORD: "x" }, "REDIS_PASSWORD_FILE and REDIS_PASSWORD are both set"],
    [{ REDIS_URL: "redis://u:p@r:1", REDIS_PASSWORD: "x" }, "REDIS_URL carries a user or password"],
  ])("%j is refused: %s", (env, problem) => {
    expect(problems(env).join("\n")).toContain(problem);
  });

  it("reports every problem at once", () => {
    expect(problems({ REDIS_CLUSTER_HOSTS: "x", REDIS_TLS: "perhaps", REDIS_PASSWORD_FILE: "/none" })).toHaveLength(3);
  });
});

describe("the queue prefix on a cluster", () => {
  it.each([
    ["{key-rotator}", "key-rotator"],
    ["kr:{fleet}:x", "fleet"],
    ["{}", undefined],
    ["{key-rotator", undefined],
    ["key-rotator}", undefined],
    ["key-rotator", undefined],
    ["{a}{b}", "a"],
  ])("%s hashes by %s", (prefix, tag) => {
    expect(hashTagOf(prefix)).toBe(tag);
  });

  it("a cluster refuses a prefix without a hash tag; one node and Sentinel take any", () => {
    const cluster = redisTopologyFrom({ REDIS_CLUSTER_HOSTS: "c:7000" });
    expect(() => assertQueuePrefixFits(cluster, "key-rotator")).toThrow(/not a hash tag.*\{key-rotator\}/);
    expect(() => assertQueuePrefixFits(cluster, "{key-rotator}")).not.toThrow();
    expect(() => assertQueuePrefixFits(redisTopologyFrom({}), "key-rotator")).not.toThrow();
  });
});
