/**
 * The worker process and its signals and start-up input: SIGTERM while it is still starting ends
 * it at once with exit 0 (a pod stopped then must not wait for its SIGKILL), and a Redis that does
 * not answer or a short admin token ends it with one clear line, never a stack trace.
 */
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "../../src/demo/cli-process.js";

const INVENTORY = `credentials:
  - id: cc-one
    vendor: callcov
    secretId: t/cc-one
    baseUrl: http://127.0.0.1:9
    managementSecretId: t/login
    rotation: { every: 90d }
`;
let dir: string;
let config: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kr-signals-"));
  config = join(dir, "inventory.yaml");
  writeFileSync(config, INVENTORY);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A TCP server that takes connections and never answers: a Redis that hangs. */
async function silentRedis(): Promise<{ url: string; connected: Promise<void>; server: Server; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  let connected: () => void = () => undefined;
  const first = new Promise<void>((r) => (connected = r));
  const server = createServer((s) => {
    sockets.push(s);
    connected();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, connected: first, server, sockets };
}

const env = (extra: Record<string, string>) => ({
  KEY_ROTATOR_HTTP_PORT: "0",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "x",
  AWS_SECRET_ACCESS_KEY: "x",
  ...extra,
});
const noStack = (lines: string[]) => lines.filter((l) => /^\s+at /.test(l));

describe("the worker process", () => {
  it("SIGTERM while it waits for Redis at start-up: exits 0 at once", async () => {
    const redis = await silentRedis();
    try {
      const w = startCli(["worker", "--config", config], { env: env({ REDIS_URL: redis.url }) });
      await redis.connected;
      const sent = Date.now();
      const code = await w.kill("SIGTERM");
      expect(code).toBe(0);
      // Well before the 3 s after which a silent Redis would end it with exit 1.
      expect(Date.now() - sent).toBeLessThan(2_500);
      expect(noStack(w.lines)).toEqual([]);
    } finally {
      for (const s of redis.sockets) s.destroy();
      redis.server.close();
    }
  });

  it("no Redis: exit 1 with one clear line, no stack trace", async () => {
    const w = startCli(["worker", "--config", config], { env: env({ REDIS_URL: "redis://127.0.0.1:9" }) });
    expect(await w.exited).toBe(1);
    expect(w.lines.some((l) => l.includes("Redis does not answer at redis://127.0.0.1:9"))).toBe(true);
    expect(noStack(w.lines)).toEqual([]);
  });

  it("an admin token shorter than 16 characters: exit 2 naming the variable", async () => {
    const w = startCli(["worker", "--config", config], {
      env: env({ REDIS_URL: "redis://127.0.0.1:9", KEY_ROTATOR_ADMIN_TOKEN: "short" }),
    });
    expect(await w.exited).toBe(2);
    expect(w.lines.some((l) => l.includes("KEY_ROTATOR_ADMIN_TOKEN: the token must be at least 16 characters"))).toBe(
      true,
    );
    expect(w.lines.join("\n")).not.toContain("short");
  });
});
