/**
 * The product on a real Redis Cluster of the test's own (3 masters, 3 replicas on 127.0.0.1:7100-
 * 7105), set up as a managed one is: TLS only (a CA made by openssl; REDIS_TLS, REDIS_TLS_CA_FILE)
 * and a password (REDIS_PASSWORD_FILE). A worker process and the CLI whose only start-up host is a
 * replica, so the queue's slot is always on another node than the host listed (issue 19's MOVED at
 * start), and an emergency through the lane; a queue prefix that is not a hash tag refused in one clear line; a wrong CA said as TLS. (`npm run demo` on such a cluster was checked by
 * hand: at 40 s, and with a fault race of its own under load, it is not worth a place here.)
 */
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { type RedisClusterUnderTest, startRedisCluster } from "../support/redis-cluster.js";
import { type World, expectConverged, leaks, startWorld } from "../support/rotation-world.js";

const BASE_PORT = 7100;
const TOKEN = "cluster-test-admin-token-0123";

describe("on a Redis Cluster (3 masters, 3 replicas)", () => {
  let cluster: RedisClusterUnderTest;
  let world: World | undefined;
  /** A replica: it serves no slot, so every key the product touches is on another node. */
  let startHost: number;
  beforeAll(async () => {
    cluster = await startRedisCluster({ basePort: BASE_PORT, tls: true });
    const replica = (await cluster.nodes()).find((n) => n.role === "replica");
    if (!replica) throw new Error("the cluster has no replica");
    startHost = replica.port;
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("a worker and the CLI, given only a replica as start-up host, rotate a credential", async () => {
    world = await startWorld({ redis: cluster.topology([startHost]), grace: "1s", logLevel: "info", credentials: 2 });
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    const slotOwner = await cluster.masterFor(w.prefix);
    expect(slotOwner).not.toBe(startHost);
    const worker = await w.startWorker({ KEY_ROTATOR_ADMIN_TOKEN: TOKEN });
    const rotate = startCli(["rotate", c.id], { env: w.env });
    expect(await rotate.exited, rotate.lines.join("\n")).toBe(0);
    await w.waitRotated(c, 30_000);
    expect(await expectConverged(w, c)).toEqual([]);

    const status = startCli(["status", c.id, "--json"], { env: w.env });
    expect(await status.exited, status.lines.join("\n")).toBe(0);
    expect(status.lines.join("\n")).toContain(c.id);

    // The queue's keys, the history and the open alerts all sit on the master of the prefix's slot.
    const dump = await w.redisDump();
    expect(dump).toContain(`${w.prefix}:completed`);
    expect(leaks(dump, w.secrets())).toEqual([]);
    expect(worker.lines.filter((l) => /MOVED|CROSSSLOT|ClusterAllFailedError/.test(l))).toEqual([]);

    // An emergency over admin HTTP runs in the lane: its admission, the region's budget and the
    // limiter's slot are one script over keys of the prefix's slot.
    const e = w.creds[1];
    if (!e) throw new Error("no second credential");
    const { http } = JSON.parse(await worker.waitForLine(/"worker.ready"/)) as { http: string };
    const res = await fetch(`${http}/v1/credentials/${e.id}/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ emergency: true, reason: "cluster check" }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { rotationId } = (await res.json()) as { rotationId: string };
    await w.waitRotated(e, 30_000);
    expect(await expectConverged(w, e)).toEqual([]);
    expect(worker.lines.some((l) => l.includes('"lane.start"') && l.includes(rotationId))).toBe(true);
    expect(worker.lines.filter((l) => /MOVED|CROSSSLOT|ClusterAllFailedError|lane.budget-spent/.test(l))).toEqual([]);
  }, 60_000);

  it("refuses a queue prefix that is not a hash tag, naming the fix, from the worker and the CLI", async () => {
    world = await startWorld({ redis: cluster.topology(), queuePrefix: "key-rotator-plain" });
    const w = world;
    const worker = startCli(["worker"], { env: w.env });
    expect(await worker.exited).toBe(2);
    const said = worker.lines.join("\n");
    expect(said).toContain('settings.queuePrefix "key-rotator-plain" is not a hash tag');
    expect(said).toContain("{key-rotator}");
    expect(said).not.toMatch(/^\s+at /m);

    const status = startCli(["status"], { env: w.env });
    expect(await status.exited).toBe(2);
    expect(status.lines.join("\n")).toContain("is not a hash tag");
  }, 30_000);

  it("a CA that did not sign the nodes' certificates: one line that says TLS", async () => {
    world = await startWorld({ redis: cluster.topology([startHost]) });
    const w = world;
    const otherCa = join(w.env.REDIS_TLS_CA_FILE ?? "", "..", "other-ca.crt");
    const rotate = startCli(["rotate", "cred-0"], { env: { ...w.env, REDIS_TLS_CA_FILE: otherCa } });
    expect(await rotate.exited).toBe(1);
    expect(rotate.lines.join("\n")).toMatch(
      new RegExp(
        `^key-rotator: Redis does not answer at Redis Cluster 127\\.0\\.0\\.1:${startHost} over TLS \\(TLS: `,
        "m",
      ),
    );
  }, 30_000);
});
