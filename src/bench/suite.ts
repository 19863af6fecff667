// The benchmark suite behind `npm run bench` and `jazzmine-embed bench`: for one model, export
// every variant (fresh process per run, interleaved), then load each artifact in
// onnxruntime-node and time it per input shape (interleaved rounds), and write the result as
// JSON, Markdown and an SVG chart.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadEncoder } from "../arch/encoder-folder.js";
import { ensureDir, writeFileAtomic } from "../common/atomic.js";
import type { ModelResolver } from "../export/model-source.js";
import { renderChart } from "./chart.js";
import { type ExportMeasurement, VARIANT_KEYS, type VariantKey, measureExports, weightBytes } from "./exports.js";
import { type LatencyModel, type RoundPolicy, type ShapeResult, latencyRatio, measureLatency } from "./latency.js";
import { describeMachine, finishMachine } from "./machine.js";
import { renderMarkdown } from "./markdown.js";
import { DEFAULT_BENCH_MODEL, describeModel, resolveBenchModel } from "./models.js";
import { type BenchResult, RESULT_KIND, RESULT_VERSION, type Target } from "./result.js";
import { DEFAULT_SHAPES, RERANK_SHAPES, type Shape } from "./shapes.js";
import { detectTask } from "../heads/tasks.js";

export interface BenchOptions {
  /** A synthetic model (synthetic:bge-small, the default), a local folder or a Hub id. */
  model?: string;
  shapes?: readonly Shape[];
  /** onnxruntime intra-op threads for the latency runs (default: every core). */
  threads?: number;
  /** Let onnxruntime's threads spin between runs, its default (default false: see LatencyPlan.spinning). */
  spinning?: boolean;
  /** Exactly this many latency rounds per shape (default: as many as fit a time budget). */
  runs?: number;
  /** Export runs per variant (default 5 for FP32, 2 for INT8; --quick 3 and 1). */
  exportRuns?: number;
  variants?: readonly VariantKey[];
  /** Fewer runs and a smaller time budget: a rough table in about a minute. */
  quick?: boolean;
  /** Where <model>-<date>.json/.md/.svg go. */
  outputDir: string;
  /** Where the exports are written (default: a temporary folder, removed afterwards). */
  workDir?: string;
  /** Where synthetic models are generated (and kept for the next run). */
  cacheDir?: string;
  /** Resolves Hub ids (the CLI passes its Hub client). */
  resolver?: ModelResolver;
  /** Recorded in the result: how the run was started. */
  command?: string;
  log?: (message: string) => void;
}

export interface BenchOutput {
  result: BenchResult;
  files: { json: string; markdown: string; svg: string };
}

/** The targets (the wall time and the latency ones for the model they were set on). */
const FP32_WALL_TARGET_MS = 1000;
const FP32_RSS_TARGET = 1.5;
/** Portable ÷ primary FP32 latency at 1×16, at least. */
const PRIMARY_SPEEDUP_TARGET = 1.2;
/** INT8 static ÷ FP32 latency at 8×128, at most. */
const INT8_LATENCY_TARGET = 0.4;

