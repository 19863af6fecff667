// Qwen3 and Qwen2 (model_type "qwen3", "qwen2"), following transformers' modeling_qwen3.py and
// modeling_qwen2.py: token embeddings, pre-norm decoder layers — x + attn(input_layernorm(x)),
// then h + mlp(post_attention_layernorm(h)) — and a final norm, every norm RMSNorm w·x/rms.
// Attention: q/k/v projections (Qwen2: with biases) to num_attention_heads queries and
// num_key_value_heads shared keys and values of head_dim features (Qwen3-0.6B: 16 × 128 on 8,
// hidden 1024), Qwen3's per-head q_norm / k_norm before rotate_half rotary (rope_theta), causal.
// SwiGLU MLP: down(silu(gate(x)) · up(x)). Qwen3-Embedding ships the bare Qwen3Model (no
// "model." prefix) under a config that says Qwen3ForCausalLM; causal-LM and classifier
// checkpoints keep it under "model.". gte-Qwen2 runs its own modeling_qwen.py, whose attention is
// bidirectional (the model card: "bidirectional attention"): its config's auto_map names that file.
import { readActivation } from "./activation.js";
import type { EncoderConfig } from "./architecture.js";
import type { AttentionRefs } from "./blocks.js";
import type { ConfigReader } from "./config.js";
import { type HeadShape, readHeadShape, readUniformRotary } from "./decoder-config.js";
import type { RotarySpec } from "./positions.js";
import { type PreNormLayerRefs, type PreNormPlan, preNormArchitecture } from "./pre-norm.js";
import { linearRef, rmsNormRef, tensorRef } from "./weight-refs.js";

export interface QwenConfig extends EncoderConfig, HeadShape {
  layers: number;
  intermediateSize: number;
  normEps: number;
  /** q_proj / k_proj / v_proj biases (Qwen2 always; Qwen3 when attention_bias). */
  attentionBias: boolean;
  /** Qwen3's per-head q_norm and k_norm. */
  headNorms: boolean;
  /** Keys after the query hidden (false: bidirectional, as gte-Qwen2 runs it). */
  causal: boolean;
  rotary: RotarySpec;
}

/** auto_map's AutoModel entry in gte-Qwen2 configs ("Alibaba-NLP/gte-Qwen2-1.5B-instruct--modeling_qwen.Qwen2Model"). */
const BIDIRECTIONAL_QWEN2_CODE = "modeling_qwen.Qwen2Model";

function parseQwenConfig(c: ConfigReader, family: "qwen3" | "qwen2"): QwenConfig {
  const hiddenSize = c.int("hidden_size", { min: 1 });
  if (readActivation(c, "hidden_act", "silu") !== "silu") throw c.fail(`"hidden_act" must be "silu": ${family}'s MLP is SwiGLU`);
  const shape = readHeadShape(c, hiddenSize);
  if (c.has("use_sliding_window") && c.boolean("use_sliding_window")) {
    throw c.fail(`"use_sliding_window": true is not supported (Qwen embedders and rerankers attend to the whole text)`);
  }
  const autoModel = (c.section("auto_map")?.raw("AutoModel") as unknown) ?? "";
  const bidirectional = family === "qwen2" && typeof autoModel === "string" && autoModel.endsWith(BIDIRECTIONAL_QWEN2_CODE);
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    ...shape,
    layers: c.int("num_hidden_layers", { min: 1 }),
    intermediateSize: c.int("intermediate_size", { min: 1 }),
    normEps: c.positive("rms_norm_eps", { fallback: 1e-6, max: 1 }),
    attentionBias: family === "qwen2" || c.boolean("attention_bias", false),
    headNorms: family === "qwen3",
    causal: c.boolean("is_causal", !bidirectional),
    rotary: readUniformRotary(c, shape.headDim, family === "qwen3" ? 1_000_000 : 10_000),
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: 0,
    maxSequence: c.int("max_position_embeddings", { min: 1, fallback: 32768 }),
    padTokenId: c.int("pad_token_id", { fallback: c.int("eos_token_id", { fallback: 0 }) }),
  };
}

// ---- weight table: Hugging Face names of Qwen3Model / Qwen2Model ----

function qwenPlan(c: QwenConfig): PreNormPlan {
  const h = c.hiddenSize;
  const [queryWidth, kvWidth] = [c.heads * c.headDim, c.kvHeads * c.headDim];
  const norm = (prefix: string, size = h) => rmsNormRef(prefix, size, c.normEps);
  const layer = (i: number): PreNormLayerRefs => {
    const at = (name: string) => `layers.${i}.${name}`;
    const attention: AttentionRefs = {
      query: linearRef(at("self_attn.q_proj"), h, queryWidth, c.attentionBias),
      key: linearRef(at("self_attn.k_proj"), h, kvWidth, c.attentionBias),
      value: linearRef(at("self_attn.v_proj"), h, kvWidth, c.attentionBias),
      output: linearRef(at("self_attn.o_proj"), queryWidth, h, false),
      heads: c.heads,
      ...(c.headNorms
        ? { headNorms: { query: norm(at("self_attn.q_norm"), c.headDim), key: norm(at("self_attn.k_norm"), c.headDim) } }
        : {}),
    };
    return {
      kind: "global",
      attentionNorm: norm(at("input_layernorm")),
      attention,
      mlpNorm: norm(at("post_attention_layernorm")),
      up: linearRef(at("mlp.up_proj"), h, c.intermediateSize, false),
      gate: { linear: linearRef(at("mlp.gate_proj"), h, c.intermediateSize, false) },
      down: linearRef(at("mlp.down_proj"), c.intermediateSize, h, false),
    };
  };
  const mask = { causal: c.causal };
  return {
    words: tensorRef("embed_tokens.weight", [c.vocabSize, h]),
    layers: Array.from({ length: c.layers }, (_, i) => layer(i)),
    activation: "silu",
    finalNorm: norm("norm"),
    masks: { global: mask, local: mask },
    rotary: { global: c.rotary, local: c.rotary },
  };
}

function qwenTemplate(family: "qwen3" | "qwen2") {
  return preNormArchitecture<QwenConfig>({
    name: family,
    modelTypes: [family],
    decoder: true,
    checkpointPrefixes: ["model."],
    parseConfig: (c) => parseQwenConfig(c, family),
    anchorTensor: () => "embed_tokens.weight",
    plan: qwenPlan,
  });
}

export const qwen3 = qwenTemplate("qwen3");
export const qwen2 = qwenTemplate("qwen2");
