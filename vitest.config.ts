import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // The CLI and the worker entry points bundled once per run; forks of the workers use them.
    globalSetup: ["test/helpers/compiled-build.ts"],
    setupFiles: ["test/helpers/compiled-workers.ts"],
  },
});
