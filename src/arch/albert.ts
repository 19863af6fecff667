// ALBERT (Lan et al. 2019): factorized embeddings (embedding_size wide, mapped to hidden_size by
// encoder.embedding_hidden_mapping_in) and cross-layer sharing — num_hidden_layers passes through
// num_hidden_groups layer groups of inner_group_num layers each. A shared layer's weights are the
// same refs at every pass, so the graph holds them once. Task heads keep the encoder under "albert.".
import { type BertConfig, type LayerNames, embeddingRefs, layerRefs, parseBertConfig } from "./bert.js";
import type { ConfigReader } from "./config.js";
import { type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { linearRef } from "./weight-refs.js";

export interface AlbertConfig extends BertConfig {
  embeddingSize: number;
  hiddenGroups: number;
  innerGroupLayers: number;
}

export function parseAlbertConfig(c: ConfigReader): AlbertConfig {
  return {
    ...parseBertConfig(c, { activation: "gelu_new" }),
    embeddingSize: c.int("embedding_size", { min: 1, fallback: 128 }),
    hiddenGroups: c.int("num_hidden_groups", { min: 1, fallback: 1 }),
    innerGroupLayers: c.int("inner_group_num", { min: 1, fallback: 1 }),
  };
}

// ---- weight table: Hugging Face names of AlbertModel ----

/** AlbertLayer `encoder.albert_layer_groups.{group}.albert_layers.{inner}`. */
const ALBERT_LAYER: LayerNames = {
  query: "attention.query",
  key: "attention.key",
  value: "attention.value",
  output: "attention.dense",
  attentionNorm: "attention.LayerNorm",
  up: "ffn",
  down: "ffn_output",
  outputNorm: "full_layer_layer_norm",
};

/** Layer group run at pass `i`, as AlbertTransformer computes it (float division, truncated). */
export function albertGroupOf(c: AlbertConfig, i: number): number {
  return Math.trunc(i / (c.layers / c.hiddenGroups));
}

function albertPlan(c: AlbertConfig, weights: { has(name: string): boolean }): EncoderPlan {
  const h = c.hiddenSize;
  // Each group's refs made once, the same objects at every pass (the reference reads them once).
  const groups = Array.from({ length: c.hiddenGroups }, (_, group) =>
    Array.from({ length: c.innerGroupLayers }, (_, inner) =>
      layerRefs(c, `encoder.albert_layer_groups.${group}.albert_layers.${inner}`, ALBERT_LAYER),
    ),
  );
  const layers = Array.from({ length: c.layers }, (_, i) => groups[albertGroupOf(c, i)]!).flat();
  return {
    embeddings: embeddingRefs(c, c.embeddingSize),
    positionIds: SEQUENTIAL_POSITIONS,
    projection: linearRef("encoder.embedding_hidden_mapping_in", c.embeddingSize, h),
    layers,
    activation: c.activation,
    // AlbertModel's pooler is a bare Linear + tanh; add_pooling_layer=False checkpoints lack it.
    ...(weights.has("pooler.weight") ? { pooler: linearRef("pooler", h, h) } : {}),
  };
}

export const albert = postNormArchitecture<AlbertConfig>({
  name: "albert",
  modelTypes: ["albert"],
  checkpointPrefixes: ["albert."],
  parseConfig: parseAlbertConfig,
  plan: albertPlan,
});
