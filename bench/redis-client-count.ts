/**
 * Redis commands one process sent, not the whole server's: the process's TCP connections are
 * found from /proc (its socket inodes, their local ports), and MONITOR's stream is counted for
 * those source addresses only, so other clients of a shared Redis (other tests, other benches)
 * do not inflate the figure. Loopback, one Redis node.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { connect } from "node:net";
import type { Redis } from "ioredis";

/** The local ports of the TCP connections process `pid` holds now. */
export function localPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed while we looked
    }
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9] ?? "")) ports.add(Number.parseInt(f[1]?.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

/**
 * Counts the commands process `pid` sends to this Redis until `stop()` is called. MONITOR runs on
 * a plain socket of its own: a client library's connection may send its own commands (a name, a
 * database) after MONITOR and then misread the stream.
 */
export async function countCommandsOf(
  redis: Redis,
  pid: number,
): Promise<{ stop(): Promise<{ commands: number; byCommand: Record<string, number> }> }> {
  let ports = localPorts(pid);
  const byCommand: Record<string, number> = {};
  let commands = 0;
  const { host = "127.0.0.1", port = 6379, username, password } = redis.options;
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  if (password) socket.write(`AUTH ${username ? `${username} ` : ""}${password}\r\n`);
  socket.write("MONITOR\r\n");
  let buffered = "";
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\r\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      // +1796019922.820139 [0 127.0.0.1:37134] "hset" "key" ...
      const m = /^\+\d+\.\d+ \[\d+ [^\]]*:(\d+)\] "([^"]*)"/.exec(line);
      if (!m) continue;
      const from = Number(m[1]);
      if (!ports.has(from)) {
        ports = new Set([...ports, ...localPorts(pid)]); // a connection opened since
        if (!ports.has(from)) continue;
      }
      commands += 1;
      const name = (m[2] ?? "").toLowerCase();
      byCommand[name] = (byCommand[name] ?? 0) + 1;
    }
  });
  socket.on("error", () => undefined);
  return {
    async stop() {
      socket.destroy();
      return { commands, byCommand };
    },
  };
}
