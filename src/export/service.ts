// EmbeddingService: the public export API (SPEC). Construction stores the id; tokenizer and
// weights are resolved and loaded lazily, once.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { GraphVariant } from "../arch/graph-variant.js";
import { type LoadedEncoder, loadEncoder } from "../arch/encoder.js";
import { readAdvertisedDimensions } from "../arch/matryoshka.js";
import type { SentencePooling } from "../heads/pooling.js";
import { TASKS, type Task, type TaskSpec, detectTask, headsFor } from "../heads/tasks.js";
import { VECTOR_KINDS, type VectorKind } from "../heads/vectors.js";
import { ExportError, fileSystemError, persistentFileSystemError } from "../common/errors.js";
import { DEFAULT_OPSET, checkOpset } from "../graph/opset.js";
import { InterruptedError, abortable, throwIfAborted, withAbortSignal } from "../common/abort.js";
import { ensureDir, planDir } from "../common/atomic.js";
import type { BgeM3Output } from "../heads/bge-m3.js";
import { type EmitOptions, emitVerifiedGraph, startVerification } from "./emit.js";
import { type Logger, stderrLogger } from "../common/log.js";
import { HubClient } from "./hub/client.js";
import { type ModelResolver, modelSlug } from "./model-source.js";
import { type ProgressCallback, startTask, withStep } from "../common/progress.js";
import { progressFor } from "./progress.js";
import { type Quantizer, defaultQuantizer, quantizeEmitted } from "./quantized-export.js";
import { DEFAULT_LAYOUT, type ExportLayout, type ModelPrecision, modelFileName, quantizedPrecision } from "../artifact/layout.js";
import { METADATA } from "../artifact/names.js";
import type { TextSource } from "../quant/corpus.js";
import { type QuantizationOptions, calibrationTextsFor, precisionLabel, resolveQuantizationOptions } from "../quant/options.js";
import { checkLayout, writeLayoutFiles } from "./layout-files.js";
import { DTYPES, type Dtype, exportFloat16 } from "./float16-export.js";
import { resolveSentencePooling, writeSentenceFiles } from "./sentence-files.js";
import { type VectorTexts, calibrateVectorRanges, reportVectorAgreement } from "./vector-export.js";
import {
  type HighestToken,
  type LoadedTokenizer,
  checkTokenizerFiles,
  copyTokenizerFiles,
  loadTokenizer,
} from "../artifact/tokenizer-files.js";
import { PACKAGE_VERSION } from "./version.js";
import { checkVocabulary } from "./vocabulary.js";
import { ExportWorkspace } from "./workspace.js";
import { manifestSource, writeExportManifest } from "./export-manifest.js";
import { judgeModelFiles } from "../quant/quantize.js";
import type { EncoderConfig } from "../arch/architecture.js";

export const DEFAULT_MODEL_ID = "BAAI/bge-small-en-v1.5";

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
}

/** judgeExports' answer: each candidate's score (1 is perfect) and what the score is. */
export interface ExportJudgement {
  scoreName: string;
  scoreLabel: string;
  scores: number[];
}

export interface TokenizerExportOptions {
  /** Progress events: Hub downloads and the files written (default: lines through the logger). */
  onProgress?: ProgressCallback;
}

/** Tasks whose INT8 fidelity is not judged yet: FP32 only. */
const FP32_ONLY_TASKS: readonly Task[] = ["bge-m3"];

export interface EmbeddingServiceOptions {
  logger?: Logger;
  /** Where model ids' files come from (default: local folders as is, Hub ids via HubClient). */
  resolver?: ModelResolver;
  /** Hub revision (branch, tag or commit sha) for the default resolver (default "main"). */
  revision?: string;
  /** Replaces the INT8 step (tests force quantization failures with it). */
  quantizer?: Quantizer;
}

export class EmbeddingService {
  readonly modelId: string;
  private readonly logger: Logger;
  private readonly resolver: ModelResolver;
  private readonly quantizer: Quantizer;
  private tokenizerFolder?: Promise<string>;
  private tokenizer?: Promise<LoadedTokenizer & { dir: string }>;
  private encoder?: Promise<LoadedEncoder>;

  constructor(modelId: string = DEFAULT_MODEL_ID, options: EmbeddingServiceOptions = {}) {
    this.modelId = modelId;
    this.logger = options.logger ?? stderrLogger;
    this.quantizer = options.quantizer ?? defaultQuantizer;
    this.resolver = options.resolver ?? new HubClient({ logger: this.logger, ...(options.revision ? { revision: options.revision } : {}) });
  }

