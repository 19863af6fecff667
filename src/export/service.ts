// EmbeddingService: the public export API (SPEC). Construction stores the id; tokenizer and
// weights are resolved and loaded lazily, once.
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { GraphVariant } from "../arch/graph-variant.js";
import { type LoadedEncoder } from "../arch/encoder.js";
import { loadEncoder } from "../arch/encoder-folder.js";
import { readAdvertisedDimensions } from "../arch/matryoshka.js";
import { promptsMetadata, readPrompts } from "../arch/prompts.js";
import type { SentencePooling } from "../heads/pooling.js";
import { type Task, type TaskSpec, detectTask, headsFor, isCausalReranker, taskJudging } from "../heads/tasks.js";
import { type CausalRerankSpec, resolveAnswerTokens } from "../heads/causal-rerank.js";
import { QWEN3_RERANKER_TEMPLATE, RERANK_TEMPLATE_FILE } from "../artifact/rerank-template.js";
import { fileSystemError, persistentFileSystemError } from "../common/errors.js";
import { UsageError } from "../common/usage.js";
import { InterruptedError, abortable, throwIfAborted, withAbortSignal } from "../common/abort.js";
import { ensureDir, planDir, writeFileAtomic } from "../common/atomic.js";
import {
  type EmitOptions,
  type EmittedGraph,
  type GraphUnderVerification,
  type VerificationStart,
  emitVerifiedGraph,
  startVerification,
} from "./emit.js";
import { type Logger, stderrLogger } from "../common/log.js";
import { HubClient } from "./hub/client.js";
import { type ModelResolver, modelSlug } from "./model-source.js";
import { type ProgressCallback, startTask, withStep } from "../common/progress.js";
import { progressFor } from "./progress.js";
import { type Quantizer, defaultQuantizer, quantizeEmitted } from "./quantized-export.js";
import { type ExportLayout, type ModelPrecision, modelFileName } from "../artifact/layout.js";
import { METADATA } from "../artifact/names.js";
import type { TextSource } from "../quant/corpus.js";
import { precisionLabel } from "../quant/options.js";
import type { QuantizationResult } from "../quant/quantize.js";
import type { AnyQuantizationReport } from "../quant/report.js";
import { type WriteModelResult, removeModelFiles } from "../graph/onnx-file.js";
import { writeLayoutFiles } from "./layout-files.js";
import { exportFloat16 } from "./float16-export.js";
import { resolveSentencePooling, writeSentenceFiles } from "./sentence-files.js";
import { VECTOR_REPORT_FILE, type VectorTexts, calibrateVectorRanges, reportVectorAgreement } from "./vector-export.js";
import { type HighestToken, type LoadedTokenizer, TOKENIZER_JSON, checkTokenizerFiles } from "../artifact/tokenizer-files.js";
import { copyTokenizerFiles, loadTokenizer } from "../artifact/tokenizer-folder.js";
import { PACKAGE_VERSION } from "./version.js";
import { checkVocabulary } from "./vocabulary.js";
import { ExportWorkspace } from "./workspace.js";
import { manifestSource, writeExportManifest } from "./export-manifest.js";
import { checkExportLoads, runtimeCount } from "./load-check.js";
import { type LoadedWorker, withLoadedWorker } from "../ort/model-session.js";
import { judgeModelFiles } from "../quant/quantize.js";
import type { EncoderConfig } from "../arch/architecture.js";
import { type ExportOptions, type ExportPlan, resolveExportPlan } from "./plan.js";
import { folderFiles } from "../common/node-files.js";

export type { ExportOptions } from "./plan.js";

export const DEFAULT_MODEL_ID = "BAAI/bge-small-en-v1.5";

/** What an export published (runExport's answer; exportOnnxModel returns its path). */
export interface ExportResult {
  /** The model file, in the output folder. */
  path: string;
  precision: ModelPrecision;
  /** The files it published, relative to the output folder ('/'-separated), sorted. */
  files: string[];
  /** The reports written beside the model (quantization_report.json, vector_report.json), by path. */
  reports: string[];
  /** The graph variant that verified (and was quantized). */
  variant: GraphVariant;
}

