// Every export option checked once, before anything is read or written: resolveExportPlan turns
// ExportOptions (what the API and the CLI pass) into a typed plan the stages follow. A bad option
// is a UsageError whose message names options as the library spells them; the CLI names its flags.
import type { GraphVariant } from "../arch/graph-variant.js";
import { DEFAULT_LAYOUT, EXPORT_LAYOUTS, type ExportLayout, type ModelPrecision, quantizedPrecision } from "../artifact/layout.js";
import { UsageError } from "../common/usage.js";
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from "../graph/opset.js";
import { BGE_M3_OUTPUTS, type BgeM3Output } from "../heads/bge-m3.js";
import type { SentencePooling } from "../heads/pooling.js";
import { TASKS, type Task } from "../heads/tasks.js";
import { VECTOR_KINDS, type VectorKind } from "../heads/vectors.js";
import { POOLING_MODES } from "../arch/sentence-transformers.js";
import type { TextSource } from "../quant/corpus.js";
import { type QuantizationOptions, type QuantizationSettings, calibrationTextsFor, resolveQuantizationOptions } from "../quant/options.js";
import type { ProgressCallback } from "../common/progress.js";
import { DTYPES, type Dtype } from "./float16-export.js";

/** Export options; the quantization ones (mode, calibration texts, method, …) apply when `quantized`. */
export interface ExportOptions extends QuantizationOptions {
  /** INT8 QDQ when true (default), FP32 otherwise. */
  quantized?: boolean;
  /** ONNX opset of the default domain (default 17). */
  opset?: number;
  /**
   * Add a token_type_ids graph input (models with token types only). Default: on for rerankers
   * whose checkpoint has two or more token types (pairs need type 1), off otherwise.
   */
  tokenTypeIds?: boolean;
  /**
   * What the graph computes (default: detected from the checkpoint — `*ForSequenceClassification`
   * is "rerank"; bge-m3's .pt heads "bge-m3"; HF_ColBERT / artifact.metadata / a PyLate Dense
   * module "colbert"; a SparseEncoder's SpladePooling "sparse"; anything else "feature-extraction").
   */
  task?: Task;
  /** Emit only this variant, without fallback (tests, benchmarks). */
  variant?: GraphVariant;
  /** Stops the export (see exportOnnxModel). */
  signal?: AbortSignal;
  /**
   * Add a third output, sentence_embedding [batch, hidden], pooled in the graph: `true` pools as
   * the model's sentence-transformers pipeline says (modules.json + its Pooling config, and a
   * Normalize module if listed); `{ pooling, normalize }` chooses explicitly. The pipeline files
   * are written next to the model either way.
   */
  sentenceEmbedding?: boolean | SentencePooling;
  /**
   * Matryoshka: sentence_embedding keeps its first `dimensions` values, L2-normalized again
   * (implies `sentenceEmbedding: true` when that is unset).
   */
  dimensions?: number;
  /**
   * Adds a quantized copy of sentence_embedding: "int8" (sentence_embedding_int8, ranges
   * calibrated on the calibration texts) or "binary" (sentence_embedding_binary, packed sign
   * bits); implies `sentenceEmbedding: true` when that is unset.
   */
  vector?: VectorKind;
  /**
   * "fp16": float16 weights and activations where they are safe (LayerNorm, Softmax, the mask,
   * positions and the pooled outputs stay float32; inputs and outputs float32), `<slug>_fp16.onnx`.
   * Not combined with INT8: `quantized` defaults to false with it.
   */
  dtype?: Dtype;
  /**
   * File names for other runtimes (default "flat": `<slug>_fp32.onnx`, `<slug>_int8_qdq.onnx`):
   * "transformers.js" → onnx/model.onnx, onnx/model_quantized.onnx; "optimum" → model.onnx,
   * model_quantized.onnx and ort_config.json. Every layout writes config.json.
   */
  layout?: ExportLayout;
  /** Progress events: Hub downloads, the graph build and verification, quantization (default: lines through the logger). */
  onProgress?: ProgressCallback;
  /** bge-m3: which of its outputs the graph has (default all three). */
  outputs?: BgeM3Output[];
  /**
   * rerank on a causal LM (Qwen3-Reranker): the answer tokens, positive then negative, each one
   * token of the model's tokenizer (default ["yes", "no"]); logits = h_last · (W[positive] − W[negative]).
   */
  rerankTokens?: readonly [string, string];
}

const VARIANTS: readonly GraphVariant[] = ["primary", "portable"];

