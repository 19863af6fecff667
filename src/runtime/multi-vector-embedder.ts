// Late interaction (ColBERT, bge-m3's colbert output) with an exported folder, in this process:
//   const colbert = await MultiVectorEmbedder.load("./models/colbert");
//   const [q] = await colbert.embedQueries(["what is late interaction?"]);
//   const docs = await colbert.embedDocuments(["ColBERT scores with MaxSim.", "…"]);
//   const scores = docs.map((d) => colbert.score(q, d));
// Texts are encoded the way the model was trained, as the settings in the ONNX metadata say
// (colbert-ai's artifact.metadata, PyLate's config, bge-m3's convention): a query marker after
// [CLS] and [MASK] padding to the query length (query augmentation), a document marker and no
// vectors for punctuation in documents. Each text gives one unit vector per kept token.
import { basename, join } from "node:path";
import type { TokenBatch } from "../arch/architecture.js";
import { TOKENIZER_JSON } from "../artifact/tokenizer-files.js";
import { quote } from "../common/messages.js";
import { OUTPUT } from "../artifact/names.js";
import { type ColbertSettings, colbertSettingsOf } from "../heads/colbert-settings.js";
import { maxSim } from "../quant/multi-vector-fidelity.js";
import { batchByLength } from "../quant/tokenize.js";

export { maxSim };
import { EmbedderError, checkedTexts } from "./embedder.js";
import { TokenModel, type TokenModelOptions, checkedBatchSize } from "./token-model.js";

export interface MultiVectorOptions {
  /** Texts per onnxruntime run (default 32). */
  batchSize?: number;
}

/** Token ids the tokenizer must know for these settings. */
interface MarkerIds {
  query?: number;
  document?: number;
  mask?: number;
  skiplist: Set<number>;
}

export class MultiVectorEmbedder {
  private constructor(
    private readonly model: TokenModel,
    /** How texts are encoded and vectors scored (from the ONNX metadata). */
    readonly settings: ColbertSettings,
    private readonly ids: MarkerIds,
  ) {}

  static async load(dir: string, options: TokenModelOptions = {}): Promise<MultiVectorEmbedder> {
    const model = await TokenModel.open(dir, options, OUTPUT.tokenVectors, "multi-vector (ColBERT / bge-m3)");
    try {
      const settings = colbertSettingsOf(model.metadata, model.modelPath);
      if (!settings)
        throw new EmbedderError(`${model.modelPath} carries no ColBERT settings in its metadata; export the model again with this tool`);
      return new MultiVectorEmbedder(model, settings, markerIds(model, settings));
    } catch (error) {
      await model.close();
      throw error;
    }
  }

  get modelPath(): string {
    return this.model.modelPath;
  }

  /** One list of token vectors per query (with query augmentation: always queryLength of them). */
  async embedQueries(texts: readonly string[], options: MultiVectorOptions = {}): Promise<Float32Array[][]> {
    const { settings, ids } = this;
    const length = Math.min(settings.queryLength, this.model.maxLength);
    const encoded = checkedTexts(texts).map((text) => this.marked(text, ids.query, length));
    if (!settings.queryExpansion) return this.vectors(encoded, options, () => true);
    // Query augmentation: [MASK] up to the query length; those tokens yield vectors too.
    const out: Float32Array[][] = [];
    const size = checkedBatchSize(options.batchSize);
    for (let start = 0; start < encoded.length; start += size) {
      const rows = encoded.slice(start, start + size);
      const inputIds = new Int32Array(rows.length * length).fill(ids.mask!);
      const attentionMask = new Int32Array(rows.length * length).fill(settings.attendToExpansion ? 1 : 0);
      rows.forEach((row, b) => {
        inputIds.set(row, b * length);
        attentionMask.fill(1, b * length, b * length + row.length);
      });
      const batch: TokenBatch = { batch: rows.length, sequence: length, inputIds, attentionMask };
      out.push(...this.split(batch, await this.model.run(batch, OUTPUT.tokenVectors), () => true, true));
    }
    return out;
  }

  /** One list of token vectors per document (no vectors for padding, nor for punctuation when the model drops it). */
  async embedDocuments(texts: readonly string[], options: MultiVectorOptions = {}): Promise<Float32Array[][]> {
    const length = Math.min(this.settings.documentLength, this.model.maxLength);
    const encoded = checkedTexts(texts).map((text) => this.marked(text, this.ids.document, length));
    return this.vectors(encoded, options, (id) => !this.ids.skiplist.has(id));
  }

