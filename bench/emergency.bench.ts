/**
 * Emergency latency: from the trigger (admin HTTP, and the CLI as a new process) to the old key
 * being refused by the vendor simulator, against the floor: the same vendor and store calls made
 * directly in sequence, with the same clients, in this process.
 */
import { SecretValue } from "../src/core/secret.js";
import { parseStoredValue, vendorSecretOf } from "../src/core/stored-value.js";
import { SANDBOX_LOGIN } from "../src/sandbox/sandbox.js";
import { startCli } from "../src/sandbox/cli-process.js";
import { AwsSecretStore, createSecretsManagerClient } from "../src/store/aws-secret-store.js";
import { CallCovVendor } from "../src/vendors/callcov/callcov-vendor.js";
import { benchWorld, percentile, round, until } from "./bench-world.js";

export interface EmergencyFigures {
  runs: number;
  p50_ms: number;
  p95_ms: number;
  floor_p50_ms: number;
  ratio: number;
  cli_p50_ms: number;
  cli_runs: number;
}

const TOKEN = "bench-admin-token-0123456789";
const WARM_UP = 5;

export async function emergencyBench(runs: number, progress: (s: string) => void): Promise<EmergencyFigures> {
  const cliRuns = Math.max(3, Math.floor(runs / 4));
  // Some 150 rotations in about a minute: CallCov's default management budget (120 calls a minute)
  // would put the worker to wait for its reset. The fleet measures that budget; this, one incident.
  const world = await benchWorld({ credentials: (runs + WARM_UP) * 2 + cliRuns, managementPerMinute: 10_000, inventory: { grace: "15m" } });
  try {
    const revokedAt = new Map<string, number>();
    const state = world.sandbox.callcov.state;
    const revoke = state.revoke.bind(state);
    state.revoke = (id: string) => {
      const done = revoke(id);
      if (done) revokedAt.set(id, performance.now());
      return done;
    };
    const { httpUrl } = await world.startWorker({ KEY_ROTATOR_ADMIN_TOKEN: TOKEN });
    const creds = [...world.creds];
    const next = () => {
      const c = creds.shift();
      if (!c) throw new Error("out of credentials");
      return c;
    };

    // One emergency at a time with a pause between them, as incidents come: back-to-back runs
    // would measure the fleet's write-quota limiter instead of the latency of one emergency.
    const pause = () => new Promise((r) => setTimeout(r, 150));
    const viaHttp = async () => {
      await pause();
      const c = next();
      const t0 = performance.now();
      const res = await fetch(`${httpUrl}/v1/credentials/${c.id}/rotate`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ emergency: true, reason: "bench" }) });
      if (res.status !== 202) throw new Error(`admin rotate answered ${res.status}`);
      await until(() => revokedAt.has(c.keyId), 30_000, `${c.id} revoked`);
      return (revokedAt.get(c.keyId) ?? 0) - t0;
    };
    // The floor: the same calls, in sequence, no queue.
    const client = createSecretsManagerClient({ endpoint: world.sandbox.urls.secretsManager });
    const store = new AwsSecretStore(client);
    const vendor = new CallCovVendor({ baseUrl: world.sandbox.urls.callcov, mode: "live", loadLogin: async () => ({ email: SANDBOX_LOGIN.email, password: new SecretValue(SANDBOX_LOGIN.password) }) });
    const floorOnce = async () => {
      await pause();
      const c = next();
      const t0 = performance.now();
      await store.listVersions(c.secretId);
      const current = await store.read(c.secretId, { stage: "AWSCURRENT" });
      const old = parseStoredValue(current.value, "floor");
      const rotationId = crypto.randomUUID();
      const created = await vendor.createKey(`key-rotator/${c.id}/${rotationId}`);
      await store.putPending(c.secretId, rotationId, new SecretValue(JSON.stringify({ vendor: "callcov", apiKey: created.key.reveal(), keyId: created.keyId })));
      const pending = parseStoredValue((await store.read(c.secretId, { versionId: rotationId })).value, "floor");
      await vendor.verify(vendorSecretOf(pending));
      await store.promote(c.secretId, rotationId, current.versionId);
      await vendor.revokeKey(old.vendor === "callcov" ? old.keyId : "");
      const elapsed = (revokedAt.get(c.keyId) ?? performance.now()) - t0;
      await vendor.verify(vendorSecretOf(old));
      return elapsed;
    };
    // Both paths warmed alike (connections, logins, the JIT), then measured in turns, so that a
    // machine that slows down or speeds up during the run weighs on both the same.
    for (let i = 0; i < WARM_UP; i++) {
      await viaHttp();
      await floorOnce();
    }
    const http: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      http.push(await viaHttp());
      floor.push(await floorOnce());
    }
    progress(`emergency via admin HTTP: ${runs} runs, p50 ${round(percentile(http, 50), 1)} ms; floor p50 ${round(percentile(floor, 50), 1)} ms`);

    const cli: number[] = [];
    for (let i = 0; i < cliRuns; i++) {
      const c = next();
      const t0 = performance.now();
      const p = startCli(["rotate", c.id, "--emergency", "--reason", "bench"], { env: world.env, useBuild: true });
      await until(() => revokedAt.has(c.keyId), 30_000, `${c.id} revoked`);
      cli.push((revokedAt.get(c.keyId) ?? 0) - t0);
      await p.exited;
    }
    progress(`emergency via CLI process: ${cliRuns} runs, p50 ${round(percentile(cli, 50), 1)} ms (includes starting node)`);

    client.destroy();
    const p50 = percentile(http, 50);
    const floorP50 = percentile(floor, 50);
    return { runs, p50_ms: round(p50), p95_ms: round(percentile(http, 95)), floor_p50_ms: round(floorP50), ratio: round(p50 / floorP50), cli_p50_ms: round(percentile(cli, 50)), cli_runs: cliRuns };
  } finally {
    await world.close();
  }
}