export async function runBench(options: BenchOptions): Promise<BenchOutput> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const variants = [...(options.variants ?? VARIANT_KEYS)];
  const threads = options.threads ?? availableParallelism();
  const spinning = options.spinning ?? false;
  const exportRuns = Object.fromEntries(
    variants.map((v) => [v, options.exportRuns ?? (v.startsWith("fp32") ? (quick ? 3 : 5) : quick ? 1 : 2)]),
  ) as Record<VariantKey, number>;
  const latencyRounds: RoundPolicy = options.runs
    ? { fixed: options.runs, budgetMs: 0, min: options.runs, max: options.runs }
    : quick
      ? { budgetMs: 2500, min: 5, max: 100 }
      : { budgetMs: 8000, min: 10, max: 300 };
  const sessionLoads = quick ? 3 : 5;
  const machine = describeMachine();

  const model = await resolveBenchModel(options.model ?? DEFAULT_BENCH_MODEL, {
    cacheDir: options.cacheDir ?? join(tmpdir(), "jazzmine-bench-models"),
    ...(options.resolver ? { resolver: options.resolver } : {}),
    log,
  });
  const weightsBytes = weightBytes(model.dir);
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), "jazzmine-bench-"));
  try {
    ensureDir(workDir);
    const exports = await measureExports({ modelId: model.id, dir: model.dir, workDir, variants, runs: (v) => exportRuns[v], log });
    const models: LatencyModel[] = exports.flatMap((e) => (e.artifact && !e.error ? [{ key: e.variant, path: e.artifact.path }] : []));
    const encoder = loadEncoder(model.dir);
    const config = encoder.config;
    const task = detectTask(encoder);
    encoder.close();
    const shapes = [...(options.shapes ?? (task === "rerank" ? RERANK_SHAPES : DEFAULT_SHAPES))];
    const latency =
      models.length > 0 && shapes.length > 0
        ? await measureLatency({
            models,
            shapes,
            threads,
            spinning,
            config,
            rounds: latencyRounds,
            loadRounds: sessionLoads,
            baseline: "fp32",
            log,
          })
        : { sessions: [], shapes: [] };
    const result: BenchResult = {
      kind: RESULT_KIND,
      version: RESULT_VERSION,
      startedAt: new Date(started).toISOString(),
      durationSeconds: (Date.now() - started) / 1000,
      command: options.command ?? "runBench()",
      model: { id: model.id, slug: model.slug, source: model.source, description: describeModel(model.dir), weightsBytes, task },
      machine: finishMachine(machine),
      settings: { threads, spinning, shapes, variants, exportRuns, latencyRounds, sessionLoads, quick },
      exports,
      sessions: latency.sessions,
      latency: latency.shapes,
      targets: [
        ...targetsFor(
          model.id,
          weightsBytes,
          exports.find((e) => e.variant === "fp32"),
        ),
        ...(model.id === DEFAULT_BENCH_MODEL ? latencyTargets(latency.shapes) : []),
      ],
    };
    return { result, files: writeResult(result, options.outputDir) };
  } finally {
    if (!options.workDir) rmSync(workDir, { recursive: true, force: true });
  }
}

function targetsFor(modelId: string, weightsBytes: number, fp32: ExportMeasurement | undefined): Target[] {
  if (!fp32 || fp32.error || fp32.wallMs === undefined || fp32.maxRssBytes === undefined) return [];
  const targets: Target[] = [];
  if (modelId === DEFAULT_BENCH_MODEL) {
    targets.push({
      name: "FP32 export wall time, bge-small shape (build + write + verification in onnxruntime)",
      target: `≤ ${FP32_WALL_TARGET_MS / 1000} s`,
      reached: `${(fp32.wallMs / 1000).toFixed(2)} s`,
      met: fp32.wallMs <= FP32_WALL_TARGET_MS,
    });
  }
  const ratio = fp32.maxRssBytes / weightsBytes;
  targets.push({
    name: "FP32 export peak RSS of the exporting process ÷ weights",
    target: `≤ ${FP32_RSS_TARGET}×`,
    reached: `${ratio.toFixed(2)}×`,
    met: ratio <= FP32_RSS_TARGET,
  });
  return targets;
}

export function latencyTargets(shapes: readonly ShapeResult[]): Target[] {
  const at = (batch: number, sequence: number) => shapes.find((r) => r.shape.batch === batch && r.shape.sequence === sequence);
  const targets: Target[] = [];
  const small = at(1, 16);
  const speedup = small && latencyRatio(small, "fp32-portable", "fp32");
  if (speedup !== undefined) {
    targets.push({
      name: "primary FP32 graph speed-up over the portable one at 1×16 (portable ÷ primary latency)",
      target: `≥ ${PRIMARY_SPEEDUP_TARGET}×`,
      reached: `${speedup.toFixed(2)}×`,
      met: speedup >= PRIMARY_SPEEDUP_TARGET,
    });
  }
  const large = at(8, 128);
  const int8 = large && latencyRatio(large, "int8-static", "fp32");
  if (int8 !== undefined) {
    targets.push({
      name: "INT8 static latency ÷ FP32 at 8×128",
      target: `≤ ${INT8_LATENCY_TARGET}×`,
      reached: `${int8.toFixed(2)}×`,
      met: int8 <= INT8_LATENCY_TARGET,
    });
  }
  return targets;
}

/** Writes <slug>-<date>.json, .md and .svg into `dir` (a second run the same day replaces them). */
export function writeResult(result: BenchResult, dir: string): BenchOutput["files"] {
  ensureDir(dir);
  const stem = join(dir, `${result.model.slug}-${result.startedAt.slice(0, 10)}`);
  const files = { json: `${stem}.json`, markdown: `${stem}.md`, svg: `${stem}.svg` };
  writeFileAtomic(files.json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileAtomic(files.svg, renderChart(result));
  writeFileAtomic(files.markdown, renderMarkdown(result, basename(files.svg)));
  return files;
}
