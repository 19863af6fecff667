// Gemma 3 text (model_type "gemma3_text": EmbeddingGemma), following transformers'
// modeling_gemma3.py / configuration_gemma3.py: token embeddings × √hidden (float32), pre-norm
// layers with sandwich norms — x + post_attention_layernorm(attn(input_layernorm(x))), then
// h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))) — and a final norm; every norm
// RMSNorm (1 + w)·x/rms. Attention: grouped-query (EmbeddingGemma-300m: 3 query heads on 1, 256
// wide, hidden 768), per-head q_norm / k_norm, rotate_half rotary, scores × query_pre_attn_scalar^-½.
// Layers are full or sliding (layer_types, else every sliding_window_pattern-th full); full layers
// rotate with rope_theta (and rope_scaling), sliding ones with rope_local_base_freq. With
// use_bidirectional_attention every layer sees both sides and the config rewrites the window to
// sliding_window // 2 + 1 exclusive (512 → 257: |q − k| ≤ 256); otherwise causal, q − k < window.
// GELU-tanh GLU MLP. The bare Gemma3TextModel has no prefix; causal-LM checkpoints use "model.".
import { readActivation } from "./activation.js";
import type { EncoderConfig } from "./architecture.js";
import type { MaskKind } from "./blocks.js";
import type { ConfigReader } from "./config.js";
import { type HeadShape, readHeadShape, readRotary } from "./decoder-config.js";
import type { RotarySpec } from "./positions.js";
import { type LayerKind, type PreNormLayerRefs, type PreNormPlan, preNormArchitecture } from "./pre-norm.js";
import { linearRef, rmsNormRef, tensorRef } from "./weight-refs.js";

export interface Gemma3Config extends EncoderConfig, HeadShape {
  layers: number;
  intermediateSize: number;
  normEps: number;
  attentionBias: boolean;
  /** query_pre_attn_scalar^-½. */
  scoreScale: number;
  layerKinds: LayerKind[];
  masks: Record<LayerKind, MaskKind>;
  rotary: Record<LayerKind, RotarySpec>;
  activation: "gelu_tanh" | "gelu";
}

const LAYER_TYPES: Record<string, LayerKind> = { full_attention: "global", sliding_attention: "local" };

export function parseGemma3Config(c: ConfigReader): Gemma3Config {
  const hiddenSize = c.int("hidden_size", { min: 1 });
  const shape = readHeadShape(c, hiddenSize);
  const layers = c.int("num_hidden_layers", { min: 1 });
  const activation = readActivation(c, "hidden_activation", "gelu_pytorch_tanh");
  if (activation !== "gelu_tanh" && activation !== "gelu") throw c.fail(`"hidden_activation" must be a GELU for gemma3_text`);
  if (c.has("attn_logit_softcapping")) throw c.fail(`"attn_logit_softcapping" is not supported (Gemma 3 checkpoints have none)`);
  const window = c.int("sliding_window", { min: 1, fallback: 4096 });
  const bidirectional = c.boolean("use_bidirectional_attention", false);
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    ...shape,
    layers,
    intermediateSize: c.int("intermediate_size", { min: 1 }),
    normEps: c.positive("rms_norm_eps", { fallback: 1e-6, max: 1 }),
    attentionBias: c.boolean("attention_bias", false),
    scoreScale: Math.fround(c.positive("query_pre_attn_scalar", { fallback: 256 }) ** -0.5),
    layerKinds: layerKinds(c, layers),
    // |q − k| < window // 2 + 1, or causal q − k < window: the largest distance seen.
    masks: bidirectional
      ? { global: { causal: false }, local: { causal: false, halfWindow: Math.floor(window / 2) } }
      : { global: { causal: true }, local: { causal: true, halfWindow: window - 1 } },
    rotary: gemmaRotary(c, shape.headDim),
    activation,
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: 0,
    maxSequence: c.int("max_position_embeddings", { min: 1, fallback: 131072 }),
    padTokenId: c.int("pad_token_id", { fallback: 0 }),
  };
}

