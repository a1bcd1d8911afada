/**
 * A real Sentinel set of the test's own on loopback: a master on basePort, two replicas on the
 * next ports, and three sentinels (`redis-server <conf> --sentinel`, the same binary as
 * redis-sentinel) on basePort+10.. watching it as MASTER_NAME, with a quorum of 2 and a short
 * down-after, so that a master SIGKILLed by the test is replaced within a few seconds.
 *
 * Must not: leave a server running (stop, or the test process's exit, kills them all).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RedisTopology } from "../../src/queue/redis.js";
import { baseArgs, serverGroup, waitUntil, withClient } from "./redis-servers.js";

export const MASTER_NAME = "kr-test-master";

export interface RedisSentinelUnderTest {
  dataPorts: number[];
  sentinelPorts: number[];
  topology(): RedisTopology;
  /** The master's port as the sentinels say now. */
  masterPort(): Promise<number>;
  kill(port: number): Promise<void>;
  /** Waits until a quorum of sentinels names a running master other than `not`, and it says it is master. */
  waitNewMaster(not: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisSentinel(o: { basePort: number }): Promise<RedisSentinelUnderTest> {
  const dataPorts = [o.basePort, o.basePort + 1, o.basePort + 2];
  const sentinelPorts = [o.basePort + 10, o.basePort + 11, o.basePort + 12];
  const group = serverGroup("sentinel");
  const isUp = (port: number) => group.servers.some((s) => s.port === port && s.isUp());
  const askSentinel = async (): Promise<number[]> => {
    const answers: number[] = [];
    for (const port of sentinelPorts.filter(isUp)) {
      const reply = await withClient(port, (r) => r.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)).catch(
        () => undefined,
      );
      if (Array.isArray(reply)) answers.push(Number(reply[1]));
    }
    return answers;
  };
  const isMaster = (port: number) =>
    withClient(port, async (r) => (await r.info("replication")).includes("role:master")).catch(() => false);
  try {
    const [master, ...replicas] = dataPorts as [number, ...number[]];
    await group.start(master, baseArgs(master));
    await Promise.all(
      replicas.map((port) => group.start(port, [...baseArgs(port), "--replicaof", "127.0.0.1", String(master)])),
    );
    await waitUntil("the replicas to sync", async () => {
      for (const port of replicas) {
        const info = await withClient(port, (r) => r.info("replication"));
        if (!info.includes("master_link_status:up")) return false;
      }
      return true;
    });
    await Promise.all(
      sentinelPorts.map((port) => {
        // Sentinel rewrites its configuration file as it learns: one file each, in the group's folder.
        const conf = join(group.dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            "bind 127.0.0.1",
            `dir ${group.dir}`,
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 2`,
            `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
            `sentinel failover-timeout ${MASTER_NAME} 10000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
            "",
          ].join("\n"),
        );
        return group.start(port, [conf], { sentinel: true });
      }),
    );
    await waitUntil(
      "the sentinels to find each other and the replicas",
      async () => {
        for (const port of sentinelPorts) {
          const reply = (await withClient(port, (r) => r.call("SENTINEL", "master", MASTER_NAME))) as string[];
          const field = (name: string) => Number(reply[reply.indexOf(name) + 1]);
          if (field("num-other-sentinels") < 2 || field("num-slaves") < 2) return false;
        }
        return true;
      },
      30_000,
    );
  } catch (err) {
    await group.stopAll();
    throw err;
  }
  return {
    dataPorts,
    sentinelPorts,
    topology: () => ({
      kind: "sentinel",
      sentinels: sentinelPorts.map((port) => ({ host: "127.0.0.1", port })),
      masterName: MASTER_NAME,
    }),
    masterPort: async () => {
      const [port] = await askSentinel();
      if (port === undefined) throw new Error("no sentinel answers");
      return port;
    },
    kill: async (port) => {
      await group.servers.find((s) => s.port === port)?.kill();
    },
    async waitNewMaster(not, timeoutMs = 30_000) {
      let found = 0;
      await waitUntil(
        "Sentinel to promote a replica",
        async () => {
          const named = await askSentinel();
          const port = named.find((p) => p !== not && isUp(p));
          if (port === undefined || named.filter((p) => p === port).length < 2 || !(await isMaster(port))) return false;
          found = port;
          return true;
        },
        timeoutMs,
      );
      return found;
    },
    stop: () => group.stopAll(),
  };
}
