// An exported folder opened for a runtime that is not Embedder (SparseEmbedder,
// MultiVectorEmbedder): the ONNX file chosen and loaded with onnxruntime, the tokenizer, the
// model's length limit, and one graph output read per padded batch. File choice, limits and
// truncation are Embedder's own rules (the same helpers), so every runtime reads a folder alike.
import { existsSync } from "node:fs";
import { basename } from "node:path";
import type { Tokenizer } from "@huggingface/tokenizers";
import type { TokenBatch } from "../arch/architecture.js";
import { loadTokenizer } from "../artifact/tokenizer-folder.js";
import type { VerifyMode } from "../artifact/verified-files.js";
import { batchFeeds } from "../ort/feeds.js";
import type { ModelSession } from "../ort/model-session.js";
import { loadExportFolder } from "./export-folder.js";
import {
  EmbedderError,
  type SpecialTokens,
  chooseMaxLength,
  readMetadata,
  specialTokens,
  tokenizerMaxLength,
  whileSessionLoads,
} from "./embedder.js";

export interface TokenModelOptions {
  /** The .onnx file to use, a name in the folder or a path (default: the only one; INT8 when both). */
  file?: string;
  /** With several exports in the folder: the most recent one of this precision (as the Embedder's option). */
  precision?: string;
  /** Truncate inputs to this many tokens, special tokens included (default: the model's limit). */
  maxLength?: number;
  /** Threads onnxruntime may use within one operator (default: its own choice). */
  threads?: number;
  /** How the manifest's files are checked: "cached" (default) or "full" (the Embedder's option). */
  verify?: VerifyMode;
  /** Run onnxruntime in a child process (default true), as the Embedder's option: a native crash is then an error. */
  isolated?: boolean;
}

export class TokenModel {
  private constructor(
    private readonly session: ModelSession,
    /** The export folder. */
    readonly dir: string,
    readonly tokenizer: Tokenizer,
    readonly specials: SpecialTokens,
    readonly modelPath: string,
    readonly maxLength: number,
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens `dir`; its graph must have `output` (what `kind` of runtime needs, for the error). */
  static async open(dir: string, options: TokenModelOptions, output: string, kind: string): Promise<TokenModel> {
    if (!existsSync(dir)) throw new EmbedderError(`${dir} does not exist; pass the folder an export wrote (model .onnx + tokenizer.json)`);
    const fail = (message: string) => new EmbedderError(message);
    return loadExportFolder({ dir, file: options.file, precision: options.precision, verify: options.verify, fail }, ({ modelPath, has }) =>
      TokenModel.openFile(dir, modelPath, has, options, output, kind),
    );
  }

  private static async openFile(
    dir: string,
    modelPath: string,
    has: (file: string) => boolean,
    options: TokenModelOptions,
    output: string,
    kind: string,
  ): Promise<TokenModel> {
    const { session, prepared } = await whileSessionLoads(modelPath, options, () => {
      const { tokenizer, config } = loadTokenizer(dir, has);
      const metadata = readMetadata(modelPath);
      return {
        tokenizer,
        config,
        metadata,
        maxLength: chooseMaxLength(metadata, modelPath, options.maxLength, [tokenizerMaxLength(config)]),
      };
    });
    const { tokenizer, config, metadata, maxLength } = prepared;
    if (!session.outputNames.includes(output)) {
      await session.release();
      throw new EmbedderError(
        `${modelPath} has no ${output} output (it has ${session.outputNames.join(", ")}), so it is not a ${kind} model; export one with this tool`,
      );
    }
    return new TokenModel(session, dir, tokenizer, specialTokens(tokenizer, config), modelPath, maxLength, metadata);
  }

  /** The graph's inputs (token_type_ids only for models that take token types). */
  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** The text's token ids with special tokens, its body truncated to fit `maxLength` and `reserved` more tokens (specials stay). */
  encode(text: string, maxLength = this.maxLength, reserved = 0): number[] {
    const ids = this.tokenizer.encode(text).ids;
    if (ids.length + reserved <= maxLength) return ids;
    const { prefix, suffix } = this.specials;
    const keep = Math.max(0, maxLength - reserved - prefix - suffix);
    return [...ids.slice(0, prefix + keep), ...ids.slice(ids.length - suffix)];
  }

  /** One float output of the graph for one padded batch. */
  async run(batch: TokenBatch, output: string): Promise<Float32Array> {
    try {
      const tensor = (await this.session.run(batchFeeds(batch, this.session.inputNames), [output]))[output]!;
      if (tensor.type !== "float32") throw new Error(`${output} is ${tensor.type}, not float32`);
      return tensor.data as Float32Array;
    } catch (error) {
      throw new EmbedderError(
        `onnxruntime failed on a batch of ${batch.batch}×${batch.sequence} tokens with ${basename(this.modelPath)}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** batchSize as the runtimes take it: a positive integer, 32 by default. */
export function checkedBatchSize(batchSize: number | undefined): number {
  const size = batchSize ?? 32;
  if (!Number.isInteger(size) || size < 1) throw new EmbedderError(`batchSize must be a positive integer, not ${size}`);
  return size;
}
