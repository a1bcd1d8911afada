/**
 * The image: the benchmark and the tests run compiled workers the way the image does (the same V8
 * flags and environment; if the Dockerfile changes them, the figures would describe another
 * process), and the image test's own checks catch what they exist for (test/image/image-checks.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WORKER_ENV, WORKER_NODE_FLAGS } from "../../src/demo/cli-process.js";
import { podmanRunArgs, unexpectedFiles } from "../../test/image/image-checks.js";

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

describe("image checks", () => {
  const listing = (...lines: string[]) => lines.join("\n");

  it("accept an image with production packages and compiled code only", () => {
    const ok = listing(
      "nm:node_modules:",
      "nm:@aws-sdk",
      "nm:bullmq",
      "nm:",
      "nm:node_modules/@aws-sdk:",
      "nm:client-secrets-manager",
      "./package.json",
      "./dist/src/cli/main.js",
      "./dist/src/cli/main.d.ts",
    );
    expect(unexpectedFiles(ok, ["vitest", "@types/node", "typescript"])).toEqual([]);
  });

  it("find a devDependency, scoped or not, and TypeScript sources or build files", () => {
    const bad = listing(
      "nm:node_modules:",
      "nm:vitest",
      "nm:@types",
      "nm:",
      "nm:node_modules/@types:",
      "nm:node",
      "./src/cli/main.ts",
      "./dist/src/x.mts",
      "./tsconfig.build.json",
      "./test/unit/a.js",
    );
    expect(unexpectedFiles(bad, ["vitest", "@types/node", "typescript"])).toEqual([
      "devDependency vitest is installed",
      "devDependency @types/node is installed",
      "TypeScript source ./src/cli/main.ts",
      "TypeScript source ./dist/src/x.mts",
      "build file ./tsconfig.build.json",
      "source file ./test/unit/a.js",
    ]);
  });

  it("run the container as the chart runs the pod", () => {
    const args = podmanRunArgs({
      name: "kr",
      image: "img",
      env: { REDIS_URL: "redis://127.0.0.1:6379" },
      ulimits: [],
      config: "/c",
      secrets: "/s",
      uid: 1000,
    });
    const text = args.join(" ");
    for (const part of [
      "--read-only",
      "--user 1000:1000",
      "--cap-drop ALL",
      "--tmpfs /tmp:",
      "--volume /c:/etc/key-rotator/config:ro",
      "--volume /s:/var/run/secrets/key-rotator:ro",
      "--env REDIS_URL=redis://127.0.0.1:6379",
    ])
      expect(text).toContain(part);
    expect(args.at(-1)).toBe("img");
  });
});
