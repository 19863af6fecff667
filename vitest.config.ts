import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two files at a time even on two cores (vitest's default there is one): a test spends much of
    // its time waiting on the processes it starts (onnxruntime workers, the CLI, npm).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The CLI and the worker entry points bundled once per run; forks of the workers use them.
    globalSetup: ["test/helpers/compiled-build.ts"],
    setupFiles: ["test/helpers/compiled-workers.ts"],
    // Loads remember verified file hashes (src/artifact/verified-files.ts): the suite's memo stays in the repo's cache, not the user's.
    env: { JAZZMINE_CACHE_DIR: resolve(".cache/test-memo") },
  },
});