  /** File-name stem of every artifact: "org/name" → "org-name", a folder → its name. */
  get slug(): string {
    return modelSlug(this.modelId);
  }

  /** Writes the tokenizer files into `outputDir` (never touching model weights). */
  async exportTokenizerOnly(outputDir: string, options: TokenizerExportOptions = {}): Promise<string> {
    planDir(outputDir);
    const onProgress = options.onProgress ?? progressFor(this.logger);
    const { dir } = await this.loadTokenizer(onProgress);
    ensureDir(outputDir);
    const task = startTask(onProgress, { stage: "tokenizer", label: "writing the tokenizer files", unit: "steps", total: 1 });
    const written = copyTokenizerFiles(dir, outputDir);
    task.done();
    this.logger.info(`wrote ${written.join(", ")} to ${outputDir}`);
    return outputDir;
  }

  /**
   * Exports the encoder to ONNX in `outputDir` (with its tokenizer) and returns the model path.
   * `options.signal` stops it: its workers end, everything it wrote is removed, files that were
   * in the folder before stay, and it rejects with an InterruptedError naming what it removed.
   */
  async exportOnnxModel(outputDir: string, options: ExportOptions = {}): Promise<string> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      return await withAbortSignal(signal, () => this.export(outputDir, options));
    } catch (error) {
      if (signal?.aborted && !(error instanceof InterruptedError)) throw new InterruptedError([], signal.reason);
      throw error;
    }
  }

  private async export(outputDir: string, options: ExportOptions): Promise<string> {
    const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
    const dtype = checkDtype(options.dtype, options.quantized);
    const quantized = options.quantized ?? dtype === "fp32";
    const onProgress = options.onProgress ?? progressFor(this.logger);
    const layout = checkLayout(options.layout ?? DEFAULT_LAYOUT);
    // Quantization settings and calibration texts are checked before anything is written.
    const quantization = quantized
      ? { settings: resolveQuantizationOptions(options), calibration: calibrationTextsFor(options) }
      : undefined;
    const vector = checkVectorKind(options.vector);
    const vectorCalibration = vector ? (quantization?.calibration ?? calibrationTextsFor(options)) : undefined;
    planDir(outputDir); // a bad output path fails before anything is read; nothing is created yet
    const encoder = await abortable(this.loadEncoder(onProgress));
    const { architecture, config } = encoder;
    const sentenceEmbedding = resolveSentencePooling(encoder.dir, options, config.hiddenSize, this.logger);
    const advertised = readAdvertisedDimensions(encoder.dir);
    const task: TaskSpec = {
      task: chosenTask(options.task) ?? detectTask(encoder),
      ...(sentenceEmbedding ? { sentenceEmbedding } : {}),
      ...(options.outputs ? { outputs: options.outputs } : {}),
    };
    headsFor(encoder, task); // a missing or unsupported head is reported before anything runs
    if (quantization && FP32_ONLY_TASKS.includes(task.task)) {
      throw new ExportError(
        `INT8 quantization of a ${task.task} model is not supported yet (no fidelity judge for its outputs); export it with { quantized: false } (CLI: --fp32)`,
      );
    }
    const tokenTypeIds = options.tokenTypeIds ?? (task.task === "rerank" && config.typeVocabSize > 1);
    if (task.task !== "feature-extraction")
      this.logger.info(`task ${task.task}${tokenTypeIds ? " (token_type_ids input: pairs use type 1)" : ""}`);
    // The reference forward and the onnxruntime worker boot while the tokenizer loads. FP32
    // needs only its files (checked to parse); quantization also tokenizes with it.
    const verification = startVerification(encoder, task, tokenTypeIds);
    let workspace: ExportWorkspace;
    let tokenizerDir: string;
    try {
      const checked = await abortable(quantization || vector ? this.loadTokenizer(onProgress) : this.checkedTokenizer(onProgress));
      tokenizerDir = checked.dir;
      checkVocabulary(encoder.dir, config, checked.highest);
      // Created only once every input is known to be usable: a rejected export leaves no folder.
      workspace = ExportWorkspace.open(outputDir, this.logger);
    } catch (error) {
      verification.cancel();
      throw error;
    }
    this.logger.info(`exporting ${this.modelId} (${architecture.name}, hidden ${config.hiddenSize}) at opset ${opset}`);
    const emitOptions: EmitOptions = {
      opset,
      tokenTypeIds,
      variants: options.variant ? [options.variant] : ["primary", "portable"],
      // max_sequence_length: what the runtime (Embedder) truncates to.
      metadata: {
        [METADATA.sourceModel]: this.modelId,
        [METADATA.maxSequenceLength]: String(config.maxSequence),
        ...(advertised ? { [METADATA.matryoshkaDimensions]: advertised.dimensions.join(",") } : {}),
      },
      producerVersion: PACKAGE_VERSION,
      task,
      logger: this.logger,
    };
    try {
      // Everything is written into the private workspace and published at the end.
      const vectorTexts = vectorCalibration ? await this.vectorTexts(encoder, vectorCalibration) : undefined;
      if (vector && vectorTexts) {
        // The reference worker computes without it: a vector output is checked against its definition, not the reference.
        const near = this.modelPath(workspace.dir, layout, "fp32");
        emitOptions.task = {
          ...task,
          vector: vector === "binary" ? { kind: vector } : await calibrateVectorRanges(encoder, emitOptions, vectorTexts, near),
        };
      }
      const emitted = await withStep(onProgress, "export", "building, writing and verifying the FP32 graph", () =>
        emitVerifiedGraph(encoder, this.modelPath(workspace.dir, layout, "fp32"), emitOptions, verification),
      );
      const precision: ModelPrecision = quantization ? quantizedPrecision(quantization.settings.mode) : dtype;
      const int8 = quantization
        ? await withStep(
            onProgress,
            "quantize",
            `quantizing to ${precisionLabel(quantization.settings.mode)} (${quantization.settings.mode})`,
            async () =>
              quantizeEmitted(emitted, {
                encoder,
                tokenizer: await this.loadTokenizer(onProgress),
                emit: emitOptions,
                int8Path: this.modelPath(workspace.dir, layout, precision),
                ...quantization,
                quantizer: this.quantizer,
              }),
          )
        : undefined;
      const half =
        dtype === "fp16"
          ? await withStep(onProgress, "export", "converting to FP16 and verifying it", () =>
              exportFloat16(emitted, encoder, emitOptions, this.modelPath(workspace.dir, layout, "fp16")),
            )
          : undefined;
      const artifact = int8 ? int8.path : (half ?? emitted.path);
      if (vector && vectorTexts) await reportVectorAgreement(artifact, vector, vectorTexts, this.logger);
      copyTokenizerFiles(tokenizerDir, workspace.dir);
      writeSentenceFiles(encoder.dir, workspace.dir, sentenceEmbedding, config.hiddenSize, this.logger);
      writeLayoutFiles({
        layout,
        sourceDir: encoder.dir,
        outputDir: workspace.dir,
        modelPath: artifact,
        precision,
        opset,
        ...(quantization && int8 ? { quantization: { settings: quantization.settings, report: int8.report } } : {}),
      });
      await writeExportManifest(workspace, artifact, manifestSource(this.modelId, this.resolver), {
        task: task.task,
        precision,
        layout,
        opset,
        variant: emitted.variant,
        tokenTypeIds,
        ...(sentenceEmbedding ? { sentenceEmbedding } : {}),
        ...(quantization ? { quantization: { mode: quantization.settings.mode, method: quantization.settings.method } } : {}),
        ...(vector ? { vector } : {}),
      });
      return await workspace.publish(artifact, throwIfAborted);
    } catch (error) {
      const removed = workspace.discard();
      if (options.signal?.aborted) {
        // Staged copies went; the user's files of the same names were never touched.
        const kept = removed.filter((name) => !name.endsWith("/") && existsSync(join(outputDir, name)));
        throw new InterruptedError(removed, options.signal.reason, kept, outputDir);
      }
      // A write into the private workspace failed (full, read-only…): the user's path is the output folder.
      const disk = persistentFileSystemError(error);
      throw disk && workspace.holds(disk.path) ? fileSystemError("write the export into", outputDir, disk) : error;
    }
  }

  /**
   * Scores exported model files of this model against its FP32 file the way INT8 is judged: the
   * same held-out inputs and score (worst cosine; rerankers and ColBERT: Spearman of their scores).
   */
  async judgeExports(fp32Path: string, candidatePaths: readonly string[], options: ExportOptions = {}): Promise<ExportJudgement> {
    const onProgress = options.onProgress ?? progressFor(this.logger);
    const encoder = await this.loadEncoder(onProgress);
    const { tokenizer } = await this.loadTokenizer(onProgress);
    const task = chosenTask(options.task) ?? detectTask(encoder);
    return judgeModelFiles(
      {
        tokenizer,
        padTokenId: encoder.config.padTokenId,
        maxSequence: encoder.config.maxSequence,
        settings: resolveQuantizationOptions(options),
        calibration: calibrationTextsFor(options),
        ...(task === "rerank" ? { rerank: { tokenizer } } : {}),
        ...(task === "sparse" ? { sparse: true } : {}),
        ...(task === "colbert" ? { multiVector: true } : {}),
      },
      fp32Path,
      candidatePaths,
    );
  }

  /** The encoder's configuration (vocabulary, positions, token types), read from the model's files. */
  async encoderConfig(): Promise<EncoderConfig> {
    return (await this.loadEncoder(progressFor(this.logger))).config;
  }

  /** What the vector output's calibration and agreement report embed. */
  private async vectorTexts(encoder: LoadedEncoder, calibration: TextSource): Promise<VectorTexts> {
    const { tokenizer } = await this.loadTokenizer(undefined); // loaded by now: nothing to report
    return { tokenizer, padTokenId: encoder.config.padTokenId, maxSequence: encoder.config.maxSequence, calibration };
  }

  /** Where `layout` puts the model file of `precision` (its folder created). */
  private modelPath(outputDir: string, layout: ExportLayout, precision: ModelPrecision): string {
    const path = join(outputDir, modelFileName(layout, this.slug, precision));
    ensureDir(dirname(path));
    return path;
  }

  private loadTokenizer(onProgress: ProgressCallback | undefined): Promise<LoadedTokenizer & { dir: string }> {
    this.tokenizer ??= forgetOnFailure(
      this.tokenizerDir(onProgress).then((dir) => ({ dir, ...loadTokenizer(dir) })),
      () => (this.tokenizer = undefined),
    );
    return this.tokenizer;
  }

  /** The tokenizer's folder once its tokenizer.json is known to parse (cheaper than loading it). */
  private async checkedTokenizer(onProgress: ProgressCallback): Promise<{ dir: string; highest: HighestToken | undefined }> {
    const dir = await this.tokenizerDir(onProgress);
    return { dir, highest: checkTokenizerFiles(dir) };
  }

  /** Resolved once: the first call's onProgress sees the downloads. */
  private tokenizerDir(onProgress: ProgressCallback | undefined): Promise<string> {
    this.tokenizerFolder ??= forgetOnFailure(
      this.resolver.resolve(this.modelId, "tokenizer", { onProgress }),
      () => (this.tokenizerFolder = undefined),
    );
    return this.tokenizerFolder;
  }

  private loadEncoder(onProgress: ProgressCallback): Promise<LoadedEncoder> {
    this.encoder ??= forgetOnFailure(
      this.resolver.resolve(this.modelId, "model", { onProgress }).then(loadEncoder),
      () => (this.encoder = undefined),
    );
    return this.encoder;
  }
}

function checkDtype(dtype: unknown, quantized: boolean | undefined): Dtype {
  if (dtype === undefined) return "fp32";
  if (!DTYPES.includes(dtype as Dtype)) throw new ExportError(`dtype must be one of ${DTYPES.join(", ")}, not ${String(dtype)}`);
  if (dtype === "fp16" && quantized)
    throw new ExportError("dtype fp16 is a float export: it does not combine with INT8 quantization (drop quantized, or the dtype)");
  return dtype as Dtype;
}

function checkVectorKind(vector: unknown): VectorKind | undefined {
  if (vector === undefined || VECTOR_KINDS.includes(vector as VectorKind)) return vector as VectorKind | undefined;
  throw new ExportError(`vector must be one of ${VECTOR_KINDS.join(", ")}, not ${String(vector)}`);
}

/** The task option, checked (the API may pass anything). */
function chosenTask(task: Task | undefined): Task | undefined {
  if (task !== undefined && !TASKS.includes(task)) throw new ExportError(`task must be one of ${TASKS.join(", ")}, not ${String(task)}`);
  return task;
}

/** Loaded once on success; a failed load is retried on the next call (the user may fix files). */
function forgetOnFailure<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  return promise.catch((error: unknown) => {
    forget();
    throw error;
  });
}
