// Export measurements: every run is a fresh process (export-probe), runs of the variants are
// interleaved round by round, and each run's wall time and peak RSS are kept; the last run's
// artifact is what the latency runs load.
import { METADATA } from "../artifact/names.js";
import { fork } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { modelFileBytes } from "../graph/onnx-file.js";
import { join } from "node:path";
import type { ExportOptions } from "../export/service.js";
import { type AnyQuantizationReport, REPORT_FILE } from "../quant/report.js";
import { readOnnxMetadata } from "../ort/onnx-metadata.js";
import { childModuleEntry } from "../ort/isolated-session.js";
import type { ProbeReply, ProbeRequest } from "./export-probe.js";
import { DescendantPeakRss } from "./process-memory.js";
import { median, roundOrder } from "./stats.js";

export const VARIANT_KEYS = ["fp32", "fp32-portable", "int8-static", "int8-dynamic", "fp16", "int4"] as const;
export type VariantKey = (typeof VARIANT_KEYS)[number];

export interface VariantSpec {
  key: VariantKey;
  label: string;
  /** What the export is asked for (the user-facing API, nothing bench-specific). */
  options: ExportOptions;
}

/**
 * FP32 is the default export (primary graph, portable only as fallback); "FP32 portable" forces
 * the standard-ops graph so every primary-graph optimization shows as a ratio in the same run.
 */
export const VARIANTS: Readonly<Record<VariantKey, VariantSpec>> = {
  fp32: { key: "fp32", label: "FP32", options: { quantized: false } },
  "fp32-portable": { key: "fp32-portable", label: "FP32 portable", options: { quantized: false, variant: "portable" } },
  "int8-static": { key: "int8-static", label: "INT8 static", options: { quantized: true, mode: "static" } },
  "int8-dynamic": { key: "int8-dynamic", label: "INT8 dynamic", options: { quantized: true, mode: "dynamic" } },
  fp16: { key: "fp16", label: "FP16", options: { dtype: "fp16" } },
  // The 4-bit graph itself: at the default threshold (0.98) the fallback would move most MatMuls
  // of the synthetic (random-weight) models to 8 bits, and the row would time a mixed model.
  int4: { key: "int4", label: "INT4 (threshold 0.9)", options: { quantized: true, mode: "int4", fidelityThreshold: 0.9 } },
};

export interface ExportRun {
  /** exportOnnxModel call, in the fresh process. */
  wallMs: number;
  /** The whole process, fork to exit (node start and module loading included). */
  processMs: number;
  /** Peak RSS of the exporting process. */
  maxRssBytes: number;
  /** Its RSS before the export started (node and the modules). */
  baselineRssBytes: number;
  /**
   * Peak RSS of the processes it started, per module ("session-worker": onnxruntime;
   * "reference-worker": the reference forward), sampled; Linux only.
   */
  helperPeakRssBytes?: Record<string, number>;
}

export interface ExportMeasurement {
  variant: VariantKey;
  label: string;
  error?: string;
  runs: ExportRun[];
  /** Medians over the runs. */
  wallMs?: number;
  processMs?: number;
  maxRssBytes?: number;
  baselineRssBytes?: number;
  helperPeakRssBytes?: Record<string, number>;
  artifact?: {
    path: string;
    /** The .onnx file plus its external data file, if any. */
    bytes: number;
    externalData: boolean;
  };
  /** The graph variant the export emitted (the default export may have fallen back to portable). */
  graphVariant?: string;
  /** The export's own log lines of its last run: verification results, fallback warnings. */
  log?: string[];
  /** From quantization_report.json: fidelity and the quantizer's own time split. */
  quantization?: { worstCosine?: number; spearman?: number; calibrationSeconds: number; totalSeconds: number };
}

export interface ExportPlan {
  modelId: string;
  dir: string;
  /** Each variant exports into workDir/<variant>. */
  workDir: string;
  variants: readonly VariantKey[];
  runs: (variant: VariantKey) => number;
  log?: (message: string) => void;
}

export async function measureExports(plan: ExportPlan): Promise<ExportMeasurement[]> {
  const results = plan.variants.map((key): ExportMeasurement => ({ variant: key, label: VARIANTS[key].label, runs: [] }));
  const rounds = Math.max(...plan.variants.map(plan.runs));
  for (let round = 0; round < rounds; round++) {
    for (const i of roundOrder(results.length, round)) {
      const result = results[i]!;
      if (result.error || round >= plan.runs(result.variant)) continue;
      const output = join(plan.workDir, result.variant);
      rmSync(output, { recursive: true, force: true });
      plan.log?.(`export ${result.label}, run ${round + 1}/${plan.runs(result.variant)}`);
      const reply = await runExportProbe({ modelId: plan.modelId, dir: plan.dir, output, options: VARIANTS[result.variant].options });
      if ("error" in reply) result.error = reply.error;
      else {
        result.runs.push(reply.run);
        result.artifact = artifactOf(reply.artifact);
        result.log = reply.log;
      }
    }
  }
  return results.map(summarize);
}

