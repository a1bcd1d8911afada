/**
 * A real Redis Cluster of the test's own on loopback: `masters` masters with one replica each
 * (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create ... --cluster-replicas
 * 1`), on ports basePort.. and their bus ports (+10000). A short cluster-node-timeout so that a
 * master SIGKILLed by the test is replaced by its replica within a few seconds. With `tls`, the
 * nodes speak only TLS, to clients and to each other (a CA made by openssl), and want a password,
 * as a managed cluster (ElastiCache, MemoryDB) does.
 *
 * Must not: leave a server running (stop, or the test process's exit, kills them all).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis, RedisOptions } from "ioredis";
import { SecretValue } from "../../src/core/secret.js";
import type { RedisTopology } from "../../src/queue/redis.js";
import { baseArgs, serverGroup, waitUntil, withClient as plainClient } from "./redis-servers.js";
import { type TestCertificates, makeTestCertificates, testPassword, tlsServerArgs } from "./redis-tls.js";

export interface ClusterNode {
  id: string;
  port: number;
  role: "master" | "replica";
  /** The master's id, for a replica. */
  masterId?: string;
  failed: boolean;
  slots: Array<[number, number]>;
}

export interface RedisClusterUnderTest {
  ports: number[];
  /** The topology with these ports as its start-up hosts, in this order (all ports when absent). */
  topology(hosts?: number[]): RedisTopology;
  /** The cluster as a live node sees it (CLUSTER NODES). */
  nodes(): Promise<ClusterNode[]>;
  /** The port of the master serving the slot of `key` (of every key under a hash-tag prefix). */
  masterFor(key: string): Promise<number>;
  /** SIGKILL the server on `port`. */
  kill(port: number): Promise<void>;
  isUp(port: number): boolean;
  /** Waits until every live node reports cluster_state:ok and `key`'s slot is served by a running master. */
  waitHealthy(key?: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(o: {
  basePort: number;
  masters?: number;
  nodeTimeoutMs?: number;
  tls?: boolean;
}): Promise<RedisClusterUnderTest> {
  const masters = o.masters ?? 3;
  const ports = Array.from({ length: masters * 2 }, (_, i) => o.basePort + i);
  const group = serverGroup("cluster");
  let secure: { certs: TestCertificates; password: string; passwordFile: string } | undefined;
  if (o.tls) {
    const password = testPassword();
    const passwordFile = join(group.dir, "password");
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    secure = { certs: makeTestCertificates(group.dir), password, passwordFile };
  }
  const access: RedisOptions = secure
    ? { tls: { ca: readFileSync(secure.certs.caFile) }, password: secure.password }
    : {};
  const withClient = <T>(port: number, f: (r: Redis) => Promise<T>) => plainClient(port, f, access);
  const nodeArgs = (port: number) =>
    secure
      ? [
          ...baseArgs(0),
          ...["--tls-port", String(port), ...tlsServerArgs(secure.certs), "--tls-cluster", "yes"],
          ...["--tls-replication", "yes", "--requirepass", secure.password, "--masterauth", secure.password],
        ]
      : baseArgs(port);
  const live = () => group.servers.filter((s) => s.isUp()).map((s) => s.port);
  const fromLive = async <T>(f: (port: number) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (const port of live()) {
      try {
        return await f(port);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error("no live cluster node answers");
  };
  const nodes = () => fromLive((port) => withClient(port, async (r) => parseNodes(String(await r.cluster("NODES")))));
  const slotOf = (key: string) =>
    fromLive((port) => withClient(port, async (r) => Number(await r.cluster("KEYSLOT", key))));
  const masterFor = async (key: string) => {
    const slot = await slotOf(key);
    const owner = (await nodes()).find(
      (n) => n.role === "master" && !n.failed && n.slots.some(([lo, hi]) => slot >= lo && slot <= hi),
    );
    if (!owner) throw new Error(`no live master serves slot ${slot}`);
    return owner.port;
  };
  try {
    await Promise.all(
      ports.map((port) =>
        group.start(
          port,
          [
            ...nodeArgs(port),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(group.dir, `nodes-${port}.conf`),
            "--cluster-node-timeout",
            String(o.nodeTimeoutMs ?? 1_000),
            // A replica takes over whatever the age of its data: this is a test, not a data store.
            "--cluster-replica-validity-factor",
            "0",
            "--dir",
            group.dir,
          ],
          { client: access },
        ),
      ),
    );
    await createCluster(
      ports,
      secure ? ["--tls", "--cacert", secure.certs.caFile, "-a", secure.password, "--no-auth-warning"] : [],
    );
    await waitUntil(
      "the cluster to form (every node cluster_state:ok, every replica in sync)",
      async () => {
        for (const port of ports) {
          const info = await withClient(port, async (r) => String(await r.cluster("INFO")));
          if (!info.includes("cluster_state:ok") || !info.includes(`cluster_known_nodes:${ports.length}`)) return false;
          const repl = await withClient(port, (r) => r.info("replication"));
          if (repl.includes("role:slave") && !repl.includes("master_link_status:up")) return false;
        }
        return true;
      },
      30_000,
    );
  } catch (err) {
    const tail = group.servers.map((s) => `${s.port}: ${s.output().split("\n").slice(-3).join(" | ")}`).join("\n");
    await group.stopAll();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tail}`);
  }
  return {
    ports,
    topology: (hosts = ports) => ({
      kind: "cluster",
      nodes: hosts.map((port) => ({ host: "127.0.0.1", port })),
      ...(secure
        ? {
            tls: { caFile: secure.certs.caFile, ca: readFileSync(secure.certs.caFile) },
            login: { password: new SecretValue(secure.password), passwordFile: secure.passwordFile },
          }
        : {}),
    }),
    nodes,
    masterFor,
    kill: async (port) => {
      await group.servers.find((s) => s.port === port)?.kill();
    },
    isUp: (port) => group.servers.some((s) => s.port === port && s.isUp()),
    waitHealthy: (key, timeoutMs = 30_000) =>
      waitUntil(
        "the cluster to be healthy again",
        async () => {
          for (const port of live()) {
            const info = await withClient(port, async (r) => String(await r.cluster("INFO")));
            if (!info.includes("cluster_state:ok")) return false;
          }
          // A killed master is still named by the others until they agree it failed: wait for its successor.
          return key === undefined || live().includes(await masterFor(key));
        },
        timeoutMs,
      ),
    stop: () => group.stopAll(),
  };
}

function createCluster(ports: number[], access: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "redis-cli",
      [
        ...access,
        ...["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => void (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => void (out += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited ${code}: ${out.slice(-500)}`)),
    );
  });
}

/** CLUSTER NODES: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
export function parseNodes(text: string): ClusterNode[] {
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id = "", address = "", flags = "", master = "-", , , , , ...slots] = line.trim().split(" ");
      const port = Number(/:(\d+)@/.exec(address)?.[1] ?? 0);
      const flagList = flags.split(",");
      return {
        id,
        port,
        role: flagList.includes("master") ? ("master" as const) : ("replica" as const),
        ...(master !== "-" ? { masterId: master } : {}),
        failed: flagList.includes("fail") || flagList.includes("fail?"),
        slots: slots
          .filter((s) => !s.startsWith("["))
          .map((s) => {
            const [lo, hi] = s.split("-").map(Number);
            return [lo ?? 0, hi ?? lo ?? 0] as [number, number];
          }),
      };
    });
}
