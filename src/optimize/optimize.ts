// "Pick for me": exports every candidate precision of a model (FP32, FP16, INT8 static and
// dynamic, INT4 — the quantized ones with their mixed-precision fallback at the bound), judges
// each against the FP32 file on the quantizer's held-out inputs, times the ones that keep the
// bound with the bench's interleaved latency measurement, and publishes the smallest or the
// fastest into the output folder with optimization_report.json, the table of all of them.
import { availableParallelism } from "node:os";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { InterruptedError, withAbortSignal } from "../common/abort.js";
import { ensureDir, planDir, writeFileAtomic } from "../common/atomic.js";
import { ExportError, persistentFileSystemError } from "../common/errors.js";
import { UsageError } from "../common/usage.js";
import { stderrLogger, type Logger } from "../common/log.js";
import { errorMessage } from "../common/messages.js";
import { type ExportManifest, MANIFEST_FILE, readManifest } from "../artifact/manifest.js";
import { modelFileBytes } from "../graph/onnx-file.js";
import { measureLatency } from "../bench/latency.js";
import { type Shape, shapeLabel } from "../bench/shapes.js";
import { REPORT_FILE } from "../quant/report.js";
import type { EmbeddingService, ExportOptions, ExportResult, ExportRun, Fp32Stage } from "../export/service.js";
import type { Task } from "../heads/tasks.js";
import { writeExportManifest } from "../export/export-manifest.js";
import { resolveExportPlan } from "../export/plan.js";
import { ExportWorkspace } from "../export/workspace.js";

export const OPTIMIZATION_REPORT_FILE = "optimization_report.json";
export const OPTIMIZE_GOALS = ["size", "latency"] as const;
export type OptimizeGoal = (typeof OPTIMIZE_GOALS)[number];
export const CANDIDATES = ["fp32", "fp16", "int8-static", "int8-dynamic", "int4"] as const;
export type CandidateName = (typeof CANDIDATES)[number];
export const DEFAULT_MIN_COSINE = 0.99;
/** A single query and a batch of documents, as the formats bench times them. */
export const DEFAULT_OPTIMIZE_SHAPES: readonly Shape[] = [
  { batch: 1, sequence: 16 },
  { batch: 8, sequence: 128 },
];

/** Tasks whose candidates no judge scores against FP32 (bge-m3: three outputs, FP32 only). */
const UNJUDGED_TASKS: readonly Task[] = ["bge-m3"];

/** An optimize request refused before anything runs: the model is not one optimize can judge (the CLI: a usage error). */
export class OptimizeRefusal extends ExportError {
  constructor(message: string) {
    super(message);
    this.name = "OptimizeRefusal";
  }
}

/** The export settings a candidate adds to the caller's options. */
const CANDIDATE_OPTIONS: Record<CandidateName, (minCosine: number) => ExportOptions> = {
  fp32: () => ({ quantized: false }),
  fp16: () => ({ quantized: false, dtype: "fp16" }),
  "int8-static": (bound) => ({ quantized: true, mode: "static", fidelityThreshold: bound }),
  "int8-dynamic": (bound) => ({ quantized: true, mode: "dynamic", fidelityThreshold: bound }),
  int4: (bound) => ({ quantized: true, mode: "int4", fidelityThreshold: bound }),
};

export interface OptimizeOptions extends Omit<ExportOptions, "quantized" | "dtype" | "mode" | "fidelityThreshold"> {
  /** "size": the smallest file that keeps the bound; "latency": the fastest (default "size"). */
  goal?: OptimizeGoal;
  /** The judge's score every candidate must keep vs FP32 (worst held-out cosine; rerankers and ColBERT: Spearman). Default 0.99. */
  minCosine?: number;
  /** Which candidates to export (default all; FP32 is always one: it is the reference). */
  candidates?: readonly CandidateName[];
  /** Input shapes the latency is measured at (default 1×16 and 8×128, capped at the model's positions). */
  shapes?: readonly Shape[];
  /** onnxruntime intra-op threads for the timing (default: every core). */
  threads?: number;
  /** Timing budget per shape, in ms (default 4000; at least 5 and at most 60 interleaved rounds). */
  budgetMs?: number;
  logger?: Logger;
}

