// Embedding text with an exported folder (ONNX file + tokenizer files), in this process:
//   const embedder = await Embedder.load("./models/bge-small");
//   const vector = await embedder.embed("hello world");          // or embed([...]) for several
// Tokenization truncates to the model's limit and pads per batch; token vectors are pooled
// (CLS / mean / max, by default as the model's sentence-transformers config says) and
// L2-normalized. A graph whose sentence_embedding output pools the same way is used as is; one
// with sentence_embedding alone (bge-m3's dense output: CLS, normalized) is read only that way.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import type { Tokenizer } from "@huggingface/tokenizers";
import type { TokenBatch } from "../arch/architecture.js";
import { SENTENCE_EMBEDDING_OUTPUT, type SentencePooling, truncateAndNormalize } from "../heads/pooling.js";
import { VECTOR_OUTPUT, type VectorKind } from "../heads/vectors.js";
import { POOLING_MODES, type PoolingMode, readSentencePipeline } from "../arch/sentence-transformers.js";
import { type ModelPrompts, PromptError, type PromptRequest, promptsOf, resolvePrompt } from "../arch/prompts.js";
import type { ExportFolder } from "../artifact/layout.js";
import type { VerifyMode } from "../artifact/verified-files.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import { TOKENIZER_JSON, configTokenName } from "../artifact/tokenizer-files.js";
import { loadTokenizer } from "../artifact/tokenizer-folder.js";
import { describe, errorMessage, kindOf } from "../common/messages.js";
import { type ProgressCallback, startTask } from "../common/progress.js";
import { type PaddingSide, batchByLength, padBatch } from "../quant/tokenize.js";
import { DEFAULT_MAX_BATCH_TOKENS, LONG_TEXT_MODES, type LongTextMode, chunkIds, meanVector, textWindow } from "./long-text.js";
import { batchFeeds } from "../ort/feeds.js";
import { type ModelSession, openModelSession } from "../ort/model-session.js";
import type { TokenPooling } from "../ort/protocol.js";
import { WorkerScriptError } from "../ort/isolated-session.js";
import { loadExportFolder } from "./export-folder.js";
import { readOnnxMetadata } from "../ort/onnx-metadata.js";
import { pipelineWindows } from "./embed-stream.js";
import { folderFiles } from "../common/node-files.js";

export type { PoolingMode } from "../arch/sentence-transformers.js";

export class EmbedderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmbedderError";
  }
}

export interface EmbedderOptions {
  /** The .onnx file to use, a name in the folder or a path (default: the only one; INT8 when both). */
  file?: string;
  /**
   * With several exports in the folder (its export_manifest.json): the most recent one of this
   * precision, "fp32", "int8" (either mode), "int8-static", "int8-dynamic", "fp16" or "int4"
   * (default: the most recent export).
   */
  precision?: string;
  /** Truncate inputs to this many tokens, special tokens included (default: the model's limit). */
  maxLength?: number;
  /** Default pooling of embed() (default: the sentence-transformers config, else CLS). */
  pooling?: PoolingMode;
  /** Threads onnxruntime may use within one operator (default: its own choice). */
  threads?: number;
  /**
   * How the files export_manifest.json lists are checked before use: their type and size always;
   * their sha256 "cached" (default: once per version of a file, remembered in the user's cache,
   * see docs/usage.md) or "full" (every file hashed at every load).
   */
  verify?: VerifyMode;
  /**
   * Run onnxruntime in a child process (default true; false: in this one). A native crash of
   * onnxruntime is then an EmbedderError instead of the end of this process, tokenization
   * overlaps inference, and the child's allocator keeps the model's memory in huge pages (an
   * FP32 load a third shorter on a VM with slow page faults: docs/benchmarks.md); each batch's
   * vectors are copied back once. The child does not keep Node from exiting between batches.
   */
  isolated?: boolean;
  /**
   * How messages name the `file` and `pooling` options (default `{ file }`, `{ pooling }`): the
   * CLI passes its flags, so that a message says what to type there.
   */
  optionNames?: Partial<Record<"file" | "pooling", string>>;
}

