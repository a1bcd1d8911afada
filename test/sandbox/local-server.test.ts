/** What the local servers share (src/sandbox/local-server.ts): a taken port, and the 1 MiB body cap. */
import { afterEach, describe, expect, it } from "vitest";
import { sandboxCommand } from "../../src/cli/sandbox.command.js";
import { startJustCallSimulator } from "../../src/sandbox/justcall-sim.js";
import { startCallCovSimulator } from "../../src/sandbox/callcov-sim.js";
import { MAX_BODY_BYTES } from "../../src/sandbox/local-server.js";
import { startSecretsManagerEmulator } from "../../src/sandbox/secrets-manager-emulator.js";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

describe("a taken port", () => {
  it("starting a simulator on it rejects with a message naming host:port", async () => {
    const first = await startCallCovSimulator();
    closers.push(() => first.close());
    const port = Number(new URL(first.url).port);
    await expect(startCallCovSimulator({ port })).rejects.toThrow(`port 127.0.0.1:${port} is already in use`);
    // The first one still serves.
    expect((await fetch(`${first.url}/api/v1/health`)).status).toBe(401);
  });

  it("`key-rotator sandbox --port-base` prints that one line and exits 2", async () => {
    const taken = await startSecretsManagerEmulator();
    closers.push(() => taken.close());
    const port = Number(new URL(taken.url).port);
    const lines = { stdout: [] as string[], stderr: [] as string[] };
    const code = await sandboxCommand(
      { portBase: String(port) },
      { stdout: (t) => lines.stdout.push(t), stderr: (t) => lines.stderr.push(t) },
    );
    expect(code).toBe(2);
    expect(lines).toEqual({ stdout: [], stderr: [`key-rotator sandbox: port 127.0.0.1:${port} is already in use`] });
  });
});

describe("request bodies over 1 MiB", () => {
  const big = "x".repeat(MAX_BODY_BYTES + 1);

  it("CallCov answers 413 in its own error format and keeps serving", async () => {
    const sim = await startCallCovSimulator();
    closers.push(() => sim.close());
    const res = await fetch(`${sim.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: { code: "payload_too_large", message: "The request body exceeds 1 MiB" },
    });
    // Without Content-Length (chunked), the bytes received are counted.
    const chunk = new TextEncoder().encode("y".repeat(256 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(chunk);
        c.close();
      },
    });
    const chunked = await fetch(`${sim.url}/api/v1/auth/login`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    const atLimit = await fetch(`${sim.url}/api/v1/auth/login`, { method: "POST", body: " ".repeat(MAX_BODY_BYTES) });
    expect(atLimit.status).toBe(400);
  });

  it("JustCall answers 413 in its own error format", async () => {
    const sim = await startJustCallSimulator();
    closers.push(() => sim.close());
    const res = await fetch(`${sim.url}/v2/account`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ status: "error", message: "Request body too large." });
  });

  it("the Secrets Manager emulator answers 413 in AWS's JSON error shape", async () => {
    const emulator = await startSecretsManagerEmulator();
    closers.push(() => emulator.close());
    const res = await fetch(emulator.url, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.ListSecrets" },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("x-amzn-errortype")).toBe("RequestEntityTooLargeException");
    expect(await res.json()).toEqual({
      __type: "RequestEntityTooLargeException",
      message: `The request body exceeds ${MAX_BODY_BYTES} bytes.`,
    });
  });
});