export interface CandidateRow {
  name: CandidateName;
  /** Exported and judged; false with `rejected` saying why. */
  exported: boolean;
  rejected?: string;
  file?: string;
  bytes?: number;
  /** bytes ÷ the FP32 file's bytes. */
  sizeRatio?: number;
  /** The judge's score vs FP32 (1 is perfect). */
  score?: number;
  passed: boolean;
  /** Quantized candidates: MatMuls quantized, and those the fallback kept at higher precision. */
  matMuls?: { quantized: number; keptByFallback: number };
  exportSeconds?: number;
  /** Per shape: median latency and the median of per-round ratios to FP32. */
  latency?: Record<string, { p50Ms: number; p95Ms: number; ratioToFp32: number }>;
  /** Geometric mean over the shapes of the ratio to FP32 (lower is faster). */
  latencyRatio?: number;
}

export interface OptimizationReport {
  goal: OptimizeGoal;
  minCosine: number;
  score: string;
  chosen: CandidateName;
  reason: string;
  machine: { cpus: number; threads: number };
  shapes: string[];
  rounds: Record<string, number>;
  candidates: CandidateRow[];
}

/** The published export (the chosen candidate's), and the report of all of them. */
export interface OptimizeResult extends ExportResult {
  report: OptimizationReport;
}

/**
 * Exports the candidates into a private staging folder inside `outputDir`, measures them, and
 * publishes the chosen one there (its files, manifest and optimization_report.json). A signal
 * stops it like exportOnnxModel: everything it staged is removed.
 */
export async function optimizeExport(service: EmbeddingService, outputDir: string, options: OptimizeOptions = {}): Promise<OptimizeResult> {
  const { signal } = options;
  try {
    signal?.throwIfAborted();
    return await withAbortSignal(signal, () => optimize(service, outputDir, options));
  } catch (error) {
    if (signal?.aborted && !(error instanceof InterruptedError)) throw new InterruptedError([], signal.reason);
    throw error;
  }
}

