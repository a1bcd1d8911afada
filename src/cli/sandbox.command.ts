/**
 * `key-rotator sandbox`: runs the emulator and simulators until SIGTERM/SIGINT and prints one
 * JSON line with their URLs, for trying the product without AWS or vendor accounts:
 *   AWS_ENDPOINT_URL_SECRETS_MANAGER=<secretsManager> AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x ...
 */
import { ListenError } from "../sandbox/local-server.js";
import { type Sandbox, startSandbox } from "../sandbox/sandbox.js";
import { EXIT_OK, EXIT_USAGE, type Out } from "./output.js";

export async function sandboxCommand(o: { portBase?: string }, out: Out): Promise<number> {
  const portBase = o.portBase === undefined ? undefined : Number(o.portBase);
  if (portBase !== undefined && (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_533)) {
    out.stderr(`key-rotator sandbox: --port-base must be a port number from 1024 to 65533, got "${o.portBase ?? ""}"`);
    return EXIT_USAGE;
  }
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox(portBase ? { portBase } : {});
  } catch (err) {
    // A taken port is bad input (choose another --port-base): one line, exit 2, no stack trace.
    if (!(err instanceof ListenError)) throw err;
    out.stderr(`key-rotator sandbox: ${err.message}`);
    return EXIT_USAGE;
  }
  out.stdout(JSON.stringify(sandbox.urls));
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await sandbox.close();
  return EXIT_OK;
}