function summarize(result: ExportMeasurement): ExportMeasurement {
  if (result.error || !result.artifact) return { ...result, ...(result.error ? {} : { error: "no export run" }) };
  const runs = result.runs;
  const helperNames = [...new Set(runs.flatMap((r) => Object.keys(r.helperPeakRssBytes ?? {})))].sort();
  const helper = Object.fromEntries(helperNames.map((name) => [name, median(runs.flatMap((r) => r.helperPeakRssBytes?.[name] ?? []))]));
  const metadata = readOnnxMetadata(result.artifact.path);
  return {
    ...result,
    wallMs: median(runs.map((r) => r.wallMs)),
    processMs: median(runs.map((r) => r.processMs)),
    maxRssBytes: median(runs.map((r) => r.maxRssBytes)),
    baselineRssBytes: median(runs.map((r) => r.baselineRssBytes)),
    ...(helperNames.length > 0 ? { helperPeakRssBytes: helper } : {}),
    ...(metadata[METADATA.graphVariant] ? { graphVariant: metadata[METADATA.graphVariant] } : {}),
    ...quantizationOf(result.artifact.path),
  };
}

function artifactOf(path: string): NonNullable<ExportMeasurement["artifact"]> {
  return { path, ...modelFileBytes(path) };
}

function quantizationOf(artifact: string): Pick<ExportMeasurement, "quantization"> {
  const reportPath = join(artifact, "..", REPORT_FILE);
  if (!existsSync(reportPath)) return {};
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as AnyQuantizationReport;
  // Embedding models are judged by their worst cosine, rerankers by the Spearman of their scores.
  const fidelity = "worstCosine" in report.fidelity ? { worstCosine: report.fidelity.worstCosine } : { spearman: report.fidelity.spearman };
  return { quantization: { ...fidelity, calibrationSeconds: report.seconds.calibration, totalSeconds: report.seconds.total } };
}

/** Runs one export in a fresh process; its helpers' peak memory is sampled meanwhile. */
export async function runExportProbe(
  request: ProbeRequest,
): Promise<{ run: ExportRun; artifact: string; log: string[] } | { error: string }> {
  const entry = childModuleEntry(import.meta.url, "export-probe");
  const started = performance.now();
  const child = fork(entry.path, [], { execArgv: entry.execArgv, serialization: "advanced", stdio: ["ignore", "ignore", "pipe", "ipc"] });
  const helpers = new DescendantPeakRss(child.pid ?? 0);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const reply = new Promise<ProbeReply | undefined>((resolve) => {
    child.once("message", (message: ProbeReply) => resolve(message));
    child.once("exit", () => resolve(undefined));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.send(request);
  const answer = await reply;
  const code = await exited;
  const processMs = performance.now() - started;
  const helperPeakRssBytes = helpers.stop();
  if (!answer)
    return { error: `the export process exited (code ${code}) without a result${stderr ? `: ${stderr.trim().split("\n").at(-1)}` : ""}` };
  if (!answer.ok) return { error: answer.error };
  const { wallMs, maxRssBytes, baselineRssBytes } = answer;
  return {
    run: { wallMs, processMs, maxRssBytes, baselineRssBytes, ...(helperPeakRssBytes ? { helperPeakRssBytes } : {}) },
    artifact: answer.artifact,
    log: answer.log,
  };
}

/** Bytes of a model folder's weight files (safetensors when it has them, else pytorch_model*.bin). */
export function weightBytes(dir: string): number {
  const files = readdirSync(dir);
  const safetensors = files.filter((f) => f.endsWith(".safetensors"));
  const chosen = safetensors.length > 0 ? safetensors : files.filter((f) => /^pytorch_model.*\.bin$/.test(f));
  return chosen.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** "fp32,int8-dynamic" → variant keys; throws a message naming the unknown one. */
export function parseVariants(text: string): VariantKey[] {
  const keys = text
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
  for (const key of keys)
    if (!VARIANT_KEYS.includes(key as VariantKey)) throw new Error(`unknown variant "${key}" (variants: ${VARIANT_KEYS.join(", ")})`);
  if (keys.length === 0) throw new Error(`no variants in "${text}" (variants: ${VARIANT_KEYS.join(", ")})`);
  return [...new Set(keys)] as VariantKey[];
}