async function optimize(service: EmbeddingService, outputDir: string, options: OptimizeOptions): Promise<OptimizeResult> {
  const settings = checkOptions(options);
  const logger = options.logger ?? stderrLogger;
  planDir(outputDir);
  const exportOptions = exportOptionsOf(options);
  resolveExportPlan(service.modelId, { ...exportOptions, quantized: false }); // a bad export option is refused before anything is written
  const task = await service.exportTask(exportOptions.task);
  if (UNJUDGED_TASKS.includes(task)) {
    throw new OptimizeRefusal(
      `optimize judges each candidate against FP32 by one score, and a ${task} model has three outputs (dense, sparse, colbert) that no judge ` +
        `scores together (and it exports FP32 only); export it with --fp32 or --dtype fp16 instead`,
    );
  }
  const workspace = ExportWorkspace.open(outputDir, logger);
  try {
    const candidatesDir = join(workspace.dir, "candidates");
    const rows: CandidateRow[] = [];
    const runs = new Map<CandidateName, ExportRun>();
    // FP32 first: its stage (the verified graph) is every other candidate's starting point, built once.
    let fp32: Fp32Stage | undefined;
    for (const name of settings.candidates) {
      const dir = join(candidatesDir, name);
      const { row, run } = await exportCandidate(service, name, dir, exportOptions, settings.minCosine, logger, fp32);
      fp32 ??= run?.fp32;
      if (run) runs.set(name, run);
      rows.push(row);
    }
    const score = await judge(service, rows, exportOptions, settings.minCosine);
    const timing = await time(service, rows, settings, logger);
    const chosen = chooseCandidate(rows, settings.goal);
    const report: OptimizationReport = {
      goal: settings.goal,
      minCosine: settings.minCosine,
      score,
      chosen: chosen.name,
      reason:
        settings.goal === "size"
          ? `the smallest file whose score vs FP32 is at least ${settings.minCosine}`
          : `the lowest latency (geometric mean over ${settings.shapes.map(shapeLabel).join(", ")}) whose score vs FP32 is at least ${settings.minCosine}`,
      machine: { cpus: availableParallelism(), threads: settings.threads },
      shapes: timing.shapes,
      rounds: timing.rounds,
      candidates: rows,
    };
    for (const line of reportTable(report)) logger.info(line);
    const { artifact, manifest } = adoptCandidate(workspace, join(candidatesDir, chosen.name));
    rmSync(candidatesDir, { recursive: true, force: true });
    // The report names published files only: the chosen model, where it is published; the others are gone.
    const published = relative(workspace.dir, artifact).split(sep).join("/");
    for (const row of rows) {
      if (row.name === chosen.name) row.file = published;
      else delete row.file;
    }
    writeFileAtomic(join(workspace.dir, OPTIMIZATION_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    await writeExportManifest(workspace, artifact, manifest.source, {
      ...manifest.settings,
      optimize: { goal: settings.goal, minCosine: settings.minCosine, chosen: chosen.name },
    });
    const staged = workspace.files();
    const path = await workspace.publish(artifact);
    const run = runs.get(chosen.name)!;
    const reports = [
      ...run.reports.map((file) => join(outputDir, relative(join(candidatesDir, chosen.name), file))),
      join(outputDir, OPTIMIZATION_REPORT_FILE),
    ];
    return { path, precision: run.precision, files: staged, reports, variant: run.variant, report };
  } catch (error) {
    const removed = workspace.discard();
    if (options.signal?.aborted) throw new InterruptedError(removed, options.signal.reason);
    throw error;
  }
}

interface Settings {
  goal: OptimizeGoal;
  minCosine: number;
  candidates: CandidateName[];
  shapes: Shape[];
  threads: number;
  budgetMs: number;
}

function checkOptions(options: OptimizeOptions): Settings {
  const goal = options.goal ?? "size";
  if (!OPTIMIZE_GOALS.includes(goal))
    throw new UsageError((name) => `${name("goal")} must be one of ${OPTIMIZE_GOALS.join(", ")}, not ${String(goal)}`);
  const minCosine = options.minCosine ?? DEFAULT_MIN_COSINE;
  if (typeof minCosine !== "number" || !(minCosine > 0 && minCosine <= 1))
    throw new UsageError((name) => `${name("minCosine")} must be a score in (0, 1], not ${String(minCosine)}`);
  const asked = options.candidates ?? CANDIDATES;
  for (const candidate of asked)
    if (!CANDIDATES.includes(candidate))
      throw new UsageError((name) => `${name("candidates")} must be among ${CANDIDATES.join(", ")}, not ${String(candidate)}`);
  // FP32 first: every other candidate is judged and timed against it, and transformed from its graph.
  const candidates = ["fp32" as const, ...CANDIDATES.filter((name) => name !== "fp32" && asked.includes(name))];
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1)
    throw new UsageError((name) => `${name("threads")} must be a positive integer, not ${String(threads)}`);
  const budgetMs = options.budgetMs ?? 4000;
  if (!(budgetMs > 0)) throw new UsageError((name) => `${name("budgetMs")} must be positive, not ${String(budgetMs)}`);
  const shapes = [...(options.shapes ?? DEFAULT_OPTIMIZE_SHAPES)];
  if (shapes.length === 0) throw new UsageError((name) => `${name("shapes")} must name at least one BATCHxSEQUENCE`);
  return { goal, minCosine, candidates, shapes, threads, budgetMs };
}

/** The caller's export options, less what this module sets per candidate or itself. */
function exportOptionsOf(options: OptimizeOptions): ExportOptions {
  const rest: Record<string, unknown> = { ...options };
  for (const key of OWN_OPTIONS) delete rest[key];
  return rest as ExportOptions;
}

/** OptimizeOptions that are not export options (the signal is applied around the whole run). */
const OWN_OPTIONS = ["goal", "minCosine", "candidates", "shapes", "threads", "budgetMs", "logger", "signal"] as const;

async function exportCandidate(
  service: EmbeddingService,
  name: CandidateName,
  dir: string,
  options: ExportOptions,
  minCosine: number,
  logger: Logger,
  fp32: Fp32Stage | undefined,
): Promise<{ row: CandidateRow; run?: ExportRun }> {
  logger.info(`optimize: exporting the ${name} candidate`);
  const started = performance.now();
  try {
    const run = await service.runExport(dir, { ...options, ...CANDIDATE_OPTIONS[name](minCosine) }, fp32);
    const row: CandidateRow = {
      name,
      exported: true,
      file: run.path,
      bytes: modelFileBytes(run.path).bytes,
      passed: false,
      exportSeconds: round((performance.now() - started) / 1000, 2),
    };
    const matMuls = fallbackOf(run.reports.find((report) => basename(report) === REPORT_FILE));
    return { row: matMuls ? { ...row, matMuls } : row, run };
  } catch (error) {
    // The reference, an interrupt and a full or read-only disk end the run; anything else rules the candidate out.
    if (name === "fp32" || error instanceof InterruptedError || persistentFileSystemError(error)) throw error;
    logger.info(`optimize: the ${name} candidate is out: ${errorMessage(error)}`);
    rmSync(dir, { recursive: true, force: true });
    return { row: { name, exported: false, rejected: errorMessage(error), passed: false } };
  }
}

/** The quantization report's MatMul counts: how mixed the candidate's precision is. */
function fallbackOf(reportPath: string | undefined): CandidateRow["matMuls"] {
  if (reportPath === undefined || !existsSync(reportPath)) return undefined;
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as { matMuls?: { quantized: number }; fallback?: { keptInFloat: string[] } };
  return { quantized: report.matMuls?.quantized ?? 0, keptByFallback: report.fallback?.keptInFloat.length ?? 0 };
}

/** Scores every exported candidate against the FP32 file with the quantizer's judge; returns the score's name. */
async function judge(service: EmbeddingService, rows: CandidateRow[], options: ExportOptions, minCosine: number): Promise<string> {
  const [fp32, ...others] = rows;
  const judged = others.filter((row) => row.exported);
  const verdict = await service.judgeExports(
    fp32!.file!,
    judged.map((row) => row.file!),
    options,
  );
  fp32!.score = 1;
  fp32!.passed = true;
  judged.forEach((row, i) => {
    row.score = round(verdict.scores[i]!, 6);
    row.passed = verdict.scores[i]! >= minCosine;
    if (!row.passed) row.rejected = `${verdict.scoreLabel} ${verdict.scores[i]!.toFixed(4)} is below ${minCosine}`;
  });
  for (const row of rows) if (row.bytes !== undefined) row.sizeRatio = round(row.bytes / fp32!.bytes!, 4);
  return verdict.scoreName;
}

/** Times the candidates that keep the bound, interleaved, with FP32 as the baseline. */
async function time(
  service: EmbeddingService,
  rows: CandidateRow[],
  settings: Settings,
  logger: Logger,
): Promise<{ shapes: string[]; rounds: Record<string, number> }> {
  const config = await service.encoderConfig();
  const rounds: Record<string, number> = {};
  const timed = rows.filter((row) => row.passed);
  const { shapes } = await measureLatency({
    models: timed.map((row) => ({ key: row.name, path: row.file! })),
    shapes: settings.shapes.map((s) => ({ batch: s.batch, sequence: Math.min(s.sequence, config.maxSequence) })),
    threads: settings.threads,
    spinning: false,
    config,
    rounds: { budgetMs: settings.budgetMs, min: 5, max: 60 },
    loadRounds: 1,
    baseline: "fp32",
    log: (message) => logger.info(`optimize: ${message}`),
  });
  for (const shape of shapes) {
    const label = shapeLabel(shape.shape);
    rounds[label] = shape.rounds;
    for (const result of shape.results) {
      const row = timed.find((r) => r.name === result.variant)!;
      row.latency = {
        ...row.latency,
        [label]: { p50Ms: round(result.p50Ms, 3), p95Ms: round(result.p95Ms, 3), ratioToFp32: round(result.ratioToBaseline, 4) },
      };
    }
  }
  for (const row of timed) {
    const ratios = Object.values(row.latency ?? {}).map((l) => l.ratioToFp32);
    row.latencyRatio = round(Math.exp(ratios.reduce((sum, r) => sum + Math.log(r), 0) / ratios.length), 4);
  }
  return { shapes: shapes.map((s) => shapeLabel(s.shape)), rounds };
}

/** The candidate the goal picks among those that keep the bound (FP32 always does). */
export function chooseCandidate(rows: readonly CandidateRow[], goal: OptimizeGoal): CandidateRow {
  const eligible = rows.filter((row) => row.passed && row.bytes !== undefined);
  if (eligible.length === 0) throw new ExportError("no candidate keeps the fidelity bound (not even FP32)");
  const size = (row: CandidateRow) => row.bytes!;
  const latency = (row: CandidateRow) => row.latencyRatio ?? Number.POSITIVE_INFINITY;
  const [first, second] = goal === "size" ? [size, latency] : [latency, size];
  return eligible.reduce((best, row) => {
    const a = first(row) - first(best);
    return a < 0 || (a === 0 && second(row) < second(best)) ? row : best;
  });
}

/** Moves the chosen candidate's files (all but its manifest) into the workspace: its model's staged path, and its manifest. */
function adoptCandidate(workspace: ExportWorkspace, dir: string): { artifact: string; manifest: ExportManifest } {
  const manifest = readManifest(dir)?.exports.at(-1);
  if (!manifest) throw new ExportError(`the candidate in ${dir} has no ${MANIFEST_FILE}`);
  for (const file of manifest.files) {
    const target = workspace.path(file.path);
    ensureDir(dirname(target));
    renameSync(join(dir, file.path), target);
  }
  return { artifact: workspace.path(manifest.model), manifest };
}

/** The report as an aligned text table, one line per candidate. */
export function reportTable(report: OptimizationReport): string[] {
  const header = ["candidate", "MiB", "×fp32", report.score, ...report.shapes.map((s) => `${s} ms`), "latency ×fp32", "note"];
  const lines = report.candidates.map((row) => [
    `${row.name === report.chosen ? "* " : "  "}${row.name}`,
    row.bytes !== undefined ? (row.bytes / 2 ** 20).toFixed(1) : "—",
    row.sizeRatio !== undefined ? row.sizeRatio.toFixed(3) : "—",
    row.score !== undefined ? row.score.toFixed(4) : "—",
    ...report.shapes.map((s) => (row.latency?.[s] ? row.latency[s].p50Ms.toFixed(2) : "—")),
    row.latencyRatio !== undefined ? row.latencyRatio.toFixed(3) : "—",
    row.rejected ??
      (row.matMuls && row.matMuls.keptByFallback > 0 ? `mixed: ${row.matMuls.keptByFallback} MatMuls kept by the fallback` : ""),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [
    `optimize (${report.goal}, ${report.score} ≥ ${report.minCosine}, ${report.machine.threads} threads): chose ${report.chosen}, ${report.reason}`,
    format(header),
    ...lines.map(format),
  ];
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
