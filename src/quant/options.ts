// Quantization options as the API and CLI take them, their defaults (chosen by measurement:
// bench/quant.ts — MinMax with SmoothQuant kept the best worst-case cosine on the small BERT,
// the outlier-channel and the bge-small fixtures; clipping methods only lost accuracy there),
// and their validation into complete settings (a bad option is a UsageError).
import { type TextSource, QuantizationInputError, builtinCalibrationTexts, readTextFile, textsFromList } from "./corpus.js";
import type { ActivationType } from "./int8.js";
import { DEFAULT_BINS } from "../observers/observers.js";
import { UsageError } from "../common/usage.js";
import { CALIBRATION_METHODS, type CalibrationMethod, DEFAULT_PERCENTILE } from "./range-selection.js";
import { DEFAULT_SMOOTHING, type SmoothingOptions } from "./smoothing.js";
import { DEFAULT_MAX_LENGTH } from "./tokenize.js";
import {
  ACCURACY_LEVELS,
  type AccuracyLevel,
  DEFAULT_ACCURACY_LEVEL,
  DEFAULT_INT4_WEIGHTS,
  type Int4WeightSettings,
} from "./matmul-nbits.js";
import { BLOCK_SIZES } from "./int4.js";
import { INT4_METHODS, type Int4Method } from "./int4-methods.js";

export const QUANTIZATION_MODES = ["static", "dynamic", "int4"] as const;
export type QuantizationMode = (typeof QUANTIZATION_MODES)[number];

/** How logs and messages name a mode's precision. */
export function precisionLabel(mode: QuantizationMode): string {
  return mode === "int4" ? "INT4" : "INT8";
}

export interface QuantizationOptions {
  /**
   * "static" (default): calibrated QDQ; "dynamic": int8 weights, activations quantized at run
   * time; "int4": 4-bit block weights (MatMulNBits, GatherBlockQuantized), float activations.
   */
  mode?: QuantizationMode;
  /** int4: MatMulNBits' accuracy_level, 1 (float32 compute) or 4 (int8 compute; default, chosen by measurement). */
  accuracyLevel?: AccuracyLevel;
  /**
   * int4: how MatMul weights are rounded to 4 bits: "rtn" (round to nearest), "awq" (activation-
   * aware input-channel scales), "gptq" (second-order error compensation) or "awq+gptq"; the
   * calibrated ones read the Gram matrix of each MatMul input. Default chosen by measurement
   * (bench/results/int4-methods.txt).
   */
  int4Method?: Int4Method;
  /** int4: values per MatMul weight block, 32, 64 or 128 (default 32). */
  int4BlockSize?: number;
  /** int4: false gives every MatMul weight block a zero point (asymmetric range); default true. */
  int4Symmetric?: boolean;
  /** Range selection for activations (default "minmax": best on every fixture in bench/quant.ts). */
  calibrationMethod?: CalibrationMethod;
  /** A .txt (one text per line) or .jsonl file of calibration texts (default: the built-in corpus). */
  calibrationFile?: string;
  /** Calibration texts given directly (instead of a file). */
  calibrationTexts?: string[];
  /** Tokens per calibration/held-out text (default 128, at most the model's limit). */
  maxLength?: number;
  /**
   * Worst held-out cosine (pooled and mean-pooled) INT8 must keep vs FP32 (default 0.98); for a
   * reranker, the mean per-query Spearman correlation of its held-out pair scores (with topKThreshold).
   */
  fidelityThreshold?: number;
  /** Rerankers: the mean top-3 agreement with FP32 per held-out query INT8 must also keep (default 0.95). */
  topKThreshold?: number;
  /** Integer type of quantized activations (default "int8"). */
  activationType?: ActivationType;
  /** Also quantize the attention's activation × activation MatMuls (default false). */
  attentionMatMuls?: boolean;
  /** SmoothQuant for outlier channels; false turns it off. */
  smoothing?: Partial<SmoothingOptions> | false;
  /** Percentile kept by the "percentile" method (default 99.999). */
  percentile?: number;
  /** Histogram bins (default 2048). */
  histogramBins?: number;
  /** Texts per calibration batch (default 8: batches are grouped by length, so small ones pad least). */
  calibrationBatchSize?: number;
}

export interface QuantizationSettings {
  mode: QuantizationMode;
  accuracyLevel: AccuracyLevel;
  int4: Int4WeightSettings;
  method: CalibrationMethod;
  maxLength: number;
  fidelityThreshold: number;
  topKThreshold: number;
  activationType: ActivationType;
  attentionMatMuls: boolean;
  smoothing: SmoothingOptions | false;
  percentile: number;
  bins: number;
  batchSize: number;
}

