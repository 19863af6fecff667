// Learned sparse vectors with an exported SPLADE or bge-m3 folder, in this process:
//   const sparse = await SparseEmbedder.load("./models/splade");
//   const [{ indices, values }] = await sparse.embed(["hello world"], { topK: 64 });
// One weight per vocabulary entry comes out of the graph (sparse_embedding [batch, vocab]); the
// non-zero ones are returned as parallel arrays sorted by token id, optionally only the top k or
// those above a threshold, with the token strings on request.
import type { TokenBatch } from "../arch/architecture.js";
import { OUTPUT } from "../artifact/names.js";
import { batchByLength } from "../quant/tokenize.js";
import { EmbedderError, checkedTexts } from "./embedder.js";
import { TokenModel, type TokenModelOptions, checkedBatchSize } from "./token-model.js";

/** A sparse vector: token ids ascending and their weights; `tokens` when asked for. */
export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
  tokens?: string[];
}

export interface SparseEmbedOptions {
  /** Texts per onnxruntime run (default 32). */
  batchSize?: number;
  /** Keep only the k largest weights. */
  topK?: number;
  /** Keep only weights above this (default 0: every non-zero weight). */
  threshold?: number;
  /** Add each kept id's token string. */
  tokens?: boolean;
}

export class SparseEmbedder {
  private constructor(private readonly model: TokenModel) {}

  static async load(dir: string, options: TokenModelOptions = {}): Promise<SparseEmbedder> {
    return new SparseEmbedder(await TokenModel.open(dir, options, OUTPUT.sparseEmbedding, "sparse (SPLADE / bge-m3)"));
  }

  get modelPath(): string {
    return this.model.modelPath;
  }

  get maxLength(): number {
    return this.model.maxLength;
  }

  /** One sparse vector per text, in order (a string gives one vector). */
  embed(text: string, options?: SparseEmbedOptions): Promise<SparseVector>;
  embed(texts: readonly string[], options?: SparseEmbedOptions): Promise<SparseVector[]>;
  async embed(input: string | readonly string[], options: SparseEmbedOptions = {}): Promise<SparseVector | SparseVector[]> {
    if (typeof input === "string") return (await this.embed([input], options))[0]!;
    const texts = checkedTexts(input);
    const batchSize = checkedBatchSize(options.batchSize);
    const { topK, threshold = 0 } = options;
    if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1))
      throw new EmbedderError(`topK must be a positive integer, not ${topK}`);
    if (!Number.isFinite(threshold)) throw new EmbedderError(`threshold must be a finite number, not ${threshold}`);
    const vectors = new Array<SparseVector>(texts.length);
    const ids = texts.map((text) => this.model.encode(text));
    for (const { batch, rows } of batchByLength(
      ids,
      batchSize,
      this.model.specials.padId,
      Infinity,
      undefined,
      this.model.specials.paddingSide,
    )) {
      const weights = await this.run(batch);
      const vocab = weights.length / batch.batch;
      rows.forEach((textIndex, row) => {
        const vector = sparsify(weights.subarray(row * vocab, (row + 1) * vocab), threshold, topK);
        vectors[textIndex] = options.tokens
          ? { ...vector, tokens: Array.from(vector.indices, (id) => this.model.tokenizer.id_to_token(id) ?? `[${id}]`) }
          : vector;
      });
    }
    return vectors;
  }

  async close(): Promise<void> {
    await this.model.close();
  }

  private run(batch: TokenBatch): Promise<Float32Array> {
    return this.model.run(batch, OUTPUT.sparseEmbedding);
  }
}

/** The entries of `weights` above `threshold` (the `topK` largest of them), ids ascending. */
export function sparsify(weights: Float32Array, threshold: number, topK?: number): SparseVector {
  let kept: number[] = [];
  for (let i = 0; i < weights.length; i++) if (weights[i]! > threshold) kept.push(i);
  if (topK !== undefined && kept.length > topK) {
    kept = kept
      .sort((a, b) => weights[b]! - weights[a]! || a - b)
      .slice(0, topK)
      .sort((a, b) => a - b);
  }
  return { indices: Uint32Array.from(kept), values: Float32Array.from(kept, (i) => weights[i]!) };
}

/** Dot product of two sparse vectors (ids ascending, as embed() returns them). */
export function sparseDot(a: SparseVector, b: SparseVector): number {
  let sum = 0;
  for (let i = 0, j = 0; i < a.indices.length && j < b.indices.length;) {
    if (a.indices[i] === b.indices[j]) sum += a.values[i++]! * b.values[j++]!;
    else if (a.indices[i]! < b.indices[j]!) i++;
    else j++;
  }
  return sum;
}
