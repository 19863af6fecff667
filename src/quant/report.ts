// quantization_report.json: what was done to the model (settings, calibration, smoothing, fallback)
// and how faithful the result is, written beside the INT8 model.
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import type { Logger } from "../common/log.js";
import { modelFileBytes } from "../graph/onnx-writer.js";
import type { TextSource } from "./corpus.js";
import { type FidelityMetrics, type LayerError, worstCosine } from "./fidelity.js";
import type { QuantizationSettings } from "./options.js";
import type { SmoothedActivation } from "./smoothing.js";
import type { TextBatches } from "./tokenize.js";

export const REPORT_FILE = "quantization_report.json";

export interface QuantizationReport {
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
  fidelity: FidelityMetrics & {
    threshold: number;
    worstCosine: number;
    passed: boolean;
    worstLayers: LayerError[];
  };
  fallback: { keptInFloat: string[]; attempts: Array<{ keptInFloat: number; worstCosine: number }> };
  matMuls: { quantized: number; float: Array<{ node: string; reason: string }> };
  sizes: { fp32Bytes: number; int8Bytes: number; ratio: number };
  seconds: { calibration: number; fidelity: number; total: number };
}

/** Everything the report states, as the pipeline measured it. */
export interface ReportInputs {
  outputPath: string;
  fp32Path: string;
  settings: QuantizationSettings;
  maxLength: number;
  calibration: TextSource;
  heldOut: TextSource;
  calibrationSet: TextBatches;
  calibrated?: { seconds: number; calibratedTensors: number; excluded: Array<{ tensor: string; reason: string }>; smoothed: SmoothedActivation[] };
  outcome: {
    metrics: FidelityMetrics;
    keptInFloat: string[];
    attempts: Array<{ keptInFloat: number; worstCosine: number }>;
    quantized: number;
    float: Array<{ node: string; reason: string }>;
  };
  worstLayers: LayerError[];
  fidelitySeconds: number;
  totalSeconds: number;
}

/** Builds the report, writes it beside the model and logs its one-line summary. */
export function writeQuantizationReport(inputs: ReportInputs, logger: Logger): { report: QuantizationReport; reportPath: string } {
  const { settings, calibrated, outcome, heldOut, calibrationSet } = inputs;
  const report: QuantizationReport = {
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
    ...(settings.mode === "static" && settings.smoothing ? { smoothing: { ...settings.smoothing, smoothed: calibrated?.smoothed ?? [] } } : {}),
    fidelity: {
      ...outcome.metrics,
      threshold: settings.fidelityThreshold,
      worstCosine: worstCosine(outcome.metrics),
      passed: worstCosine(outcome.metrics) >= settings.fidelityThreshold,
      worstLayers: inputs.worstLayers,
    },
    fallback: { keptInFloat: outcome.keptInFloat, attempts: outcome.attempts },
    matMuls: { quantized: outcome.quantized, float: outcome.float },
    sizes: sizes(inputs.fp32Path, inputs.outputPath),
    seconds: { calibration: round(calibrated?.seconds ?? 0), fidelity: round(inputs.fidelitySeconds), total: round(inputs.totalSeconds) },
  };
  const reportPath = join(dirname(inputs.outputPath), REPORT_FILE);
  writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  logger.info(
    `INT8 (${settings.mode}) held-out cosine vs FP32: pooled mean ${report.fidelity.pooled.mean.toFixed(4)} / min ${report.fidelity.pooled.min.toFixed(4)}, ` +
      `mean-pooled mean ${report.fidelity.meanPooled.mean.toFixed(4)} / min ${report.fidelity.meanPooled.min.toFixed(4)}; ` +
      `${report.sizes.int8Bytes} bytes (${(report.sizes.ratio * 100).toFixed(1)}% of FP32); report: ${basename(reportPath)} beside the model`,
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
    weights: "int8, symmetric, one scale per output channel",
    embeddingTables: "int8, symmetric, one scale per hidden channel, dequantized after the lookup",
    ...(settings.mode === "static"
      ? {
          activations: `${settings.activationType}, one scale per tensor`,
          calibrationMethod: settings.method,
          ...(settings.method === "percentile" ? { percentile: settings.percentile } : {}),
          ...(settings.method === "minmax" ? {} : { histogramBins: settings.bins }),
          attentionMatMuls: settings.attentionMatMuls ? "int8" : "float",
          smoothing: settings.smoothing || "off",
        }
      : { activations: "uint8, quantized at run time (DynamicQuantizeLinear)", attentionMatMuls: "float" }),
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

function sizes(fp32Path: string, int8Path: string): QuantizationReport["sizes"] {
  const fp32Bytes = modelFileBytes(fp32Path).bytes;
  const int8Bytes = modelFileBytes(int8Path).bytes;
  return { fp32Bytes, int8Bytes, ratio: round(int8Bytes / fp32Bytes, 4) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
export const round = (x: number, digits = 3) => Number(x.toFixed(digits));
