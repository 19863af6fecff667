// Reranking with an exported cross-encoder folder (ONNX file with a `logits` output + tokenizer
// files), in this process:
//   const reranker = await Reranker.load("./models/bge-reranker");
//   const ranked = await reranker.rerank("query", ["doc a", "doc b"], { topK: 1 });  // [{ index, score }]
// Each (query, document) pair is encoded as Hugging Face encodes a text pair (the document
// truncated to fit, never the query); scores are sigmoid(logit) for one label, the softmax
// probability of the last label otherwise (raw logits on request).
import { existsSync } from "node:fs";
import { basename } from "node:path";
import * as ort from "onnxruntime-node";
import type { TokenBatch } from "../arch/architecture.js";
import { resolveModelFile } from "../artifact/layout.js";
import { OUTPUT } from "../artifact/names.js";
import { PairEncoder, PairEncodingError } from "../artifact/pairs.js";
import { loadTokenizer } from "../artifact/tokenizer-files.js";
import { errorMessage } from "../common/messages.js";
import { ortFeeds } from "../ort/ort-feeds.js";
import { batchByLength } from "../quant/tokenize.js";
import { EmbedderError, type EmbedderOptions, chooseMaxLength, readMetadata, specialTokens, tokenizerMaxLength } from "./embedder.js";

/** A runtime error of the reranker (an EmbedderError, as the folder helpers it shares raise). */
export class RerankerError extends EmbedderError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RerankerError";
  }
}

/** As the Embedder's: the model file, the longest pair (documents are cut to it), onnxruntime's threads. */
export type RerankerOptions = Pick<EmbedderOptions, "file" | "maxLength" | "threads">;

export interface RerankOptions {
  /** Return only the best `topK` documents (default: all). */
  topK?: number;
  /** Pairs per onnxruntime run (default 32); each batch is padded to its longest pair. */
  batchSize?: number;
  /** Scores are the relevance logits themselves, without sigmoid / softmax (default false). */
  raw?: boolean;
}

export interface RerankResult {
  /** The document's position in the input. */
  index: number;
  score: number;
}

export class Reranker {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly pairs: PairEncoder,
    private readonly padId: number,
    /** The graph takes token_type_ids (BERT-style pairs: the document is type 1). */
    readonly tokenTypes: boolean,
    /** The ONNX file in use. */
    readonly modelPath: string,
    /** Longest pair fed to the model; longer documents are truncated. */
    readonly maxLength: number,
  ) {}

  /** Loads an exported reranker folder: its ONNX file (FP32 or INT8) and tokenizer files. */
  static async load(dir: string, options: RerankerOptions = {}): Promise<Reranker> {
    if (!existsSync(dir)) throw new RerankerError(`${dir} does not exist; pass the folder an export of a reranker wrote (model .onnx + tokenizer.json)`);
    const modelPath = resolveModelFile(dir, options.file, (message) => new RerankerError(message));
    const { tokenizer, config } = loadTokenizer(dir);
    const maxLength = chooseMaxLength(readMetadata(modelPath), modelPath, options.maxLength, [tokenizerMaxLength(config)]);
    let pairs: PairEncoder;
    try {
      pairs = new PairEncoder(tokenizer, maxLength);
    } catch (error) {
      throw new RerankerError(`${dir}: ${errorMessage(error)}`, { cause: error });
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        graphOptimizationLevel: "all",
        ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      });
    } catch (error) {
      throw new RerankerError(`onnxruntime cannot load ${modelPath}: ${errorMessage(error)}; export the model again`, { cause: error });
    }
    if (!session.outputNames.includes(OUTPUT.logits)) {
      await session.release();
      throw new RerankerError(
        `${modelPath} has no logits output (it has ${session.outputNames.join(", ")}): it is not a reranker; ` +
          `export a *ForSequenceClassification model (or pass --task rerank), or use Embedder for embedding models`,
      );
    }
    const tokenTypes = session.inputNames.includes("token_type_ids");
    return new Reranker(session, pairs, specialTokens(tokenizer, config).padId, tokenTypes, modelPath, maxLength);
  }

  /** The documents sorted by relevance to `query`, best first (ties keep input order). */
  async rerank(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<RerankResult[]> {
    const scores = await this.score(query, documents, options);
    const topK = options.topK ?? documents.length;
    if (!Number.isInteger(topK) || topK < 1) throw new RerankerError(`topK must be a positive integer, not ${String(topK)}`);
    return Array.from(scores, (score, index) => ({ index, score }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, topK);
  }

  /** One relevance score per document, in input order. */
  async score(query: string, documents: readonly string[], options: Pick<RerankOptions, "batchSize" | "raw"> = {}): Promise<Float32Array> {
    if (typeof query !== "string") throw new RerankerError(`the query is ${typeof query}, not a string`);
    if (!Array.isArray(documents)) throw new RerankerError("documents must be an array of strings");
    documents.forEach((d, i) => {
      if (typeof d !== "string") throw new RerankerError(`documents[${i}] is ${typeof d}, not a string`);
    });
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RerankerError(`batchSize must be a positive integer, not ${String(batchSize)}`);
    const encoded = documents.map((document, i) => {
      try {
        return this.pairs.encode(query, document);
      } catch (error) {
        if (error instanceof PairEncodingError) throw new RerankerError(`document ${i}: ${error.message}`);
        throw error;
      }
    });
    const scores = new Float32Array(documents.length);
    const ids = encoded.map((e) => e.ids);
    const typeIds = this.tokenTypes ? encoded.map((e) => e.typeIds) : undefined;
    for (const { batch, rows } of batchByLength(ids, batchSize, this.padId, Infinity, typeIds)) {
      const logits = await this.logits(batch);
      const labels = logits.length / batch.batch;
      rows.forEach((document, row) => (scores[document] = relevance(logits.subarray(row * labels, (row + 1) * labels), options.raw ?? false)));
    }
    return scores;
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  private async logits(batch: TokenBatch): Promise<Float32Array> {
    try {
      const tensor = (await this.session.run(ortFeeds(batch, this.session.inputNames), [OUTPUT.logits]))[OUTPUT.logits]!;
      return tensor.data as Float32Array;
    } catch (error) {
      throw new RerankerError(`onnxruntime failed on a batch of ${batch.batch}×${batch.sequence} tokens with ${basename(this.modelPath)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }
}

/**
 * The relevance score of one pair's logits: sigmoid of the only logit, or the softmax
 * probability of the last label (cross-encoders trained with two labels put "relevant" last);
 * `raw`: that logit itself.
 */
export function relevance(logits: ArrayLike<number>, raw: boolean): number {
  const last = logits[logits.length - 1]!;
  if (raw) return last;
  if (logits.length === 1) return 1 / (1 + Math.exp(-last));
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Math.exp(last - max) / sum;
}
