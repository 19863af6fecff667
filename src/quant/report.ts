// quantization_report.json: what was done to the model (settings, calibration, smoothing, fallback)
// and how faithful the result is, written beside the INT8 model.
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import type { Logger } from "../common/log.js";
import { modelFileBytes } from "../graph/onnx-file.js";
import type { TextSource } from "./corpus.js";
import type { FidelityMetrics, LayerError } from "./fidelity.js";
import type { RankFidelityMetrics } from "./rank-fidelity.js";
import { BLOCK_SIZE } from "./int4.js";
import { INT4_METHOD_LABELS } from "./int4-methods.js";
import { type QuantizationSettings, precisionLabel } from "./options.js";
import type { SmoothedActivation } from "./smoothing.js";
import type { TextBatches } from "./tokenize.js";

export const REPORT_FILE = "quantization_report.json";

/** The embedding report's fidelity: cosine metrics and the worst cosine the threshold applies to. */
export type EmbeddingFidelityReport = FidelityMetrics & {
  threshold: number;
  worstCosine: number;
  passed: boolean;
  worstLayers: LayerError[];
};

/**
 * A reranker's: rank correlation of its scores; `rankScore` (rank-fidelity.ts) is held against the
 * threshold: the per-query Spearman mean, and top-k agreement against `topKThreshold`.
 */
export type RankFidelityReport = RankFidelityMetrics & {
  threshold: number;
  topKThreshold: number;
  rankScore: number;
  passed: boolean;
  worstLayers: LayerError[];
};

/** One try of the mixed-precision fallback: how many parts (MatMuls, tables) it kept at higher precision, and the judge's score. */
export type FallbackAttempt = { keptInFloat: number } & Record<string, number>;

/** A quantized part of the model the fallback can keep at higher precision. */
export interface FallbackUnit {
  /** activations: INT4's activations, quantized to int8 per block inside MatMulNBits (kept: accuracy_level 1, float compute). */
  kind: "matmuls" | "table" | "activations";
  /** MatMul/Gemm nodes (their weights and activation ranges; a few consecutive ones, about a layer), or one table initializer. */
  names: string[];
}

/** A unit and the held-out score of the model with only that unit quantized. */
export interface Sensitivity extends FallbackUnit {
  score: number;
}

/** quantization_report.json; `F`: how fidelity was judged (embedding models by default). */
export interface QuantizationReport<F = EmbeddingFidelityReport, A = { keptInFloat: number; worstCosine: number }> {
  model: string;
  source: string;
  mode: QuantizationSettings["mode"];
  settings: Record<string, unknown>;
  calibration?: {
    seconds: number;
    texts: number;
    truncatedTexts: number;
    batches: number;
    tokens: number;
    paddingFraction: number;
    calibratedTensors: number;
    excluded: Array<{ tensor: string; reason: string }>;
  };
  smoothing?: { alpha: number; outlierRatio: number; smoothed: SmoothedActivation[] };
  fidelity: F;
  fallback: {
    /** MatMuls kept in float. */
    keptInFloat: string[];
    /** INT4: MatMuls stored at 8 bits (MatMulNBits bits 8). */
    keptAt8Bits?: string[];
    /** Embedding tables stored as float16 instead of int8/int4. */
    tablesInFloat16: string[];
    /** INT4: MatMulNBits computes in float (accuracy_level 1) instead of quantizing its activations per block. */
    floatActivations: boolean;
    /** When the first candidate failed: each quantized part's held-out score with it alone quantized, worst first. */
    sensitivity: Sensitivity[];
    attempts: A[];
  };
  matMuls: { quantized: number; float: Array<{ node: string; reason: string }> };
  /** The FP32 file and the quantized one (INT8 or INT4). */
  sizes: { fp32Bytes: number; quantizedBytes: number; ratio: number };
  seconds: { calibration: number; fidelity: number; total: number };
}

export type RerankQuantizationReport = QuantizationReport<RankFidelityReport, { keptInFloat: number; rankScore: number }>;
/** Either report. */
export type AnyQuantizationReport = QuantizationReport | RerankQuantizationReport;

/** Everything the report states, as the pipeline measured it. */
export interface ReportInputs {
  outputPath: string;
  fp32Path: string;
  settings: QuantizationSettings;
  maxLength: number;
  calibration: TextSource;
  heldOut: TextSource;
  calibrationSet: TextBatches;
  calibrated?: {
    seconds: number;
    calibratedTensors: number;
    excluded: Array<{ tensor: string; reason: string }>;
  };
  /** Activations SmoothQuant migrated (static and dynamic modes). */
  smoothed: SmoothedActivation[];
  outcome: {
    /** The judge's metrics, its score's name and value, and its log line. */
    metrics: object;
    scoreName: string;
    score: number;
    summary: string;
    keptInFloat: string[];
    keptAt8Bits: string[];
    tablesInFloat16: string[];
    floatActivations: boolean;
    sensitivity: Sensitivity[];
    attempts: FallbackAttempt[];
    quantized: number;
    float: Array<{ node: string; reason: string }>;
  };
  worstLayers: LayerError[];
  fidelitySeconds: number;
  totalSeconds: number;
}

