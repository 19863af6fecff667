// Reranking with an exported cross-encoder folder (ONNX file with a `logits` output + tokenizer
// files), in this process:
//   const reranker = await Reranker.load("./models/bge-reranker");
//   const ranked = await reranker.rerank("query", ["doc a", "doc b"], { topK: 1 });  // [{ index, score }]
// Each (query, document) pair is encoded as Hugging Face encodes a text pair (the document
// truncated to fit, never the query); scores are sigmoid(logit) for one label, the softmax
// probability of the last label otherwise (raw logits on request). An LLM reranker's folder
// (Qwen3-Reranker) carries its prompt template in the graph's metadata: each pair is then that
// prompt, the instruction settable per call, padded on the side its tokenizer_config says.
import { METADATA, OUTPUT } from "../artifact/names.js";
import { type EncodedPair, PairEncoder, PairEncodingError } from "../artifact/pairs.js";
import { PromptPairEncoder, parseRerankTemplate } from "../artifact/rerank-template.js";
import { errorMessage } from "../common/messages.js";
import { batchByLength } from "../quant/tokenize.js";
import { EmbedderError } from "./embedder.js";
import { type TokenModelOptions, TokenModel, checkedBatchSize } from "./token-model.js";

/** A runtime error of the reranker (an EmbedderError, as the folder helpers it shares raise). */
export class RerankerError extends EmbedderError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RerankerError";
  }
}

/** As every runtime's: the model file, the longest pair (documents are cut to it), onnxruntime's threads, a child process for it. */
export type RerankerOptions = TokenModelOptions;

export interface RerankOptions {
  /** Return only the best `topK` documents (default: all). */
  topK?: number;
  /** Pairs per onnxruntime run (default 32); each batch is padded to its longest pair. */
  batchSize?: number;
  /** Scores are the relevance logits themselves, without sigmoid / softmax (default false). */
  raw?: boolean;
  /** LLM rerankers: the prompt's instruction (default: the one stored with the model, its model card's). */
  instruction?: string;
}

export interface RerankResult {
  /** The document's position in the input. */
  index: number;
  score: number;
}

export class Reranker {
  private constructor(
    private readonly model: TokenModel,
    private readonly pairs: PairEncoder | PromptPairEncoder,
    /** The graph takes token_type_ids (BERT-style pairs: the document is type 1). */
    readonly tokenTypes: boolean,
  ) {}

  /** Loads an exported reranker folder: its ONNX file (FP32 or INT8) and tokenizer files. */
  static async load(dir: string, options: RerankerOptions = {}): Promise<Reranker> {
    const model = await TokenModel.open(dir, options, OUTPUT.logits, "reranker (*ForSequenceClassification)");
    try {
      const template = model.metadata[METADATA.rerankTemplate];
      const pairs = template
        ? new PromptPairEncoder(model.tokenizer, model.maxLength, parseRerankTemplate(JSON.parse(template), `${model.modelPath} metadata`))
        : new PairEncoder(model.tokenizer, model.maxLength);
      return new Reranker(model, pairs, model.inputNames.includes("token_type_ids"));
    } catch (error) {
      await model.close();
      throw new RerankerError(`${dir}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** The ONNX file in use. */
  get modelPath(): string {
    return this.model.modelPath;
  }

  /** The instruction pairs are prompted with when a call gives none (LLM rerankers; undefined otherwise). */
  get instruction(): string | undefined {
    return this.pairs instanceof PromptPairEncoder ? this.pairs.template.instruction : undefined;
  }

  /** Longest pair fed to the model; longer documents are truncated. */
  get maxLength(): number {
    return this.model.maxLength;
  }

  /** The documents sorted by relevance to `query`, best first (ties keep input order). */
  async rerank(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<RerankResult[]> {
    const topK = options.topK ?? documents.length;
    if (!Number.isInteger(topK) || topK < 1) throw new RerankerError(`topK must be a positive integer, not ${String(topK)}`);
    const scores = await this.score(query, documents, options);
    return Array.from(scores, (score, index) => ({ index, score }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, topK);
  }

  /** One relevance score per document, in input order. */
  async score(
    query: string,
    documents: readonly string[],
    options: Pick<RerankOptions, "batchSize" | "raw" | "instruction"> = {},
  ): Promise<Float32Array> {
    if (typeof query !== "string") throw new RerankerError(`the query is ${typeof query}, not a string`);
    if (!Array.isArray(documents)) throw new RerankerError("documents must be an array of strings");
    documents.forEach((d, i) => {
      if (typeof d !== "string") throw new RerankerError(`documents[${i}] is ${typeof d}, not a string`);
    });
    const batchSize = checkedBatchSize(options.batchSize);
    const encode = this.pairEncoding(options.instruction);
    const encoded = documents.map((document, i) => {
      try {
        return encode(query, document);
      } catch (error) {
        if (error instanceof PairEncodingError) throw new RerankerError(`document ${i}: ${error.message}`);
        throw error;
      }
    });
    const scores = new Float32Array(documents.length);
    const ids = encoded.map((e) => e.ids);
    const typeIds = this.tokenTypes ? encoded.map((e) => e.typeIds) : undefined;
    for (const { batch, rows } of batchByLength(
      ids,
      batchSize,
      this.model.specials.padId,
      Infinity,
      typeIds,
      this.model.specials.paddingSide,
    )) {
      const logits = await this.model.run(batch, OUTPUT.logits);
      const labels = logits.length / batch.batch;
      rows.forEach(
        (document, row) => (scores[document] = relevance(logits.subarray(row * labels, (row + 1) * labels), options.raw ?? false)),
      );
    }
    return scores;
  }

  /** How one pair is encoded: the model's pair template, or its prompt with `instruction`. */
  private pairEncoding(instruction: string | undefined): (query: string, document: string) => EncodedPair {
    const pairs = this.pairs;
    if (pairs instanceof PromptPairEncoder) {
      if (instruction !== undefined && typeof instruction !== "string")
        throw new RerankerError(`the instruction is ${typeof instruction}, not a string`);
      return (query, document) => pairs.encode(query, document, instruction);
    }
    if (instruction !== undefined)
      throw new RerankerError(
        `${this.modelPath} is a cross-encoder without a prompt template: an instruction applies to LLM rerankers (Qwen3-Reranker)`,
      );
    return (query, document) => pairs.encode(query, document);
  }

  async close(): Promise<void> {
    await this.model.close();
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
