// GTE v1.5 (Alibaba-NLP, model_type "new"), following Alibaba-NLP/new-impl's modeling.py and
// configuration.py (2024, NewModel): BERT embeddings without a position table, post-norm layers
// whose attention projects Q/K/V with one qkv_proj (pack_qkv) and rotates queries and keys
// (rotate_half; rope_scaling {type: ntk} rescales the frequencies once, for every length), and a
// GLU feed-forward: up_gate_proj's output is [up | gate], act(gate) ⊙ up. NewModel has no pooler
// (CLS fallback). unpad_inputs / use_memory_efficient_attention change the kernels, not the
// numbers. Task heads (NewForMaskedLM & co.) keep the encoder under "new.".
import { type BertConfig, embeddingRefs, parseBertConfig } from "./bert.js";
import type { AttentionRefs } from "./blocks.js";
import type { ConfigReader } from "./config.js";
import { type BertLayerRefs, type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { type RotarySpec, ntkInverseFrequencies, ropeInverseFrequencies } from "./positions.js";
import { linearRef, normRef } from "./weight-refs.js";

export interface GteConfig extends BertConfig {
  rotary: RotarySpec;
  /** pack_qkv: one qkv_proj instead of q_proj, k_proj, v_proj. */
  packedQkv: boolean;
}

export function parseGteConfig(c: ConfigReader): GteConfig {
  // NewConfig's defaults: rope positions, one token type, 2048 positions.
  const config = parseBertConfig(c, { positionEmbeddingType: "rope", typeVocabSize: 1, maxPositions: 2048 });
  c.oneOf("layer_norm_type", ["layer_norm"], "layer_norm");
  if (c.boolean("logn_attention_scale", false))
    throw c.fail(`"logn_attention_scale": true (log-length query scaling) is not supported yet`);
  return { ...config, rotary: gteRotary(c, config.hiddenSize / config.heads), packedQkv: c.boolean("pack_qkv", true) };
}

/** rope_theta, and rope_scaling null or {"type": "ntk", "factor": f[, "mixed_b": b]}. */
function gteRotary(c: ConfigReader, headSize: number): RotarySpec {
  const base = c.positive("rope_theta", { fallback: 10000 });
  const scaling = c.section("rope_scaling");
  if (!scaling) return { inverseFrequencies: ropeInverseFrequencies(base, headSize), interleaved: false };
  scaling.oneOf("type", ["ntk"]);
  const factor = scaling.positive("factor");
  const mixedB = scaling.has("mixed_b") ? scaling.positive("mixed_b") : undefined;
  return { inverseFrequencies: ntkInverseFrequencies(base, headSize, factor, mixedB), interleaved: false };
}

// ---- weight table: Hugging Face names of NewModel ----

/** NewLayer `encoder.layer.{i}`: post-norm (attn_ln, mlp_ln), biased projections, bias-free up_gate_proj. */
function gteLayer(c: GteConfig, i: number): BertLayerRefs {
  const h = c.hiddenSize;
  const at = (name: string) => `encoder.layer.${i}.${name}`;
  const projections: AttentionRefs = c.packedQkv
    ? { qkv: linearRef(at("attention.qkv_proj"), h, 3 * h), output: linearRef(at("attention.o_proj"), h, h), heads: c.heads }
    : {
        query: linearRef(at("attention.q_proj"), h, h),
        key: linearRef(at("attention.k_proj"), h, h),
        value: linearRef(at("attention.v_proj"), h, h),
        output: linearRef(at("attention.o_proj"), h, h),
        heads: c.heads,
      };
  return {
    attention: projections,
    attentionNorm: normRef(at("attn_ln"), h, c.layerNormEps),
    up: linearRef(at("mlp.up_gate_proj"), h, 2 * c.intermediateSize, false),
    gate: { half: "second" },
    down: linearRef(at("mlp.down_proj"), c.intermediateSize, h),
    outputNorm: normRef(at("mlp_ln"), h, c.layerNormEps),
  };
}

function gtePlan(c: GteConfig): EncoderPlan {
  const { positions: _, ...embeddings } = embeddingRefs(c);
  return {
    embeddings,
    positionIds: SEQUENTIAL_POSITIONS,
    layers: Array.from({ length: c.layers }, (_, i) => gteLayer(c, i)),
    activation: c.activation,
    rotary: c.rotary,
  };
}

export const gte = postNormArchitecture<GteConfig>({
  name: "gte",
  modelTypes: ["new"],
  checkpointPrefixes: ["new."],
  parseConfig: parseGteConfig,
  plan: gtePlan,
});
