/** A redis-server of the test's own on a free port, for tests that FLUSHALL. */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";

export async function startPrivateRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => undefined);
    const ok = await r
      .connect()
      .then(() => r.ping())
      .then(
        () => true,
        () => false,
      );
    r.disconnect();
    if (ok) return { url, stop: async () => void child.kill("SIGKILL") };
    await new Promise((res) => setTimeout(res, 50));
  }
  child.kill("SIGKILL");
  throw new Error("redis-server did not start");
}