/** Texts per onnxruntime run unless embed() is told otherwise. */
export const DEFAULT_BATCH_SIZE = 32;

export interface EmbedOptions {
  /** Texts per onnxruntime run (default DEFAULT_BATCH_SIZE, 32); each batch is padded to its longest text. */
  batchSize?: number;
  /**
   * Padded tokens per onnxruntime run, texts × the longest one (default 16384): a mix of long
   * and short texts never makes a batch larger than this; a text longer than it runs alone.
   */
  maxBatchTokens?: number;
  /**
   * A text longer than maxLength: "truncate" (default) keeps its start; "chunk" embeds it in
   * windows of maxLength tokens and gives their mean (embedChunks() gives each window's vector).
   */
  longText?: LongTextMode;
  /** With longText "chunk": text tokens each window repeats from the previous one (default 0), as Hugging Face tokenizers' stride. */
  stride?: number;
  pooling?: PoolingMode;
  /** L2-normalize each vector (default true). */
  normalize?: boolean;
  /**
   * Matryoshka: keep the first `dimensions` values of each vector and L2-normalize them again
   * (default: the graph's own sentence_embedding width when it was exported with --dimensions).
   */
  dimensions?: number;
  /**
   * The model's prompt of this name (its config_sentence_transformers.json `prompts`, e.g.
   * Qwen3-Embedding's "query"), put before each text as sentence-transformers does (prompt +
   * text). Default: the model's default_prompt_name, when it has one.
   */
  prompt?: string;
  /** Text put before each text instead of a named prompt ("" for none). */
  promptText?: string;
  /** Progress events (stage "embed", texts done of all), one per batch: worth it for long inputs. */
  onProgress?: ProgressCallback;
  /** Stops a long embedding between batches: embed() rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** embedStream()'s options: embed()'s, but one vector per text (no chunking) and no progress events (the caller counts rows). */
export interface EmbedStreamOptions extends Omit<EmbedOptions, "longText" | "stride" | "onProgress"> {
  /** Texts taken from the stream at a time (default 512): sorted by length within it, tokenized while the previous one runs. */
  windowTexts?: number;
}

/** Limit when nothing in the folder states one: BERT's 512 positions. */
const FALLBACK_MAX_LENGTH = 512;
/** transformers writes a huge model_max_length (int(1e30)) when a tokenizer has no limit. */
const UNSET_MODEL_MAX_LENGTH = 1e6;

export class Embedder {
  private constructor(
    private readonly session: ModelSession,
    private readonly tokenizer: Tokenizer,
    private readonly specials: SpecialTokens,
    /** The ONNX file in use. */
    readonly modelPath: string,
    /** Longest token sequence fed to the model; longer texts are truncated. */
    readonly maxLength: number,
    /** Default pooling of embed(). */
    readonly pooling: PoolingMode,
    /** What the graph's sentence_embedding output computes, when it has one. */
    readonly graphPooling: SentencePooling | undefined,
    /** The model's prompts (config_sentence_transformers.json's, carried in the graph's metadata). */
    readonly prompts: ModelPrompts,
    /** The graph has last_hidden_state, so any pooling can be computed here (bge-m3's dense graph has only sentence_embedding). */
    private readonly tokenVectors: boolean,
  ) {}

  /** Loads an exported folder: its ONNX file (FP32 or INT8) and tokenizer files. */
  static async load(dir: string, options: EmbedderOptions = {}): Promise<Embedder> {
    if (!existsSync(dir)) throw new EmbedderError(`${dir} does not exist; pass the folder an export wrote (model .onnx + tokenizer.json)`);
    const optionName = (option: "file" | "pooling") => options.optionNames?.[option] ?? `{ ${option} }`;
    const fail = (message: string) => new EmbedderError(message);
    return loadExportFolder(
      { dir, file: options.file, precision: options.precision, verify: options.verify, fail, fileOption: optionName("file") },
      (folder) => Embedder.open(folder, options, optionName),
    );
  }

