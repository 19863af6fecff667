// The bench command's options, shared by `jazzmine-embed bench` and `npm run bench` so both
// take the same flags.
import { type FlagSpec, type Flags } from "./args.js";
import { UsageError } from "../common/usage.js";
import { VARIANT_KEYS, parseVariants } from "../bench/exports.js";
import { DEFAULT_BENCH_MODEL, SYNTHETIC_MODELS, SYNTHETIC_PREFIX } from "../bench/models.js";
import { parseShapes } from "../bench/shapes.js";
import type { BenchOptions } from "../bench/suite.js";

export const BENCH_USAGE = `[<model-id-or-folder>] [options]   (default: ${DEFAULT_BENCH_MODEL}; also ${Object.keys(SYNTHETIC_MODELS)
  .filter((name) => SYNTHETIC_PREFIX + name !== DEFAULT_BENCH_MODEL)
  .map((name) => SYNTHETIC_PREFIX + name)
  .join(", ")})`;

export const BENCH_FLAGS: FlagSpec[] = [
  { name: "output", alias: "o", value: "dir", help: "folder for the results: <model>-<date>.json, .md and .svg (default ./bench-results)" },
  {
    name: "shapes",
    value: "1x16,8x128",
    help: "batch×sequence shapes to time, or none (default 1x16,1x128,8x128,32x128; rerankers 1x128,32x256)",
  },
  { name: "threads", value: "N", help: "onnxruntime intra-op threads (default: every core)" },
  {
    name: "spin",
    help: "let onnxruntime's threads spin between runs, its default (off: interleaved sessions would steal each other's cores)",
  },
  { name: "runs", value: "N", help: "latency rounds per shape (default: as many as fit ~8 s per shape)" },
  { name: "export-runs", value: "N", help: "fresh-process exports per variant (default 5 for FP32, 2 for INT8)" },
  { name: "variants", value: VARIANT_KEYS.join(","), help: "what to export and time (default: all)" },
  { name: "quick", help: "fewer runs: a rough table in about a minute" },
  { name: "work", value: "dir", help: "keep the exported models in this folder (default: a temporary folder, removed)" },
];

/** The suite's options from parsed flags (usage errors for bad values). */
export function benchOptions(model: string | undefined, flags: Flags): BenchOptions {
  const text = (name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
  const shapes = text("shapes");
  const variants = text("variants");
  const work = text("work");
  return {
    model: model ?? DEFAULT_BENCH_MODEL,
    outputDir: text("output") ?? "bench-results",
    ...(shapes !== undefined ? { shapes: shapes === "none" ? [] : usage(() => parseShapes(shapes)) } : {}),
    ...(variants !== undefined ? { variants: usage(() => parseVariants(variants)) } : {}),
    ...(flags.threads !== undefined ? { threads: positive("threads", flags.threads) } : {}),
    spinning: flags.spin === true,
    ...(flags.runs !== undefined ? { runs: positive("runs", flags.runs) } : {}),
    ...(flags["export-runs"] !== undefined ? { exportRuns: positive("export-runs", flags["export-runs"]) } : {}),
    ...(work !== undefined ? { workDir: work } : {}),
    quick: flags.quick === true,
  };
}

/** How a run was started, for the result: the command and its flags. */
export function commandLine(command: string, model: string | undefined, flags: Flags): string {
  return [command, model ?? "", ...Object.entries(flags).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`))]
    .filter(Boolean)
    .join(" ");
}

function positive(flag: string, value: string | true): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, not ${String(value)}`);
  return n;
}

function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
