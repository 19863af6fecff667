// Shared bench helpers: the generated bge-small-shaped model (the suite's default model, from
// the same cache), medians, file sizes.
import { statSync } from "node:fs";
import { join } from "node:path";
import { syntheticModelDir } from "../dist/bench/models.js";

export { median } from "../dist/bench/stats.js";

export const CACHE = join(import.meta.dirname, "..", ".cache", "bench");

/** The bge-small-shaped synthetic model (generated once, then reused). */
export function bgeSmallModel(): string {
  return syntheticModelDir("bge-small", join(CACHE, "models"), (message) => process.stderr.write(`${message}\n`));
}

export const fileMiB = (path: string) => statSync(path).size / 2 ** 20;
