// EmbeddingService: the public export API (SPEC). Construction stores the id; tokenizer and
// weights are resolved and loaded lazily, once.
import { join } from "node:path";
import type { GraphVariant } from "../arch/architecture.js";
import { type LoadedEncoder, loadEncoder } from "../arch/encoder.js";
import { DEFAULT_OPSET, checkOpset } from "../graph/opset.js";
import { ensureDir } from "./atomic.js";
import { emitVerifiedGraph } from "./emit.js";
import { ExportError } from "./errors.js";
import { type Logger, stderrLogger } from "./log.js";
import { type ModelResolver, localOnlyResolver, modelSlug } from "./model-source.js";
import { type LoadedTokenizer, copyTokenizerFiles, loadTokenizer } from "./tokenizer-files.js";
import { PACKAGE_VERSION } from "./version.js";

export const DEFAULT_MODEL_ID = "BAAI/bge-small-en-v1.5";

export interface ExportOptions {
  /** INT8 QDQ when true (default), FP32 otherwise. */
  quantized?: boolean;
  /** ONNX opset of the default domain (default 17). */
  opset?: number;
  /** Add a token_type_ids graph input (models with token types only). */
  tokenTypeIds?: boolean;
  /** Emit only this variant, without fallback (tests, benchmarks). */
  variant?: GraphVariant;
}

export interface EmbeddingServiceOptions {
  logger?: Logger;
  resolver?: ModelResolver;
}

export class EmbeddingService {
  readonly modelId: string;
  private readonly logger: Logger;
  private readonly resolver: ModelResolver;
  private tokenizer?: Promise<LoadedTokenizer & { dir: string }>;
  private encoder?: Promise<LoadedEncoder>;

  constructor(modelId: string = DEFAULT_MODEL_ID, options: EmbeddingServiceOptions = {}) {
    this.modelId = modelId;
    this.logger = options.logger ?? stderrLogger;
    this.resolver = options.resolver ?? localOnlyResolver;
  }

  /** File-name stem of every artifact: "org/name" → "org-name", a folder → its name. */
  get slug(): string {
    return modelSlug(this.modelId);
  }

  /** Writes the tokenizer files into `outputDir` (never touching model weights). */
  async exportTokenizerOnly(outputDir: string): Promise<string> {
    ensureDir(outputDir);
    const { dir } = await this.loadTokenizer();
    const written = copyTokenizerFiles(dir, outputDir);
    this.logger.info(`wrote ${written.join(", ")} to ${outputDir}`);
    return outputDir;
  }

  /** Exports the encoder to ONNX in `outputDir` (with its tokenizer) and returns the model path. */
  async exportOnnxModel(outputDir: string, options: ExportOptions = {}): Promise<string> {
    const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
    const quantized = options.quantized ?? true;
    if (quantized) {
      throw new ExportError("INT8 export is not available in this version; export FP32 with { quantized: false } (CLI: --fp32)");
    }
    ensureDir(outputDir);
    const tokenizer = await this.loadTokenizer();
    const encoder = await this.loadEncoder();
    const { architecture, config } = encoder;
    this.logger.info(`exporting ${this.modelId} (${architecture.name}, hidden ${config.hiddenSize}) at opset ${opset}`);
    const emitted = await emitVerifiedGraph(encoder, join(outputDir, `${this.slug}_fp32.onnx`), {
      opset,
      tokenTypeIds: options.tokenTypeIds ?? false,
      variants: options.variant ? [options.variant] : ["primary", "portable"],
      metadata: { source_model: this.modelId },
      producerVersion: PACKAGE_VERSION,
      logger: this.logger,
    });
    copyTokenizerFiles(tokenizer.dir, outputDir);
    return emitted.path;
  }

  private loadTokenizer(): Promise<LoadedTokenizer & { dir: string }> {
    this.tokenizer ??= forgetOnFailure(
      this.resolver.resolve(this.modelId, "tokenizer").then((dir) => ({ dir, ...loadTokenizer(dir) })),
      () => (this.tokenizer = undefined),
    );
    return this.tokenizer;
  }

  private loadEncoder(): Promise<LoadedEncoder> {
    this.encoder ??= forgetOnFailure(this.resolver.resolve(this.modelId, "model").then(loadEncoder), () => (this.encoder = undefined));
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