/** runExport's answer: the result, and its FP32 stage for transforms into other precisions. */
export interface ExportRun extends ExportResult {
  fp32: Fp32Stage;
}

/** What the load stage found: the encoder, what the graph computes, the tokenizer's folder, verification under way. */
interface Loaded {
  encoder: LoadedEncoder;
  task: TaskSpec;
  tokenTypeIds: boolean;
  sentenceEmbedding: SentencePooling | undefined;
  tokenizerDir: string;
  verification: VerificationStart;
}

/** The FP32 stage's result: the verified graph (in memory and its file) and how it was emitted. */
export interface Fp32Stage extends Loaded {
  /** The emitted task (its vector output's ranges included). */
  task: TaskSpec;
  emit: EmitOptions;
  emitted: EmittedGraph;
}

/** The transform stage's result: the model file to publish (staged). */
interface Transformed {
  artifact: string;
  variant: GraphVariant;
  quantization?: QuantizationResult<AnyQuantizationReport>;
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
    return (await this.runExport(outputDir, options)).path;
  }

  /**
   * exportOnnxModel, answering what it published. The stages: plan (every option checked) → load
   * → emit FP32 (the verified in-memory graph kept) → transform (INT8 / INT4 / FP16 from that
   * graph) → publish. `fp32` reuses another export's FP32 stage of this model (--optimize): it
   * must come from the same options but the precision.
   */
  async runExport(outputDir: string, options: ExportOptions = {}, fp32?: Fp32Stage): Promise<ExportRun> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      return await withAbortSignal(signal, () => this.export(outputDir, options, fp32));
    } catch (error) {
      if (signal?.aborted && !(error instanceof InterruptedError)) throw new InterruptedError([], signal.reason);
      throw error;
    }
  }

  private async export(outputDir: string, options: ExportOptions, reused: Fp32Stage | undefined): Promise<ExportRun> {
    const plan = resolveExportPlan(this.modelId, options);
    if (reused && plan.precision === "fp32") {
      // It would publish (and move) the other export's file: an FP32 export emits its own.
      throw new UsageError(() => `an FP32 export emits its own FP32 graph: call runExport without a reused FP32 stage`);
    }
    const onProgress = options.onProgress ?? progressFor(this.logger);
    planDir(outputDir); // a bad output path fails before anything is read; nothing is created yet
    const loaded = reused ? undefined : await this.load(plan, onProgress);
    const task = reused?.task ?? loaded!.task;
    if (plan.quantization && FP32_ONLY_TASKS.includes(task.task)) {
      loaded?.verification.cancel();
      throw new UsageError(
        (name) =>
          `INT8 quantization of a ${task.task} model is not supported yet (no fidelity judge for its outputs); export it with ${name("{ quantized: false }")}`,
      );
    }
    let workspace: ExportWorkspace;
    try {
      // Created only once every input is known to be usable: a rejected export leaves no folder.
      workspace = ExportWorkspace.open(outputDir, this.logger);
    } catch (error) {
      loaded?.verification.cancel();
      throw error;
    }
    try {
      // FP32 is published as emitted: its folder is staged and opened by the runtime while
      // onnxruntime still verifies the graph (the load check then runs in the verifying worker).
      let reports: string[] | undefined;
      const stageWhileVerifying =
        plan.precision === "fp32"
          ? async (stage: Loaded, graph: GraphUnderVerification) => {
              reports = await this.stageFolder(
                stage,
                plan,
                workspace,
                outputDir,
                { artifact: graph.path, variant: graph.variant },
                graph.verified,
              );
            }
          : undefined;
      // Everything is written into the private workspace and published at the end.
      const fp32 = reused ?? (await this.emitFp32(loaded!, plan, workspace, onProgress, stageWhileVerifying));
      const { artifact, variant, quantization } = await this.transform(fp32, plan, workspace, onProgress);
      // The FP32 file of an INT8 / INT4 / FP16 export is an intermediate (SPEC: deleted); one reused from another export stays its.
      if (!reused && plan.precision !== "fp32") removeModelFiles(fp32.emitted.path);
      reports ??= await this.stageFolder(fp32, plan, workspace, outputDir, { artifact, variant, quantization });
      const files = workspace.files();
      const path = await workspace.publish(artifact, throwIfAborted);
      const published = (staged: string) => join(outputDir, relative(workspace.dir, staged));
      if (plan.precision === "fp32") fp32.emitted = { ...fp32.emitted, path }; // where later transforms find it
      return { path, precision: plan.precision, files, reports: reports.map(published), variant, fp32 };
    } catch (error) {
      loaded?.verification.cancel(); // a failure before the FP32 graph verified (vector calibration) leaves no worker behind
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

  /** Load: the encoder, its task and heads, the tokenizer checked; verification's workers started. */
  private async load(plan: ExportPlan, onProgress: ProgressCallback): Promise<Loaded> {
    const encoder = await abortable(this.loadEncoder(onProgress));
    const { config, architecture } = encoder;
    if (plan.dtype === "fp16" && architecture.float16Refusal) {
      throw new UsageError((name) => `${name("dtype")} fp16 is refused for ${architecture.name}: ${architecture.float16Refusal}`);
    }
    const taskName = plan.task ?? detectTask(encoder);
    const causalRerank = taskName === "rerank" && isCausalReranker(encoder);
    if (plan.rerankTokens && !causalRerank) {
      throw new UsageError(
        (name) =>
          `${name("rerankTokens")} are for a causal LM exported as a reranker (${name("task")} rerank on Qwen3-Reranker and the like)`,
      );
    }
    const answerTokens = causalRerank ? await this.answerTokens(plan.rerankTokens, onProgress) : undefined;
    const sentenceEmbedding = resolveSentencePooling(
      encoder.dir,
      { sentenceEmbedding: plan.sentenceEmbedding, dimensions: plan.dimensions, vector: plan.vector?.kind },
      config.hiddenSize,
      this.logger,
      architecture.decoder === true && taskName === "feature-extraction",
    );
    const task: TaskSpec = {
      task: taskName,
      ...(sentenceEmbedding ? { sentenceEmbedding } : {}),
      ...(plan.outputs ? { outputs: plan.outputs } : {}),
      ...(answerTokens ? { answerTokens } : {}),
    };
    headsFor(encoder, task); // a missing or unsupported head is reported before anything runs
    const tokenTypeIds = plan.tokenTypeIds ?? (task.task === "rerank" && config.typeVocabSize > 1);
    if (task.task !== "feature-extraction")
      this.logger.info(`task ${task.task}${tokenTypeIds ? " (token_type_ids input: pairs use type 1)" : ""}`);
    // The reference forward and the onnxruntime worker boot while the tokenizer loads. FP32
    // needs only its files (checked to parse); quantization also tokenizes with it.
    const verification = startVerification(encoder, task, tokenTypeIds);
    try {
      const checked = await abortable(
        plan.quantization || plan.vector ? this.loadTokenizer(onProgress) : this.checkedTokenizer(onProgress),
      );
      checkVocabulary(encoder.dir, config, checked.highest);
      return { encoder, task, tokenTypeIds, sentenceEmbedding, tokenizerDir: checked.dir, verification };
    } catch (error) {
      verification.cancel();
      throw error;
    }
  }

  /** Emit FP32: the graph built once, written, verified (primary, else portable); the in-memory graph kept for the transforms. */
  private async emitFp32(
    loaded: Loaded,
    plan: ExportPlan,
    workspace: ExportWorkspace,
    onProgress: ProgressCallback,
    alongside?: (stage: Loaded, graph: GraphUnderVerification) => Promise<void>,
  ): Promise<Fp32Stage> {
    const { encoder, verification } = loaded;
    const { config, architecture } = encoder;
    const advertised = readAdvertisedDimensions(encoder.files);
    this.logger.info(`exporting ${this.modelId} (${architecture.name}, hidden ${config.hiddenSize}) at opset ${plan.opset}`);
    const path = this.modelPath(workspace.dir, plan.layout, "fp32");
    const emit: EmitOptions = {
      opset: plan.opset,
      tokenTypeIds: loaded.tokenTypeIds,
      variants: plan.variants,
      // max_sequence_length: what the runtime (Embedder) truncates to.
      metadata: {
        [METADATA.sourceModel]: this.modelId,
        [METADATA.maxSequenceLength]: String(config.maxSequence),
        ...(advertised ? { [METADATA.matryoshkaDimensions]: advertised.dimensions.join(",") } : {}),
        ...promptsMetadata(readPrompts(encoder.files)),
      },
      producerVersion: PACKAGE_VERSION,
      task: loaded.task,
      logger: this.logger,
      // Only a file that is published is worth hashing as it is written.
      ...(plan.precision === "fp32" ? { onWritten: (written: WriteModelResult) => workspace.hashes.writtenModel(written) } : {}),
    };
    if (plan.vector) {
      const texts = await this.vectorTexts(encoder, plan.vector.calibration);
      // The reference worker computes without it: a vector output is checked against its definition, not the reference.
      emit.task = {
        ...loaded.task,
        vector: plan.vector.kind === "binary" ? { kind: "binary" } : await calibrateVectorRanges(encoder, emit, texts, path),
      };
    }
    const emitted = await withStep(onProgress, "export", "building, writing and verifying the FP32 graph", () =>
      emitVerifiedGraph(encoder, path, emit, verification, alongside && ((graph) => alongside({ ...loaded, task: emit.task }, graph))),
    );
    return { ...loaded, task: emit.task, emit, emitted };
  }

  /** Transform: the published precision from the FP32 stage's graph (FP32 itself: nothing to do). */
  private async transform(
    fp32: Fp32Stage,
    plan: ExportPlan,
    workspace: ExportWorkspace,
    onProgress: ProgressCallback,
  ): Promise<Transformed> {
    const { emitted, encoder } = fp32;
    if (plan.quantization) {
      const { settings, calibration } = plan.quantization;
      const quantized = await withStep(
        onProgress,
        "quantize",
        `quantizing to ${precisionLabel(settings.mode)} (${settings.mode})`,
        async () =>
          quantizeEmitted(emitted, {
            encoder,
            tokenizer: await this.loadTokenizer(onProgress),
            emit: fp32.emit,
            int8Path: this.modelPath(workspace.dir, plan.layout, plan.precision),
            portablePath: this.modelPath(workspace.dir, plan.layout, "fp32"),
            settings,
            calibration,
            quantizer: this.quantizer,
          }),
      );
      return { artifact: quantized.path, variant: quantized.variant, quantization: quantized };
    }
    if (plan.dtype === "fp16") {
      const artifact = await withStep(onProgress, "export", "converting to FP16 and verifying it", () =>
        exportFloat16(emitted, encoder, fp32.emit, this.modelPath(workspace.dir, plan.layout, "fp16")),
      );
      return { artifact, variant: emitted.variant };
    }
    return { artifact: emitted.path, variant: emitted.variant };
  }

  /**
   * Publish, first part: the reports, the files that travel with the model, the manifest, and the
   * load check (the runtime that serves the task opens the staged folder: nothing is published
   * that it refuses). Returns the reports' staged paths. With `verified`, the load check runs in
   * that worker (the graph already loaded).
   */
  private async stageFolder(
    stage: Loaded,
    plan: ExportPlan,
    workspace: ExportWorkspace,
    outputDir: string,
    transformed: Transformed,
    verified?: LoadedWorker,
  ): Promise<string[]> {
    const { artifact, quantization } = transformed;
    const reports: string[] = quantization ? [quantization.reportPath] : [];
    if (plan.vector) {
      await verified?.worker; // the agreement is reported for the graph that verified, not for one that may fall back
      await reportVectorAgreement(artifact, plan.vector.kind, await this.vectorTexts(stage.encoder, plan.vector.calibration), this.logger);
      reports.push(join(dirname(artifact), VECTOR_REPORT_FILE));
    }
    await this.writeFolderFiles(stage, plan, workspace, transformed);
    const request = { dir: workspace.dir, model: artifact, task: stage.task.task, outputs: stage.task.outputs, outputDir };
    if (!verified) await checkExportLoads(request);
    else {
      // Runtimes beyond the one that takes the verifying worker load the graph themselves: not before it verified.
      if (runtimeCount(request) > 1) await verified.worker;
      await withLoadedWorker(verified, () => checkExportLoads(request));
    }
    return reports;
  }

  /** The files that travel with the model, and the manifest written last. */
  private async writeFolderFiles(stage: Loaded, plan: ExportPlan, workspace: ExportWorkspace, transformed: Transformed): Promise<void> {
    const { encoder, sentenceEmbedding } = stage;
    const { artifact, quantization } = transformed;
    const { precision, layout, opset } = plan;
    copyTokenizerFiles(stage.tokenizerDir, workspace.dir);
    writeSentenceFiles(encoder.dir, workspace.dir, sentenceEmbedding, encoder.config.hiddenSize, this.logger);
    const template = stage.task.answerTokens?.template;
    if (template) writeFileAtomic(join(workspace.dir, RERANK_TEMPLATE_FILE), `${JSON.stringify(template, null, 2)}\n`);
    writeLayoutFiles({
      layout,
      sourceDir: encoder.dir,
      outputDir: workspace.dir,
      modelPath: artifact,
      precision,
      opset,
      ...(plan.quantization && quantization ? { quantization: { settings: plan.quantization.settings, report: quantization.report } } : {}),
    });
    await writeExportManifest(workspace, artifact, manifestSource(this.modelId, this.resolver), {
      task: stage.task.task,
      precision,
      layout,
      opset,
      variant: transformed.variant,
      tokenTypeIds: stage.tokenTypeIds,
      ...(sentenceEmbedding ? { sentenceEmbedding } : {}),
      ...(plan.quantization ? { quantization: { mode: plan.quantization.settings.mode, method: plan.quantization.settings.method } } : {}),
      ...(plan.vector ? { vector: plan.vector.kind } : {}),
    });
  }

  /**
   * Scores exported model files of this model against its FP32 file the way INT8 is judged: the
   * same held-out inputs and score (worst cosine; rerankers and ColBERT: Spearman of their scores).
   */
  async judgeExports(fp32Path: string, candidatePaths: readonly string[], options: ExportOptions = {}): Promise<ExportJudgement> {
    const onProgress = options.onProgress ?? progressFor(this.logger);
    const encoder = await this.loadEncoder(onProgress);
    const { tokenizer } = await this.loadTokenizer(onProgress);
    const plan = resolveExportPlan(this.modelId, { ...options, quantized: true, dtype: "fp32" });
    const task = plan.task ?? detectTask(encoder);
    return judgeModelFiles(
      {
        tokenizer,
        padTokenId: encoder.config.padTokenId,
        maxSequence: encoder.config.maxSequence,
        ...plan.quantization!,
        judging: taskJudging(encoder, {
          task,
          ...(isCausalReranker(encoder) && task === "rerank"
            ? { answerTokens: await this.answerTokens(options.rerankTokens, onProgress) }
            : {}),
        }),
      },
      fp32Path,
      candidatePaths,
    );
  }

  /** The task an export of this model computes: `task` when given (checked), else the one its files say. */
  async exportTask(task?: Task): Promise<Task> {
    return resolveExportPlan(this.modelId, { task }).task ?? detectTask(await this.loadEncoder(progressFor(this.logger)));
  }

  /** A causal-LM reranker's answer tokens (looked up in its tokenizer) and prompt. */
  private async answerTokens(tokens: readonly string[] | undefined, onProgress: ProgressCallback): Promise<CausalRerankSpec> {
    const { tokenizer, dir } = await abortable(this.loadTokenizer(onProgress));
    return { ...resolveAnswerTokens(tokenizer, tokens, join(dir, TOKENIZER_JSON)), template: QWEN3_RERANKER_TEMPLATE };
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
    return { dir, highest: checkTokenizerFiles(folderFiles(dir)) };
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

/** Loaded once on success; a failed load is retried on the next call (the user may fix files). */
function forgetOnFailure<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  return promise.catch((error: unknown) => {
    forget();
    throw error;
  });
}
