// DistilBERT (Sanh et al. 2019): BERT's post-norm layers under its own names (q_lin, sa_layer_norm,
// ffn.lin1, …) and config keys (dim, hidden_dim, n_heads, n_layers, activation), no token types,
// LayerNorm eps fixed at 1e-12, no pooler (CLS fallback). Task heads keep it under "distilbert.".
import { readActivation } from "./activation.js";
import { type BertConfig, type LayerNames, embeddingRefs, layerStack } from "./bert.js";
import { type ConfigReader, readWidthAndHeads } from "./config.js";
import { type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { tensorRef } from "./weight-refs.js";

/** nn.LayerNorm(dim, eps=1e-12) everywhere in modeling_distilbert. */
const DISTILBERT_LAYER_NORM_EPS = 1e-12;

export interface DistilBertConfig extends BertConfig {
  /** sinusoidal_pos_embds: fixed sin/cos positions (used when the checkpoint lacks the table). */
  sinusoidalPositions: boolean;
}

export function parseDistilBertConfig(c: ConfigReader): DistilBertConfig {
  const { hiddenSize, heads } = readWidthAndHeads(c, "dim", "n_heads");
  const maxPositions = c.int("max_position_embeddings", { min: 1, fallback: 512 });
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    heads,
    layers: c.int("n_layers", { min: 1 }),
    intermediateSize: c.int("hidden_dim", { min: 1 }),
    activation: readActivation(c, "activation", "gelu"),
    layerNormEps: DISTILBERT_LAYER_NORM_EPS,
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: 0,
    maxPositions,
    maxSequence: maxPositions,
    padTokenId: c.int("pad_token_id", { fallback: 0 }),
    sinusoidalPositions: c.boolean("sinusoidal_pos_embds", false),
  };
}

/**
 * transformers' create_sinusoidal_embeddings: row p, column j holds sin (even j) or cos (odd j)
 * of p / 10000^(2⌊j/2⌋/dim), computed in float64 and stored as float32.
 */
export function sinusoidalPositionTable(positions: number, dim: number): Float32Array {
  const table = new Float32Array(positions * dim);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < dim; j++) {
      const angle = p / 10000 ** ((2 * Math.floor(j / 2)) / dim);
      table[p * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return table;
}

// ---- weight table: Hugging Face names of DistilBertModel ----

/** TransformerBlock `transformer.layer.{i}`. */
const DISTILBERT_LAYER: LayerNames = {
  query: "attention.q_lin",
  key: "attention.k_lin",
  value: "attention.v_lin",
  output: "attention.out_lin",
  attentionNorm: "sa_layer_norm",
  up: "ffn.lin1",
  down: "ffn.lin2",
  outputNorm: "output_layer_norm",
};

function distilBertPlan(c: DistilBertConfig): EncoderPlan {
  const embeddings = embeddingRefs(c);
  // A stored table wins, as when transformers loads the checkpoint over its initialization.
  const sinusoidal = c.sinusoidalPositions ? () => sinusoidalPositionTable(c.maxPositions, c.hiddenSize) : undefined;
  return {
    embeddings: { ...embeddings, positions: tensorRef(embeddings.positions.name, embeddings.positions.shape, sinusoidal) },
    positionIds: SEQUENTIAL_POSITIONS,
    layers: layerStack(c, "transformer.layer", DISTILBERT_LAYER),
    activation: c.activation,
  };
}

export const distilbert = postNormArchitecture<DistilBertConfig>({
  name: "distilbert",
  modelTypes: ["distilbert"],
  checkpointPrefixes: ["distilbert."],
  parseConfig: parseDistilBertConfig,
  plan: distilBertPlan,
});
