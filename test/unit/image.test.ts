/**
 * The benchmark and the tests run compiled workers the way the image does: the same V8 flags and
 * the same environment. If the Dockerfile changes them, the figures would describe another process.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WORKER_ENV, WORKER_NODE_FLAGS } from "../../src/demo/cli-process.js";

const dockerfile = readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8");
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

describe("the image runs the worker as the bench does", () => {
  it("with the same node flags", () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(runtimeStage)?.[1];
    const args = JSON.parse(entrypoint ?? "[]") as string[];
    expect(args[0]).toBe("node");
    expect(args.slice(1, -1)).toEqual(WORKER_NODE_FLAGS);
  });

  it("with the same environment", () => {
    const env: Record<string, string> = {};
    for (const line of runtimeStage.split("\n").filter((l) => l.startsWith("ENV "))) {
      for (const pair of line.slice(4).trim().split(/\s+/)) {
        const [name, value] = pair.split("=");
        if (name && value !== undefined) env[name] = value;
      }
    }
    expect(env).toMatchObject(WORKER_ENV);
    expect(env.NODE_ENV).toBe("production");
  });
});