  /** The Embedder over the export's files (the manifest check aside). */
  private static async open(
    folder: ExportFolder,
    options: EmbedderOptions,
    optionName: (option: "file" | "pooling") => string,
  ): Promise<Embedder> {
    const { dir, modelPath, has } = folder;
    const pipeline = readSentencePipeline(folderFiles(dir), has);
    if (pipeline && pipeline.unsupportedModules.length > 0 && !options.pooling) {
      throw new EmbedderError(
        `${join(dir, "modules.json")} has ${pipeline.unsupportedModules.join(", ")} after pooling, which the ONNX model does not include; ` +
          `its vectors would differ from sentence-transformers'. Pass ${optionName("pooling")} explicitly to embed with the encoder alone`,
      );
    }
    if (!has(TOKENIZER_JSON)) {
      throw new EmbedderError(
        `${dir} has no ${TOKENIZER_JSON}, which the Embedder tokenizes with; put the model's tokenizer files beside the ONNX file (jazzmine-embed tokenizer <model> -o ${dir})`,
      );
    }
    const { session, prepared } = await whileSessionLoads(modelPath, options, () => {
      const { tokenizer, config } = loadTokenizer(dir, has);
      const metadata = readMetadata(modelPath);
      const maxLength = chooseMaxLength(metadata, modelPath, options.maxLength, [pipeline?.maxSeqLength, tokenizerMaxLength(config)]);
      return { tokenizer, config, metadata, maxLength };
    });
    const { tokenizer, config, metadata, maxLength } = prepared;
    const graphPooling = session.outputNames.includes(SENTENCE_EMBEDDING_OUTPUT) ? sentencePoolingOf(metadata) : undefined;
    // bge-m3's dense output: sentence_embedding alone, pooled in the graph (no token vectors to pool otherwise).
    const pooledOnly = !session.outputNames.includes(OUTPUT.lastHiddenState) && graphPooling !== undefined;
    if (pooledOnly && options.pooling !== undefined && options.pooling !== graphPooling.pooling) {
      await session.release();
      throw new EmbedderError(
        `${modelPath} pools in its graph (${graphPooling.pooling}${graphPooling.normalize ? ", normalized" : ""}) and has no last_hidden_state ` +
          `to pool another way; drop ${optionName("pooling")} ${options.pooling}`,
      );
    }
    if (!session.outputNames.includes(OUTPUT.lastHiddenState) && !pooledOnly) {
      await session.release();
      const reranker = session.outputNames.includes(OUTPUT.logits);
      const retrieval = [OUTPUT.sparseEmbedding, OUTPUT.tokenVectors].some((o) => session.outputNames.includes(o));
      throw new EmbedderError(
        reranker
          ? `${modelPath} is a reranker (its output is logits, not last_hidden_state); load it with Reranker.load (CLI: jazzmine-embed rerank)`
          : retrieval
            ? `${modelPath} is a retrieval model (outputs ${session.outputNames.join(", ")}); load sparse_embedding with SparseEmbedder.load, ` +
              `token_vectors with MultiVectorEmbedder.load (CLI: jazzmine-embed embed --sparse / --colbert)`
            : `${modelPath} has no last_hidden_state output (it has ${session.outputNames.join(", ")}); use a model exported by this tool`,
      );
    }
    // Dense modules are computed only inside a graph's sentence_embedding (decoders, --sentence-embedding).
    if (pipeline && pipeline.dense.length > 0 && !(graphPooling && metadata[METADATA.sentenceDense]) && !options.pooling) {
      await session.release();
      throw new EmbedderError(
        `${join(dir, "modules.json")} has Dense after pooling, which the ONNX model does not include; its vectors would differ from ` +
          `sentence-transformers'. Export it again with its sentence_embedding (CLI: --sentence-embedding), or pass ${optionName("pooling")} to embed with the encoder alone`,
      );
    }
    const pooling = options.pooling ?? graphPooling?.pooling ?? pipeline?.pooling ?? "cls";
    return new Embedder(
      session,
      tokenizer,
      specialTokens(tokenizer, config),
      modelPath,
      maxLength,
      pooling,
      graphPooling,
      promptsOf(metadata, modelPath),
      !pooledOnly,
    );
  }