/** What one export does, every option checked. */
export interface ExportPlan {
  modelId: string;
  opset: number;
  layout: ExportLayout;
  /** The precision of the published model file. */
  precision: ModelPrecision;
  dtype: Dtype;
  /** Asked for (undefined: detected from the checkpoint). */
  task: Task | undefined;
  /** Asked for (undefined: rerankers with token types get it). */
  tokenTypeIds: boolean | undefined;
  /** Tried in order until one verifies. */
  variants: GraphVariant[];
  /** INT8 / INT4: the settings and the calibration texts. */
  quantization: { settings: QuantizationSettings; calibration: TextSource } | undefined;
  /** The quantized vector output and the texts its ranges and agreement are measured on. */
  vector: { kind: VectorKind; calibration: TextSource } | undefined;
  /** The sentence_embedding request (the model's files resolve `true` later). */
  sentenceEmbedding: boolean | SentencePooling;
  dimensions: number | undefined;
  outputs: BgeM3Output[] | undefined;
  rerankTokens: readonly [string, string] | undefined;
}

export function resolveExportPlan(modelId: string, options: ExportOptions): ExportPlan {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (typeof opset !== "number" || !Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new UsageError(
      (name) =>
        `${name("opset")} ${String(opset)} is not supported: choose an integer from ${MIN_OPSET} to ${MAX_OPSET} (default ${DEFAULT_OPSET})`,
    );
  }
  const dtype = oneOf("dtype", options.dtype, DTYPES) ?? "fp32";
  if (dtype === "fp16" && options.quantized === true) {
    throw new UsageError(
      (name) =>
        `${name("dtype")} fp16 is a float export: it does not combine with INT8 quantization (drop ${name("quantized")}, or the dtype)`,
    );
  }
  const quantized = options.quantized ?? dtype === "fp32";
  const layout = oneOf("layout", options.layout, EXPORT_LAYOUTS) ?? DEFAULT_LAYOUT;
  const task = oneOf("task", options.task, TASKS);
  const variant = oneOf("variant", options.variant, VARIANTS);
  const vectorKind = oneOf("vector", options.vector, VECTOR_KINDS);
  if (options.tokenTypeIds !== undefined && typeof options.tokenTypeIds !== "boolean")
    throw new UsageError((name) => `${name("tokenTypeIds")} must be true or false, not ${String(options.tokenTypeIds)}`);
  const outputs = options.outputs;
  if (outputs !== undefined && (!Array.isArray(outputs) || outputs.length === 0 || outputs.some((o) => !BGE_M3_OUTPUTS.includes(o)))) {
    const wrong =
      Array.isArray(outputs) && outputs.length > 0 ? outputs.filter((o) => !BGE_M3_OUTPUTS.includes(o)).join(", ") : String(outputs);
    throw new UsageError((name) => `${name("outputs")} takes a list of ${BGE_M3_OUTPUTS.join(", ")}, not ${wrong || "an empty list"}`);
  }
  const { rerankTokens } = options;
  if (
    rerankTokens !== undefined &&
    !(Array.isArray(rerankTokens) && rerankTokens.length === 2 && rerankTokens.every((t) => typeof t === "string" && t !== ""))
  ) {
    throw new UsageError(
      (name) => `${name("rerankTokens")} takes two tokens, positive then negative, e.g. yes,no — not ${String(rerankTokens)}`,
    );
  }
  const { dimensions } = options;
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1))
    throw new UsageError((name) => `${name("dimensions")} must be a positive integer, not ${String(dimensions)}`);
  // Checked before anything is written; the texts are read once and shared by both uses.
  const settings = quantized ? resolveQuantizationOptions(options) : undefined;
  const calibration = settings || vectorKind ? calibrationTextsFor(options) : undefined;
  return {
    modelId,
    opset,
    layout,
    precision: settings ? quantizedPrecision(settings.mode) : dtype,
    dtype,
    task,
    tokenTypeIds: options.tokenTypeIds,
    variants: variant ? [variant] : [...VARIANTS],
    quantization: settings ? { settings, calibration: calibration! } : undefined,
    vector: vectorKind ? { kind: vectorKind, calibration: calibration! } : undefined,
    sentenceEmbedding: checkSentenceEmbedding(options.sentenceEmbedding),
    dimensions,
    outputs,
    rerankTokens,
  };
}

/** `value` when it is one of `allowed` (undefined stays undefined). */
function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined || allowed.includes(value as T)) return value as T | undefined;
  throw new UsageError((name) => `${name(option)} must be one of ${allowed.join(", ")}, not ${String(value)}`);
}

function checkSentenceEmbedding(option: ExportOptions["sentenceEmbedding"]): boolean | SentencePooling {
  if (option === undefined || typeof option === "boolean") return option ?? false;
  const pooling = oneOf("sentenceEmbedding.pooling", option?.pooling, POOLING_MODES);
  if (pooling === undefined || typeof option.normalize !== "boolean") {
    throw new UsageError(
      (name) =>
        `${name("sentenceEmbedding")} must be true or { pooling: ${POOLING_MODES.map((m) => `"${m}"`).join(" | ")}, normalize: boolean }`,
    );
  }
  return { pooling, normalize: option.normalize };
}
