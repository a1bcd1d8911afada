/**
 * The product on a Redis that speaks only TLS (127.0.0.1:7400, a CA made by openssl) and lets in
 * only an ACL user: REDIS_URL=rediss://..., REDIS_TLS_CA_FILE, REDIS_USERNAME and
 * REDIS_PASSWORD_FILE. A worker and the CLI rotate; the password is in no process environment; a
 * wrong CA, a wrong password and an unreadable CA file each get one clear line, without the password.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";
import { redisEnvFor } from "../../src/queue/redis.js";
import { type RedisTlsUnderTest, startRedisTls } from "../support/redis-tls.js";
import { type World, expectConverged, startWorld } from "../support/rotation-world.js";

const PORT = 7400;

describe("on a TLS-only Redis with an ACL user", () => {
  let server: RedisTlsUnderTest;
  // One world for every case: the refusals below happen before anything reaches the store.
  let world: World;
  beforeAll(async () => {
    server = await startRedisTls({ port: PORT });
    world = await startWorld({ redis: server.topology(), grace: "1s", logLevel: "info" });
  }, 60_000);
  afterAll(async () => {
    await world?.close();
    await server?.stop();
  });

  it("a worker and the CLI rotate; the password stays out of every process environment", async () => {
    const w = world;
    const c = w.creds[0];
    if (!c) throw new Error("no credential");
    expect(w.env.REDIS_URL).toBe(server.url);
    expect(JSON.stringify(w.env)).not.toContain(server.password);
    const worker = await w.startWorker();
    const rotate = startCli(["rotate", c.id], { env: w.env });
    expect(await rotate.exited, rotate.lines.join("\n")).toBe(0);
    await w.waitRotated(c, 30_000);
    expect(await expectConverged(w, c)).toEqual([]);
    const status = startCli(["status", c.id], { env: w.env });
    expect(await status.exited, status.lines.join("\n")).toBe(0);
    expect(status.lines.join("\n")).not.toContain("Redis unreachable");

    const environ = readFileSync(`/proc/${worker.child.pid}/environ`, "utf8");
    expect(environ).toContain(`REDIS_PASSWORD_FILE=${server.passwordFile}`);
    expect(environ).not.toContain(server.password);
    expect(worker.lines.join("\n")).not.toContain(server.password);
  }, 60_000);

  it("a CA that did not sign the server's certificate: one line that says TLS", async () => {
    const rotate = startCli(["rotate", "cred-0"], { env: { ...world.env, REDIS_TLS_CA_FILE: server.otherCaFile } });
    expect(await rotate.exited).toBe(1);
    const said = rotate.lines.join("\n");
    expect(said).toMatch(/^key-rotator: Redis does not answer at rediss:\/\/127\.0\.0\.1:7400 as key-rotator \(TLS: /m);
    expect(said).not.toMatch(/^\s+at /m);
  }, 30_000);

  it("a wrong password: one line that says the login was refused, without either password", async () => {
    const wrong = join(world.inventory, "..", "wrong-password");
    writeFileSync(wrong, "not-the-password\n");
    const rotate = startCli(["rotate", "cred-0"], { env: { ...world.env, REDIS_PASSWORD_FILE: wrong } });
    expect(await rotate.exited).toBe(1);
    const said = rotate.lines.join("\n");
    expect(said).toMatch(/refused the login: WRONGPASS/);
    expect(said).not.toContain("not-the-password");
    expect(said).not.toContain(server.password);
  }, 30_000);

  it("an unreadable CA file or TLS settings without TLS: bad input (exit 2), naming the variable", async () => {
    const missing = startCli(["rotate", "cred-0"], {
      env: { ...world.env, REDIS_TLS_CA_FILE: "/nonexistent/ca.pem" },
    });
    expect(await missing.exited).toBe(2);
    expect(missing.lines.join("\n")).toContain("REDIS_TLS_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT)");
    const plain = startCli(["rotate", "cred-0"], {
      env: {
        ...world.env,
        ...redisEnvFor({ kind: "node", url: `redis://127.0.0.1:${PORT}` }),
        REDIS_TLS_CA_FILE: server.caFile,
      },
    });
    expect(await plain.exited).toBe(2);
    expect(plain.lines.join("\n")).toContain("REDIS_TLS_CA_FILE is set but TLS is off");
  }, 30_000);
});