  /** MaxSim of a query's and a document's vectors, reduced as the model was trained (sum, or mean for bge-m3). */
  score(query: readonly Float32Array[], document: readonly Float32Array[]): number {
    return maxSim(query, document, this.settings.scoreReduction);
  }

  async close(): Promise<void> {
    await this.model.close();
  }

  /** The text's ids with `marker` after the leading special tokens, `length` tokens at most. */
  private marked(text: string, marker: number | undefined, length: number): number[] {
    const ids = this.model.encode(text, length, marker === undefined ? 0 : 1);
    if (marker === undefined) return ids;
    const at = this.model.specials.prefix;
    return [...ids.slice(0, at), marker, ...ids.slice(at)];
  }

  private async vectors(encoded: number[][], options: MultiVectorOptions, keep: (id: number) => boolean): Promise<Float32Array[][]> {
    const out = new Array<Float32Array[]>(encoded.length);
    for (const { batch, rows } of batchByLength(
      encoded,
      checkedBatchSize(options.batchSize),
      this.model.specials.padId,
      Infinity,
      undefined,
      this.model.specials.paddingSide,
    )) {
      const perRow = this.split(batch, await this.model.run(batch, OUTPUT.tokenVectors), keep, false);
      rows.forEach((textIndex, row) => (out[textIndex] = perRow[row]!));
    }
    return out;
  }

  /** token_vectors [B, S, D] → per row, the vectors of the tokens that yield one and pass `keep`. */
  private split(batch: TokenBatch, data: Float32Array, keep: (id: number) => boolean, expanded: boolean): Float32Array[][] {
    const dim = data.length / (batch.batch * batch.sequence);
    const first = this.settings.skipFirstToken ? 1 : 0;
    return Array.from({ length: batch.batch }, (_, b) => {
      const vectors: Float32Array[] = [];
      for (let t = first; t < batch.sequence; t++) {
        const p = b * batch.sequence + t;
        const real = expanded || batch.attentionMask[p] === 1;
        if (real && keep(batch.inputIds[p]!)) vectors.push(data.slice(p * dim, (p + 1) * dim));
      }
      return vectors;
    });
  }
}

/** Where each marker comes from in the model's files: colbert-ai's key, PyLate's key. */
const MARKER_SOURCES = {
  query: ["query_token_id", "query_prefix"],
  document: ["doc_token_id", "document_prefix"],
} as const;

function markerIds(model: TokenModel, settings: ColbertSettings): MarkerIds {
  const { tokenizer } = model;
  const idOf = (token: string, marker: keyof typeof MARKER_SOURCES): number => {
    const id = tokenizer.token_to_id(token);
    if (id === undefined || id === null) {
      const [colbertAi, pylate] = MARKER_SOURCES[marker];
      throw new EmbedderError(
        `${join(model.dir, TOKENIZER_JSON)} has no token ${quote(token)}, the ${marker} marker of ${basename(model.modelPath)}'s ColBERT settings ` +
          `(from the model's artifact.metadata ${colbertAi} or PyLate's ${pylate}); put the marker in the vocabulary or fix that field, and export again`,
      );
    }
    return id;
  };
  const mask = settings.queryExpansion
    ? ["[MASK]", "<mask>"].map((t) => tokenizer.token_to_id(t)).find((id) => id !== undefined && id !== null)
    : undefined;
  if (settings.queryExpansion && mask === undefined)
    throw new EmbedderError(`the tokenizer of ${model.modelPath} has no [MASK] token, which query augmentation needs`);
  // colbert-ai skips each punctuation symbol's token and its first word piece.
  const skiplist = new Set<number>();
  for (const word of settings.skiplist) {
    const direct = tokenizer.token_to_id(word);
    if (direct !== undefined && direct !== null) skiplist.add(direct);
    const first = tokenizer.encode(word, { add_special_tokens: false }).ids[0];
    if (first !== undefined) skiplist.add(first);
  }
  return {
    ...(settings.queryMarker ? { query: idOf(settings.queryMarker, "query") } : {}),
    ...(settings.documentMarker ? { document: idOf(settings.documentMarker, "document") } : {}),
    ...(mask !== undefined ? { mask } : {}),
    skiplist,
  };
}
