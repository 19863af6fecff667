// BERT (Devlin et al. 2018): embeddings → N × post-norm encoder layers → optional pooler.
// Covers BertModel and checkpoints that wrap it (BertForMaskedLM & co., prefix "bert."). Here:
// BERT's config and its Hugging Face tensor names, which the other BERT-family templates reuse
// (BertEmbeddings, BertLayer-shaped layers under their own names); the forward they share is
// post-norm-encoder.ts.
import { type Activation, readActivation } from "./activation.js";
import type { EncoderConfig } from "./architecture.js";
import { type ConfigReader, readWidthAndHeads } from "./config.js";
import {
  type BertLayerRefs,
  type EmbeddingRefs,
  type EncoderPlan,
  SEQUENTIAL_POSITIONS,
  postNormArchitecture,
} from "./post-norm-encoder.js";
import { type LinearRef, type TensorRef, linearRef, normRef, tensorRef } from "./weight-refs.js";

export interface BertConfig extends EncoderConfig {
  layers: number;
  heads: number;
  intermediateSize: number;
  activation: Activation;
  layerNormEps: number;
  maxPositions: number;
}

/** Defaults of a model type's config class, for fields its config.json may omit. */
export interface BertConfigDefaults {
  activation?: string;
  padTokenId?: number;
  typeVocabSize?: number;
  maxPositions?: number;
  /** The one position_embedding_type the template implements (default "absolute"). */
  positionEmbeddingType?: string;
}

export function parseBertConfig(c: ConfigReader, defaults: BertConfigDefaults = {}): BertConfig {
  const { hiddenSize, heads } = readWidthAndHeads(c);
  const positionType = defaults.positionEmbeddingType ?? "absolute";
  c.oneOf("position_embedding_type", [positionType], positionType);
  const maxPositions = c.int("max_position_embeddings", { min: 1, fallback: defaults.maxPositions });
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    heads,
    layers: c.int("num_hidden_layers", { min: 1 }),
    intermediateSize: c.int("intermediate_size", { min: 1 }),
    activation: readActivation(c, "hidden_act", defaults.activation ?? "gelu"),
    layerNormEps: c.positive("layer_norm_eps", { fallback: 1e-12, max: 1 }),
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: c.int("type_vocab_size", { fallback: defaults.typeVocabSize ?? 2 }),
    maxPositions,
    maxSequence: maxPositions,
    padTokenId: c.int("pad_token_id", { fallback: defaults.padTokenId ?? 0 }),
  };
}

/**
 * The longest sequence afterPadding positions allow: the largest position id is
 * padding_idx + S, and it must index the table of `maxPositions` rows. `paddingName` says where
 * padding_idx comes from (pad_token_id, or a model's fixed padding_idx).
 */
export function maxSequenceAfterPadding(c: ConfigReader, maxPositions: number, paddingIdx: number, paddingName: string): number {
  const maxSequence = maxPositions - paddingIdx - 1;
  if (maxSequence < 1) {
    throw c.fail(
      `max_position_embeddings ${maxPositions} leaves no positions after ${paddingName} ${paddingIdx} ` +
        `(position ids start at ${paddingName} + 1)`,
    );
  }
  return maxSequence;
}

// ---- weight table: Hugging Face names of BertModel ----

/** BertEmbeddings' names, which every BERT-family checkpoint keeps; tables are `width` wide. */
export function embeddingRefs(c: BertConfig, width = c.hiddenSize): EmbeddingRefs & { positions: TensorRef } {
  return {
    words: tensorRef("embeddings.word_embeddings.weight", [c.vocabSize, width]),
    positions: tensorRef("embeddings.position_embeddings.weight", [c.maxPositions, width]),
    ...(c.typeVocabSize > 0 ? { tokenTypes: tensorRef("embeddings.token_type_embeddings.weight", [c.typeVocabSize, width]) } : {}),
    norm: normRef("embeddings.LayerNorm", width, c.layerNormEps),
  };
}

/** Tensor names of one post-norm layer, relative to its prefix: each architecture has its own. */
export interface LayerNames {
  query: string;
  key: string;
  value: string;
  output: string;
  attentionNorm: string;
  up: string;
  down: string;
  outputNorm: string;
}

/** BertLayer's names (also RoBERTa's and ELECTRA's). */
export const BERT_LAYER: LayerNames = {
  query: "attention.self.query",
  key: "attention.self.key",
  value: "attention.self.value",
  output: "attention.output.dense",
  attentionNorm: "attention.output.LayerNorm",
  up: "intermediate.dense",
  down: "output.dense",
  outputNorm: "output.LayerNorm",
};

/** The layer under `prefix`, hidden_size wide. */
export function layerRefs(c: BertConfig, prefix: string, names: LayerNames): BertLayerRefs {
  const h = c.hiddenSize;
  const at = (name: string) => `${prefix}.${name}`;
  return {
    attention: {
      query: linearRef(at(names.query), h, h),
      key: linearRef(at(names.key), h, h),
      value: linearRef(at(names.value), h, h),
      output: linearRef(at(names.output), h, h),
      heads: c.heads,
    },
    attentionNorm: normRef(at(names.attentionNorm), h, c.layerNormEps),
    up: linearRef(at(names.up), h, c.intermediateSize),
    down: linearRef(at(names.down), c.intermediateSize, h),
    outputNorm: normRef(at(names.outputNorm), h, c.layerNormEps),
  };
}

/** num_hidden_layers layers `${stem}.0`, `${stem}.1`, … */
export function layerStack(c: BertConfig, stem: string, names: LayerNames): BertLayerRefs[] {
  return Array.from({ length: c.layers }, (_, i) => layerRefs(c, `${stem}.${i}`, names));
}

/** BertPooler `pooler.dense`; task-head checkpoints (and add_pooling_layer=False exports) lack it. */
export function bertPoolerRef(c: BertConfig, weights: { has(name: string): boolean }): { pooler?: LinearRef } {
  return weights.has("pooler.dense.weight") ? { pooler: linearRef("pooler.dense", c.hiddenSize, c.hiddenSize) } : {};
}

export function bertPlan(c: BertConfig, weights: { has(name: string): boolean }, positionIds = SEQUENTIAL_POSITIONS): EncoderPlan {
  return {
    embeddings: embeddingRefs(c),
    positionIds,
    layers: layerStack(c, "encoder.layer", BERT_LAYER),
    activation: c.activation,
    ...bertPoolerRef(c, weights),
  };
}

export const bert = postNormArchitecture<BertConfig>({
  name: "bert",
  modelTypes: ["bert"],
  checkpointPrefixes: ["bert."],
  parseConfig: (c) => parseBertConfig(c),
  plan: (c, weights) => bertPlan(c, weights),
});