  /** One vector per text, in order. */
  embed(text: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** A string gives its vector; an array gives one vector per text, in order. */
  async embed(input: string | readonly string[], options: EmbedOptions = {}): Promise<Float32Array | Float32Array[]> {
    if (typeof input === "string") return (await this.embed([input], options))[0]!;
    const texts = this.prompted(checkedTexts(input), options);
    const longText = options.longText ?? "truncate";
    if (!LONG_TEXT_MODES.includes(longText))
      throw new EmbedderError(`longText must be one of ${LONG_TEXT_MODES.join(", ")}, not ${describeInput(longText)}`);
    // The texts carry their prompt already.
    if (longText === "chunk") return (await this.embedChunks(texts, { ...options, promptText: "" })).map((text) => text.mean);
    if (options.stride !== undefined) throw new EmbedderError(`stride applies to longText: "chunk" only; pass both, or neither`);
    return this.vectorsOf(
      texts.map((text) => this.encode(text)),
      options,
    );
  }

  /**
   * Each text in windows of at most maxLength tokens (special tokens in every window; `stride`
   * text tokens shared by neighbours): one vector per window, in order, and their mean
   * (L2-normalized when the vectors are). A text that fits is one window.
   */
  async embedChunks(texts: readonly string[], options: Omit<EmbedOptions, "longText"> = {}): Promise<ChunkedEmbedding[]> {
    const window = textWindow(this.maxLength, this.specials);
    if (window < 1)
      throw new EmbedderError(`maxLength ${this.maxLength} leaves no room for text between the special tokens; choose a larger maxLength`);
    const stride = options.stride ?? 0;
    if (!Number.isInteger(stride) || stride < 0 || stride >= window) {
      throw new EmbedderError(
        `stride must be an integer from 0 to ${window - 1} (a window holds ${window} text tokens), not ${describeInput(stride)}`,
      );
    }
    const windows = this.prompted(checkedTexts(texts), options).map((text) =>
      chunkIds(this.tokenizer.encode(text).ids, this.maxLength, this.specials, stride),
    );
    const vectors = await this.vectorsOf(windows.flat(), options);
    let next = 0;
    return windows.map((chunks) => {
      const own = vectors.slice(next, (next += chunks.length));
      return { chunks: own, mean: meanVector(own, options.normalize ?? true) };
    });
  }

  /** One pooled vector per token sequence (each at most maxLength ids), in order. */
  private async vectorsOf(ids: readonly number[][], options: EmbedOptions): Promise<Float32Array[]> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new EmbedderError(`batchSize must be a positive integer, not ${batchSize}`);
    const maxBatchTokens = options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    if (!Number.isInteger(maxBatchTokens) || maxBatchTokens < 1) {
      throw new EmbedderError(`maxBatchTokens must be a positive integer (padded tokens per run), not ${describeInput(maxBatchTokens)}`);
    }
    const pooling = options.pooling ?? this.pooling;
    if (!POOLING_MODES.includes(pooling))
      throw new EmbedderError(`pooling must be one of ${POOLING_MODES.join(", ")}, not ${String(pooling)}`);
    const dimensions = options.dimensions ?? this.graphPooling?.dimensions;
    if (dimensions !== undefined && !(Number.isInteger(dimensions) && dimensions >= 1)) {
      throw new EmbedderError(`dimensions must be a positive integer, not ${String(dimensions)}`);
    }
    const wanted: SentencePooling = { pooling, normalize: options.normalize ?? true, ...(dimensions !== undefined ? { dimensions } : {}) };
    const fromGraph = this.graphComputes(wanted);
    if (!fromGraph && !this.tokenVectors) {
      const graph = this.graphPooling!;
      throw new EmbedderError(
        `${basename(this.modelPath)} computes its vectors in the graph (${graph.pooling} pooling, ${graph.normalize ? "normalized" : "not normalized"}) ` +
          `and has no last_hidden_state to pool another way; ask for that pooling and normalization`,
      );
    }
    return this.perText(
      ids,
      batchSize,
      maxBatchTokens,
      (batch) => (fromGraph ? this.graphEmbedding(batch, wanted) : this.poolHidden(batch, wanted)),
      options.onProgress,
      options.signal,
    );
  }

