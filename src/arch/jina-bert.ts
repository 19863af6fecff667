// JinaBERT v2 (jina-embeddings-v2), following jinaai/jina-bert-implementation's modeling_bert.py
// and configuration_bert.py (2023, JinaBertModel): a BERT whose config still says model_type
// "bert" but position_embedding_type "alibi" — no position table; every layer adds the symmetric
// ALiBi bias −slope_h·|i − j| to its scores — and whose feed-forward is a GLU (feed_forward_type
// geglu / reglu): mlp.gated_layers' output is [gate | up], act(gate) ⊙ up, then mlp.wo and a
// post-norm mlp.layernorm. "original" keeps BERT's intermediate/output MLP. The bias is computed
// in the graph from the sequence length, so sequences may exceed max_position_embeddings as
// JinaBertEncoder's rebuilt ALiBi tensor allows. Task heads keep the encoder under "bert.".
import { BERT_LAYER, type BertConfig, bertPoolerRef, embeddingRefs, layerRefs, parseBertConfig } from "./bert.js";
import type { ConfigReader } from "./config.js";
import { alibiSlopes } from "./positions.js";
import { type BertLayerRefs, type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { type WeightReader, linearRef, normRef } from "./weight-refs.js";
import { WeightError } from "../checkpoint/weights.js";

const FEED_FORWARD_TYPES = ["original", "geglu", "reglu"] as const;

export interface JinaBertConfig extends BertConfig {
  feedForward: (typeof FEED_FORWARD_TYPES)[number];
}

export function parseJinaBertConfig(c: ConfigReader): JinaBertConfig {
  return {
    ...parseBertConfig(c, { positionEmbeddingType: "alibi" }),
    feedForward: c.oneOf("feed_forward_type", FEED_FORWARD_TYPES, "original"),
  };
}

// ---- weight table: Hugging Face names of JinaBertModel ----

/** JinaBertLayer `encoder.layer.{i}`: BertLayer's attention, then JinaBertGLUMLP (or BERT's MLP). */
function jinaLayer(c: JinaBertConfig, i: number): BertLayerRefs {
  const prefix = `encoder.layer.${i}`;
  const bert = layerRefs(c, prefix, BERT_LAYER);
  if (c.feedForward === "original") return bert;
  const [h, inter] = [c.hiddenSize, c.intermediateSize];
  return {
    ...bert,
    up: linearRef(`${prefix}.mlp.gated_layers`, h, 2 * inter, false),
    gate: { half: "first" },
    down: linearRef(`${prefix}.mlp.wo`, inter, h),
    outputNorm: normRef(`${prefix}.mlp.layernorm`, h, c.layerNormEps),
  };
}

function jinaPlan(c: JinaBertConfig, weights: WeightReader): EncoderPlan {
  // jina-bert-v2-qk-post-norm checkpoints normalize queries and keys: another model.
  if (weights.has("encoder.layer.0.attention.self.layer_norm_q.weight")) {
    throw new WeightError(
      `${weights.store.source} has query/key LayerNorms (attention.self.layer_norm_q): the jina-bert-v2-qk-post-norm ` +
        `variant (e.g. jina-embeddings-v2-base-code) is not supported yet`,
    );
  }
  const { positions: _, ...embeddings } = embeddingRefs(c);
  return {
    embeddings,
    positionIds: SEQUENTIAL_POSITIONS,
    layers: Array.from({ length: c.layers }, (_, i) => jinaLayer(c, i)),
    // JinaBertGLUMLP's activation follows feed_forward_type (nn.GELU() exact, nn.ReLU()), not hidden_act.
    activation: c.feedForward === "geglu" ? "gelu" : c.feedForward === "reglu" ? "relu" : c.activation,
    ...bertPoolerRef(c, weights),
  };
}

// The BERT forward with the ALiBi bias on every layer's scores.
export const jinaBert = postNormArchitecture<JinaBertConfig>({
  name: "jina_bert",
  modelTypes: ["bert"],
  matches: (config) => config.raw("position_embedding_type") === "alibi",
  checkpointPrefixes: ["bert."],
  parseConfig: parseJinaBertConfig,
  plan: jinaPlan,
  scoreBias: {
    scope: "alibi",
    graph: ({ nn }, c, inputs) => nn.alibiBias(inputs.inputIds, alibiSlopes(c.heads)),
    reference: (nn, c, batch) => nn.alibiBias(batch.inputIds, alibiSlopes(c.heads)),
  },
});
