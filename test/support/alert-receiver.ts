/** A local HTTP receiver for the generic webhook alert route: records every alert it is sent. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedAlert {
  action: string;
  kind: string;
  credentialId: string;
  severity: string;
  summary: string;
}

export async function alertReceiver(): Promise<{ url: string; got: ReceivedAlert[]; server: Server }> {
  const got: ReceivedAlert[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push(JSON.parse(body) as ReceivedAlert);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, got, server };
}

/** Polls until the check holds, or fails naming what it waited for. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