/** Builds the report, writes it beside the model and logs its one-line summary. */
export function writeQuantizationReport(inputs: ReportInputs, logger: Logger): { report: AnyQuantizationReport; reportPath: string } {
  const { settings, calibrated, outcome, heldOut, calibrationSet } = inputs;
  const report = {
    model: basename(inputs.outputPath),
    source: basename(inputs.fp32Path),
    mode: settings.mode,
    settings: describeSettings(settings, inputs.maxLength, inputs.calibration, heldOut, calibrationSet),
    ...(calibrated
      ? {
          calibration: {
            seconds: round(calibrated.seconds),
            texts: calibrationSet.texts,
            truncatedTexts: calibrationSet.truncated,
            batches: calibrationSet.batches.length,
            tokens: sum(calibrationSet.batches.map(({ batch }) => batch.batch * batch.sequence)),
            paddingFraction: round(paddingFraction(calibrationSet), 4),
            calibratedTensors: calibrated.calibratedTensors,
            excluded: calibrated.excluded,
          },
        }
      : {}),
    ...(settings.mode !== "int4" && settings.smoothing ? { smoothing: { ...settings.smoothing, smoothed: inputs.smoothed } } : {}),
    fidelity: {
      ...outcome.metrics,
      threshold: settings.fidelityThreshold,
      [outcome.scoreName]: outcome.score,
      passed: outcome.score >= settings.fidelityThreshold,
      worstLayers: inputs.worstLayers,
    },
    fallback: {
      keptInFloat: outcome.keptInFloat,
      ...(settings.mode === "int4" ? { keptAt8Bits: outcome.keptAt8Bits } : {}),
      tablesInFloat16: outcome.tablesInFloat16,
      floatActivations: outcome.floatActivations,
      sensitivity: outcome.sensitivity,
      attempts: outcome.attempts,
    },
    matMuls: { quantized: outcome.quantized, float: outcome.float },
    sizes: sizes(inputs.fp32Path, inputs.outputPath),
    seconds: { calibration: round(calibrated?.seconds ?? 0), fidelity: round(inputs.fidelitySeconds), total: round(inputs.totalSeconds) },
  } as unknown as AnyQuantizationReport; // the fidelity part has the judge's shape (see the two report types)
  const reportPath = join(dirname(inputs.outputPath), REPORT_FILE);
  writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  logger.info(
    `${precisionLabel(settings.mode)} (${settings.mode}) ${outcome.summary}; ` +
      `${report.sizes.quantizedBytes} bytes (${(report.sizes.ratio * 100).toFixed(1)}% of FP32); report: ${basename(reportPath)} beside the model`,
  );
  return { report, reportPath };
}

function describeSettings(
  settings: QuantizationSettings,
  maxLength: number,
  calibration: TextSource,
  heldOut: TextSource,
  set: TextBatches,
): Record<string, unknown> {
  return {
    mode: settings.mode,
    ...(settings.mode === "int4"
      ? {
          weights: `4-bit, ${settings.int4.symmetric ? "symmetric" : "asymmetric (a zero point per block)"}, blocks of ${settings.int4.blockSize} along the input features, one float scale each (MatMulNBits, accuracy_level ${settings.accuracyLevel})`,
          int4Method: INT4_METHOD_LABELS[settings.int4.method],
          embeddingTables: `4-bit in blocks of ${BLOCK_SIZE} along the hidden axis when read by Gather (GatherBlockQuantized), else int8 per hidden channel`,
          fallback:
            "the MatMuls listed in fallback.keptAt8Bits are stored at 8 bits (MatMulNBits bits 8), those in fallback.keptInFloat in float",
        }
      : {
          weights: "int8, symmetric, one scale per output channel",
          embeddingTables: "int8, symmetric, one scale per hidden channel, dequantized after the lookup",
        }),
    ...(settings.mode === "int4"
      ? { activations: settings.accuracyLevel === 4 ? "float, quantized to int8 per block inside MatMulNBits" : "float" }
      : settings.mode === "static"
        ? {
            activations: `${settings.activationType}, one scale per tensor`,
            calibrationMethod: settings.method,
            ...(settings.method === "percentile" ? { percentile: settings.percentile } : {}),
            ...(settings.method === "minmax" ? {} : { histogramBins: settings.bins }),
            attentionMatMuls: settings.attentionMatMuls ? "int8" : "float",
            smoothing: settings.smoothing || "off",
          }
        : {
            activations: "uint8, quantized at run time (DynamicQuantizeLinear)",
            attentionMatMuls: "float",
            smoothing: settings.smoothing || "off",
          }),
    maxLength,
    batchSize: settings.batchSize,
    calibrationTexts: { origin: calibration.origin, count: set.texts },
    heldOutTexts: { origin: heldOut.origin, count: heldOut.texts.length },
    fidelityThreshold: settings.fidelityThreshold,
  };
}

function paddingFraction(set: TextBatches): number {
  let cells = 0;
  let padding = 0;
  for (const { batch } of set.batches) {
    cells += batch.attentionMask.length;
    padding += batch.attentionMask.filter((m) => m === 0).length;
  }
  return cells > 0 ? padding / cells : 0;
}

function sizes(fp32Path: string, quantizedPath: string): AnyQuantizationReport["sizes"] {
  const fp32Bytes = modelFileBytes(fp32Path).bytes;
  const quantizedBytes = modelFileBytes(quantizedPath).bytes;
  return { fp32Bytes, quantizedBytes, ratio: round(quantizedBytes / fp32Bytes, 4) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
export const round = (x: number, digits = 3) => Number(x.toFixed(digits));