  /**
   * One vector per text of `texts` (an async iterable such as a file's lines, or any iterable),
   * in order, yielded as they are computed: memory stays bounded however many texts come.
   * `{ vector: "int8" | "binary" }` yields the graph's quantized outputs instead (embedInt8,
   * embedBinary). Stop early by breaking out of the loop, or with `signal`.
   */
  embedStream(
    texts: AsyncIterable<string> | Iterable<string>,
    options?: EmbedStreamOptions & { vector?: undefined },
  ): AsyncGenerator<Float32Array>;
  embedStream(texts: AsyncIterable<string> | Iterable<string>, options: EmbedStreamOptions & { vector: "int8" }): AsyncGenerator<Int8Array>;
  embedStream(
    texts: AsyncIterable<string> | Iterable<string>,
    options: EmbedStreamOptions & { vector: "binary" },
  ): AsyncGenerator<Uint8Array>;
  embedStream(
    texts: AsyncIterable<string> | Iterable<string>,
    options: EmbedStreamOptions & { vector?: VectorKind } = {},
  ): AsyncGenerator<Float32Array | Int8Array | Uint8Array> {
    const { vector, windowTexts, ...embedOptions } = options;
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (vector !== undefined) this.vectorOutput(vector);
    const prompt = this.promptText(options); // put before every text, as embed() does
    return pipelineWindows<Float32Array | Int8Array | Uint8Array>(texts, {
      ...(windowTexts !== undefined ? { windowTexts } : {}),
      tokenizeChunk: Number.isInteger(batchSize) && batchSize > 0 ? batchSize : DEFAULT_BATCH_SIZE,
      tokenize: (text) => this.encode(prompt + text),
      compute: async (ids) =>
        vector === undefined ? this.vectorsOf(ids, embedOptions) : this.quantizedVectors(ids, vector, options.batchSize),
      ...(options.signal ? { signal: options.signal } : {}),
      fail: (message) => new EmbedderError(message),
    });
  }

  /**
   * The graph's sentence_embedding_int8 per text, in order (exported with --vector int8;
   * compare two with dotProduct).
   */
  async embedInt8(texts: readonly string[], options: { batchSize?: number } & PromptRequest = {}): Promise<Int8Array[]> {
    return this.quantizedVectors(this.encodeAll(this.prompted(texts, options)), "int8", options.batchSize) as Promise<Int8Array[]>;
  }

  /**
   * The graph's sentence_embedding_binary per text, in order: sign bits packed 8 per byte
   * (exported with --vector binary; compare two with hammingDistance).
   */
  async embedBinary(texts: readonly string[], options: { batchSize?: number } & PromptRequest = {}): Promise<Uint8Array[]> {
    return this.quantizedVectors(this.encodeAll(this.prompted(texts, options)), "binary", options.batchSize) as Promise<Uint8Array[]>;
  }

  /** The graph's output for `kind`, refused when the export has none. */
  private vectorOutput(kind: VectorKind): string {
    const output = VECTOR_OUTPUT[kind];
    if (!this.session.outputNames.includes(output)) {
      throw new EmbedderError(`${basename(this.modelPath)} has no ${output} output; export it with --vector ${kind}`);
    }
    return output;
  }

  private async quantizedVectors(ids: readonly number[][], kind: VectorKind, batchSize = 32): Promise<Array<Int8Array | Uint8Array>> {
    const output = this.vectorOutput(kind);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new EmbedderError(`batchSize must be a positive integer, not ${batchSize}`);
    return this.perText(ids, batchSize, DEFAULT_MAX_BATCH_TOKENS, (batch) => this.run(batch, output, kind === "int8" ? "int8" : "uint8"));
  }

