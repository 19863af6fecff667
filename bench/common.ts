// Shared bench helpers: the generated bge-small-shaped model, medians, process runs.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { BGE_SMALL_SHAPE, syntheticBert, writeModelFolder } from "../dist/fixtures/index.js";

export const CACHE = join(import.meta.dirname, "..", ".cache", "bench");

/** The bge-small-shaped synthetic model (generated once, then reused). */
export function bgeSmallModel(): string {
  const dir = join(CACHE, "bge-small-synthetic");
  if (!existsSync(join(dir, "model.safetensors"))) {
    process.stderr.write(`generating ${dir} (12 layers, hidden 384, vocab 30522)...\n`);
    writeModelFolder(dir, syntheticBert({ ...BGE_SMALL_SHAPE, seed: 7 }));
  }
  return dir;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const fileMiB = (path: string) => statSync(path).size / 2 ** 20;

/** Runs a bench child script (TypeScript through tsx) and parses its JSON line. */
export function runChild<T>(script: string, args: string[]): T {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, script), ...args], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").at(-1)!) as T;
}