/** layer_types, else full attention every sliding_window_pattern-th layer (default 6), counting from 1. */
function layerKinds(c: ConfigReader, layers: number): LayerKind[] {
  const types = c.raw("layer_types");
  if (types === undefined || types === null) {
    const pattern = c.has("sliding_window_pattern")
      ? c.int("sliding_window_pattern", { min: 1 })
      : c.int("_sliding_window_pattern", { min: 1, fallback: 6 });
    return Array.from({ length: layers }, (_, i) => ((i + 1) % pattern === 0 ? "global" : "local"));
  }
  if (!Array.isArray(types) || types.length !== layers || !types.every((t) => typeof t === "string" && t in LAYER_TYPES)) {
    throw c.fail(`"layer_types" must list ${layers} values, each "full_attention" or "sliding_attention"`);
  }
  return types.map((t) => LAYER_TYPES[t as string]!);
}

/** rope_parameters per layer type, else rope_theta (+ rope_scaling) for full layers and rope_local_base_freq for sliding ones. */
function gemmaRotary(c: ConfigReader, headDim: number): Record<LayerKind, RotarySpec> {
  const parameters = c.section("rope_parameters");
  if (parameters) {
    const kind = (type: string) => {
      const section = parameters.section(type);
      if (!section) throw parameters.fail(`has no "${type}" section`);
      return readRotary(section, section.positive("rope_theta"), headDim);
    };
    return { global: kind("full_attention"), local: kind("sliding_attention") };
  }
  return {
    global: readRotary(c.section("rope_scaling"), c.positive("rope_theta", { fallback: 1_000_000 }), headDim),
    local: readRotary(undefined, c.positive("rope_local_base_freq", { fallback: 10_000 }), headDim),
  };
}

// ---- weight table: Hugging Face names of Gemma3TextModel ----

function gemma3Plan(c: Gemma3Config): PreNormPlan {
  const h = c.hiddenSize;
  const [queryWidth, kvWidth] = [c.heads * c.headDim, c.kvHeads * c.headDim];
  const norm = (prefix: string, size = h) => rmsNormRef(prefix, size, c.normEps, true);
  const defaultScale = Math.fround(1 / Math.sqrt(c.headDim));
  const layer = (i: number): PreNormLayerRefs => {
    const at = (name: string) => `layers.${i}.${name}`;
    return {
      kind: c.layerKinds[i]!,
      attentionNorm: norm(at("input_layernorm")),
      attention: {
        query: linearRef(at("self_attn.q_proj"), h, queryWidth, c.attentionBias),
        key: linearRef(at("self_attn.k_proj"), h, kvWidth, c.attentionBias),
        value: linearRef(at("self_attn.v_proj"), h, kvWidth, c.attentionBias),
        output: linearRef(at("self_attn.o_proj"), queryWidth, h, c.attentionBias),
        heads: c.heads,
        headNorms: { query: norm(at("self_attn.q_norm"), c.headDim), key: norm(at("self_attn.k_norm"), c.headDim) },
        ...(c.scoreScale === defaultScale ? {} : { scale: c.scoreScale }),
      },
      postAttentionNorm: norm(at("post_attention_layernorm")),
      mlpNorm: norm(at("pre_feedforward_layernorm")),
      up: linearRef(at("mlp.up_proj"), h, c.intermediateSize, false),
      gate: { linear: linearRef(at("mlp.gate_proj"), h, c.intermediateSize, false) },
      down: linearRef(at("mlp.down_proj"), c.intermediateSize, h, false),
      postMlpNorm: norm(at("post_feedforward_layernorm")),
    };
  };
  return {
    words: tensorRef("embed_tokens.weight", [c.vocabSize, h]),
    embeddingScale: Math.fround(Math.sqrt(h)),
    layers: Array.from({ length: c.layers }, (_, i) => layer(i)),
    activation: c.activation,
    finalNorm: norm("norm"),
    masks: c.masks,
    rotary: c.rotary,
  };
}

export const gemma3 = preNormArchitecture<Gemma3Config>({
  name: "gemma3_text",
  modelTypes: ["gemma3_text"],
  decoder: true,
  // Measured by others, not here: EmbeddingGemma's residual stream exceeds float16's 65504
  // (onnxruntime issue 26732; text-embeddings-inference refuses its FP16 too).
  float16Refusal: "Gemma 3's activations exceed float16's range (65504) and turn into Inf/NaN; export FP32, INT8 or INT4 instead",
  checkpointPrefixes: ["model."],
  parseConfig: parseGemma3Config,
  anchorTensor: () => "embed_tokens.weight",
  plan: gemma3Plan,
});
