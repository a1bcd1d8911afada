import { defineConfig } from "vitest/config";

// Integration tests spawn real processes and talk to a real Redis: give them room, and keep
// two cores from thrashing by limiting parallel files.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    exclude: ["test/chaos/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // A Redis for the run: the one at REDIS_URL, or a private redis-server when none answers.
    globalSetup: ["./test/support/global-setup.ts"],
    // Node 20 here: the AWS SDK's notice about Node 22 would bury the test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
