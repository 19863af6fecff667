// What test/helpers/compiled-build.ts bundles: the CLI and every module the sources fork.
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Entry points, relative to the root; each becomes <build>/<base name>.js. */
export const COMPILED_ENTRIES = [
  "src/cli/cli.ts",
  "src/ort/session-worker.ts",
  "src/export/reference-worker.ts",
  "src/bench/export-probe.ts",
];