  /** `compute` over batches of similar length (less padding), its rows returned in the texts' order. */
  private async perText<T extends Float32Array | Int8Array | Uint8Array>(
    ids: readonly number[][],
    batchSize: number,
    maxBatchTokens: number,
    compute: (batch: TokenBatch) => Promise<T>,
    onProgress?: ProgressCallback,
    signal?: AbortSignal,
  ): Promise<T[]> {
    const vectors = new Array<T>(ids.length);
    const task = startTask(onProgress, { stage: "embed", label: "embedding", unit: "texts", total: ids.length });
    try {
      for (const { batch, rows } of batchByLength(
        ids,
        batchSize,
        this.specials.padId,
        maxBatchTokens,
        undefined,
        this.specials.paddingSide,
      )) {
        signal?.throwIfAborted();
        const values = await compute(batch);
        const width = values.length / batch.batch;
        rows.forEach((textIndex, row) => (vectors[textIndex] = values.slice(row * width, (row + 1) * width) as T));
        task.advance(rows.length);
      }
    } catch (error) {
      task.fail();
      throw error;
    }
    task.done();
    return vectors;
  }

  /** The padded token batch embed() feeds for `texts` (in the given order), prompted as `options` say. */
  tokenize(texts: readonly string[], options: PromptRequest = {}): TokenBatch {
    return padBatch(
      this.prompted(texts, options).map((text) => this.encode(text)),
      this.specials.padId,
      undefined,
      this.specials.paddingSide,
    );
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  /** `texts` with the prompt `options` ask for (else the model's default one) in front: prompt + text, as sentence-transformers. */
  private prompted(texts: readonly string[], options: PromptRequest): readonly string[] {
    const prompt = this.promptText(options);
    return prompt === "" ? texts : texts.map((text) => prompt + text);
  }

  private promptText(request: PromptRequest): string {
    try {
      return resolvePrompt(this.prompts, request, this.modelPath);
    } catch (error) {
      throw error instanceof PromptError ? new EmbedderError(error.message) : error;
    }
  }

  private encodeAll(texts: readonly string[]): number[][] {
    return checkedTexts(texts).map((text) => this.encode(text));
  }

  /** Token ids with special tokens, truncated like Hugging Face tokenizers: text tokens go, specials stay. */
  private encode(text: string): number[] {
    const ids = this.tokenizer.encode(text).ids;
    if (ids.length <= this.maxLength) return ids;
    const { prefix, suffix } = this.specials;
    const keep = Math.max(0, this.maxLength - prefix - suffix);
    return [...ids.slice(0, prefix + keep), ...ids.slice(ids.length - suffix)];
  }

  /**
   * Whether the graph's sentence_embedding output gives `wanted`: same pooling, and either the
   * same normalization and width, or a truncation of it (Matryoshka: truncating and
   * renormalizing a vector that was already normalized or truncated gives the same result).
   */
  private graphComputes(wanted: SentencePooling): boolean {
    const graph = this.graphPooling;
    if (graph?.pooling !== wanted.pooling) return false;
    if (wanted.dimensions === undefined) return graph.dimensions === undefined && graph.normalize === wanted.normalize;
    return graph.dimensions === undefined || wanted.dimensions <= graph.dimensions;
  }

  /** sentence_embedding of one padded batch, truncated further when `wanted` asks for fewer dimensions. */
  private async graphEmbedding(batch: TokenBatch, wanted: SentencePooling): Promise<Float32Array> {
    const embedding = await this.run(batch, SENTENCE_EMBEDDING_OUTPUT);
    const width = embedding.length / batch.batch;
    return wanted.dimensions === undefined || wanted.dimensions === this.graphPooling?.dimensions
      ? embedding
      : this.truncated(embedding, width, wanted.dimensions);
  }

  /** last_hidden_state of one padded batch, pooled where onnxruntime runs (a worker sends back only the vectors) → [batch, hidden or dimensions]. */
  private async poolHidden(batch: TokenBatch, pooling: SentencePooling): Promise<Float32Array> {
    const { dimensions, pooling: mode, normalize } = pooling;
    const pooled = await this.run(batch, OUTPUT.lastHiddenState, "float32", { pooling: mode, normalize });
    return dimensions === undefined ? pooled : this.truncated(pooled, pooled.length / batch.batch, dimensions);
  }

  private truncated(vectors: Float32Array, width: number, dimensions: number): Float32Array {
    if (dimensions > width)
      throw new EmbedderError(`dimensions ${dimensions} exceeds the ${width} dimensions ${basename(this.modelPath)} computes`);
    return truncateAndNormalize(vectors, width, dimensions);
  }

  /** One float output of the graph for one padded batch (token vectors pooled per row with `pool`). */
  private async run(batch: TokenBatch, output: string, type?: "float32", pool?: TokenPooling): Promise<Float32Array>;
  private async run(batch: TokenBatch, output: string, type: "int8" | "uint8"): Promise<Int8Array | Uint8Array>;
  private async run(
    batch: TokenBatch,
    output: string,
    type: "float32" | "int8" | "uint8" = "float32",
    pool?: TokenPooling,
  ): Promise<Float32Array | Int8Array | Uint8Array> {
    const feeds = batchFeeds(batch, this.session.inputNames);
    try {
      const tensor = (await this.session.run(feeds, [output], pool))[output]!;
      if (tensor.type !== type) throw new Error(`${output} is ${tensor.type}, not ${type}`);
      return tensor.data as Float32Array | Int8Array | Uint8Array;
    } catch (error) {
      throw new EmbedderError(
        `onnxruntime failed on a batch of ${batch.batch}×${batch.sequence} tokens with ${basename(this.modelPath)}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** A text embedded window by window (Embedder.embedChunks). */
export interface ChunkedEmbedding {
  /** One vector per window of the text, in order (one when the text fits). */
  chunks: Float32Array[];
  /** The mean of the windows' vectors, L2-normalized when they are. */
  mean: Float32Array;
}

/** JavaScript callers can pass anything: only a string or an array of strings is embedded. */
export function checkedTexts(input: unknown): readonly string[] {
  if (!Array.isArray(input)) throw new EmbedderError(`embed() takes a string or an array of strings, not ${describeInput(input)}`);
  input.forEach((text: unknown, i) => {
    if (typeof text !== "string") throw new EmbedderError(`embed() takes strings, but texts[${i}] is ${describeInput(text)}`);
  });
  return input as readonly string[];
}

/** "undefined", "a number (42)", "a Set", "an object": what a caller passed, for messages. */
function describeInput(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return `${kindOf(value)} (${describe(value)})`;
}

export interface SpecialTokens {
  /** Special tokens the post-processor puts before / after the text ([CLS] … [SEP]: 1 and 1). */
  prefix: number;
  suffix: number;
  padId: number;
  /** tokenizer_config.json's padding_side (default right; Qwen3-Embedding pads left). */
  paddingSide: PaddingSide;
}

/** Where the template puts the text, found by encoding a probe with and without special tokens. */
export function specialTokens(tokenizer: Tokenizer, config: Record<string, unknown>): SpecialTokens {
  const bare: number[] = tokenizer.encode("probe", { add_special_tokens: false }).ids;
  const full: number[] = tokenizer.encode("probe").ids;
  let prefix = 0;
  while (prefix + bare.length <= full.length && bare.some((id, i) => full[prefix + i] !== id)) prefix++;
  if (prefix + bare.length > full.length) prefix = 0;
  const suffix = Math.max(0, full.length - prefix - bare.length);
  const padToken = configTokenName(config.pad_token);
  const padId = [padToken, "[PAD]", "<pad>"].map((t) => (t ? tokenizer.token_to_id(t) : undefined)).find((id) => id !== undefined) ?? 0;
  return { prefix, suffix, padId, paddingSide: paddingSideOf(config) };
}

/** tokenizer_config.json's padding_side, as transformers reads it (absent: right). */
export function paddingSideOf(config: Record<string, unknown>): PaddingSide {
  const side = config.padding_side ?? "right";
  if (side === "left" || side === "right") return side;
  throw new EmbedderError(`tokenizer_config.json: padding_side must be "left" or "right", not ${JSON.stringify(side)}; fix the file`);
}

/** tokenizer_config.json's model_max_length, unless it is transformers' "no limit" value. */
export function tokenizerMaxLength(config: Record<string, unknown>): number | undefined {
  return typeof config.model_max_length === "number" && config.model_max_length < UNSET_MODEL_MAX_LENGTH
    ? config.model_max_length
    : undefined;
}

/** Opens an exported model in onnxruntime (in this process or a child); a load failure is an EmbedderError. */
export async function loadModelSession(modelPath: string, options: { threads?: number; isolated?: boolean }): Promise<ModelSession> {
  try {
    return await openModelSession(modelPath, {
      ...(options.threads ? { threads: options.threads } : {}),
      isolated: options.isolated ?? true,
    });
  } catch (error) {
    // A worker script missing from a bundle is no fault of the model.
    if (error instanceof WorkerScriptError) throw new EmbedderError(error.message, { cause: error });
    throw new EmbedderError(`onnxruntime cannot load ${modelPath}: ${errorMessage(error)}; export the model again`, { cause: error });
  }
}

/**
 * Opens `modelPath` in onnxruntime while `prepare` reads the rest of the folder here (the
 * tokenizer, the limits): the session loads meanwhile (in its child process, or on onnxruntime's
 * threads). A `prepare` failure is the error, and the session is released.
 */
export async function whileSessionLoads<T>(
  modelPath: string,
  options: { threads?: number; isolated?: boolean },
  prepare: () => T,
): Promise<{ session: ModelSession; prepared: T }> {
  const loading = loadModelSession(modelPath, options);
  let prepared: T;
  try {
    prepared = prepare();
  } catch (error) {
    await loading.then(
      (session) => session.release(),
      () => {},
    );
    throw error;
  }
  return { session: await loading, prepared };
}

export function readMetadata(modelPath: string): Record<string, string> {
  try {
    return readOnnxMetadata(modelPath);
  } catch (error) {
    throw new EmbedderError(`${modelPath} is not a readable ONNX model (${(error as Error).message}); export the model again`, {
      cause: error,
    });
  }
}

/** The exporter records the sentence_embedding output's pooling in the graph's metadata. */
function sentencePoolingOf(metadata: Record<string, string>): SentencePooling | undefined {
  const pooling = metadata[METADATA.sentencePooling] as PoolingMode;
  if (!POOLING_MODES.includes(pooling)) return undefined;
  const dimensions = Number(metadata[METADATA.sentenceDimensions]);
  return {
    pooling,
    normalize: metadata[METADATA.sentenceNormalize] === "true",
    ...(Number.isInteger(dimensions) && dimensions > 0 ? { dimensions } : {}),
  };
}

/** The model's limit is the smallest one stated (graph metadata, sentence-transformers, tokenizer). */
export function chooseMaxLength(
  metadata: Record<string, string>,
  modelPath: string,
  requested: number | undefined,
  stated: Array<number | undefined>,
): number {
  const fromGraph = Number(metadata[METADATA.maxSequenceLength]);
  const limits = [Number.isInteger(fromGraph) && fromGraph > 0 ? fromGraph : undefined, ...stated].filter(
    (n): n is number => n !== undefined && n > 0,
  );
  const limit = limits.length > 0 ? Math.min(...limits) : FALLBACK_MAX_LENGTH;
  if (requested === undefined) return limit;
  if (!Number.isInteger(requested) || requested < 2)
    throw new EmbedderError(`maxLength must be an integer of at least 2, not ${requested}`);
  if (Number.isInteger(fromGraph) && requested > fromGraph) {
    throw new EmbedderError(`maxLength ${requested} exceeds the ${fromGraph} tokens ${basename(modelPath)} accepts`);
  }
  return requested;
}