export const DEFAULT_QUANTIZATION: QuantizationSettings = {
  mode: "static",
  accuracyLevel: DEFAULT_ACCURACY_LEVEL,
  int4: DEFAULT_INT4_WEIGHTS,
  method: "minmax",
  maxLength: DEFAULT_MAX_LENGTH,
  fidelityThreshold: 0.98,
  topKThreshold: 0.95,
  activationType: "int8",
  attentionMatMuls: false,
  smoothing: DEFAULT_SMOOTHING,
  percentile: DEFAULT_PERCENTILE,
  bins: DEFAULT_BINS,
  batchSize: 8,
};

export function resolveQuantizationOptions(options: QuantizationOptions): QuantizationSettings {
  const d = DEFAULT_QUANTIZATION;
  const oneOf = <T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) throw new UsageError((n) => `${n(name)} must be one of ${allowed.join(", ")}, not ${String(value)}`);
    return value;
  };
  const integer = (name: string, value: number | undefined, min: number, max: number, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new UsageError((n) => `${n(name)} must be an integer from ${min} to ${max}, not ${String(value)}`);
    }
    return value;
  };
  const threshold = options.fidelityThreshold ?? d.fidelityThreshold;
  if (typeof threshold !== "number" || !(threshold > 0 && threshold <= 1)) {
    throw new UsageError((n) => `${n("fidelityThreshold")} must be a cosine in (0, 1], not ${String(threshold)}`);
  }
  const topKThreshold = options.topKThreshold ?? d.topKThreshold;
  if (typeof topKThreshold !== "number" || !(topKThreshold >= 0 && topKThreshold <= 1)) {
    throw new QuantizationInputError(`topKThreshold must be a fraction in [0, 1], not ${String(topKThreshold)}`);
  }
  const percentile = options.percentile ?? d.percentile;
  if (typeof percentile !== "number" || !(percentile > 50 && percentile <= 100)) {
    throw new UsageError((n) => `${n("percentile")} must be in (50, 100], not ${String(percentile)}`);
  }
  return {
    mode: oneOf("mode", options.mode, QUANTIZATION_MODES, d.mode),
    accuracyLevel: checkedAccuracyLevel(options.accuracyLevel ?? d.accuracyLevel),
    int4: {
      method: oneOf("int4Method", options.int4Method, INT4_METHODS, d.int4.method),
      blockSize: Number(oneOf("int4BlockSize", options.int4BlockSize?.toString(), BLOCK_SIZES.map(String), String(d.int4.blockSize))),
      symmetric: options.int4Symmetric ?? d.int4.symmetric,
    },
    method: oneOf("calibrationMethod", options.calibrationMethod, CALIBRATION_METHODS, d.method),
    maxLength: integer("maxLength", options.maxLength, 2, 1 << 20, d.maxLength),
    fidelityThreshold: threshold,
    topKThreshold,
    activationType: oneOf("activationType", options.activationType, ["int8", "uint8"] as const, d.activationType),
    attentionMatMuls: options.attentionMatMuls ?? d.attentionMatMuls,
    smoothing: resolveSmoothing(options.smoothing),
    percentile,
    bins: integer("histogramBins", options.histogramBins, 128, 1 << 16, d.bins),
    batchSize: integer("calibrationBatchSize", options.calibrationBatchSize, 1, 4096, d.batchSize),
  };
}

function checkedAccuracyLevel(level: unknown): AccuracyLevel {
  if (!ACCURACY_LEVELS.includes(level as AccuracyLevel))
    throw new UsageError((n) => `${n("accuracyLevel")} must be one of ${ACCURACY_LEVELS.join(", ")}, not ${String(level)}`);
  return level as AccuracyLevel;
}

function resolveSmoothing(smoothing: QuantizationOptions["smoothing"]): SmoothingOptions | false {
  if (smoothing === false) return false;
  const resolved = { ...DEFAULT_SMOOTHING, ...smoothing };
  if (!(resolved.alpha >= 0 && resolved.alpha <= 1))
    throw new UsageError((n) => `${n("smoothing.alpha")} must be in [0, 1], not ${resolved.alpha}`);
  if (!(resolved.outlierRatio >= 1))
    throw new UsageError((n) => `${n("smoothing.outlierRatio")} must be ≥ 1, not ${resolved.outlierRatio}`);
  return resolved;
}

/** The calibration texts the options ask for (a file, a list, or the built-in corpus). */
export function calibrationTextsFor(options: QuantizationOptions): TextSource {
  if (options.calibrationFile !== undefined && options.calibrationTexts !== undefined) {
    throw new QuantizationInputError("give calibrationFile or calibrationTexts, not both");
  }
  if (options.calibrationFile !== undefined) return { texts: readTextFile(options.calibrationFile), origin: options.calibrationFile };
  if (options.calibrationTexts !== undefined) {
    if (!Array.isArray(options.calibrationTexts)) throw new QuantizationInputError("calibrationTexts must be an array of strings");
    return textsFromList(options.calibrationTexts);
  }
  return builtinCalibrationTexts();
}
