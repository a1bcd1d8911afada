/**
 * The emergency floor's own process: reads one credential a line on stdin (JSON: id, secretId),
 * makes an emergency's calls for it (floor-calls.ts) and answers "done" on stdout. It runs apart
 * from the sandbox, as the worker does: a call that crosses to another process costs more than one
 * a process makes to itself, and the floor is meant to count everything but the worker's own work.
 */
import { createInterface } from "node:readline";
import { floorClients } from "./floor-calls.js";

const [secretsManagerUrl, callcovUrl] = process.argv.slice(2);
if (!secretsManagerUrl || !callcovUrl) throw new Error("usage: emergency-floor <secrets manager url> <callcov url>");
const floor = floorClients(secretsManagerUrl, callcovUrl);
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  try {
    await floor.run(JSON.parse(line) as { id: string; secretId: string });
    process.stdout.write("done\n");
  } catch (err) {
    process.stdout.write(`failed ${String(err)}\n`);
  }
}
floor.close();
