/**
 * Redis commands one process sent, not the whole server's: the process's TCP connections are
 * found from /proc (its socket inodes, their local ports), and MONITOR's stream is counted for
 * those source addresses only, so other clients of a shared Redis (other tests, other benches)
 * do not inflate the figure. Loopback, one Redis node.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
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

/** Counts the commands process `pid` sends to this Redis until `stop()` is called. */
export async function countCommandsOf(
  redis: Redis,
  pid: number,
): Promise<{ stop(): Promise<{ commands: number; byCommand: Record<string, number> }> }> {
  let ports = localPorts(pid);
  const byCommand: Record<string, number> = {};
  let commands = 0;
  const monitor = await redis.monitor();
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    const port = Number(source.split(":").pop());
    if (!ports.has(port)) {
      ports = new Set([...ports, ...localPorts(pid)]); // a connection opened since
      if (!ports.has(port)) return;
    }
    commands += 1;
    const name = String(args[0] ?? "").toLowerCase();
    byCommand[name] = (byCommand[name] ?? 0) + 1;
  });
  return {
    async stop() {
      monitor.disconnect();
      return { commands, byCommand };
    },
  };
}
