// ModernBERT (Warner et al. 2024, model_type "modernbert"), following transformers'
// modeling_modernbert.py / configuration_modernbert.py (v4.48 through the rope_parameters /
// layer_types rework; the eager/SDPA path): token embeddings and a LayerNorm (no positions, no
// token types), pre-norm layers — x + attn(attn_norm(x)), then x + mlp(mlp_norm(x)), layer 0's
// attn_norm being the identity — whose attention projects with one Wqkv and rotates queries and
// keys (rotate_half) with the global or local rope theta of its layer, a GeGLU feed-forward
// (Wi's output is [input | gate], act(input) ⊙ gate), and a final_norm. Every
// global_attn_every_n_layers-th layer (from layer 0) attends globally; the others only to keys
// within local_attention / 2 positions. Biases follow attention_bias, mlp_bias, norm_bias (all
// off in ModernBERT-base/large). No pooler: CLS fallback. Task heads keep the encoder under "model.".
import { type Activation, readActivation } from "./activation.js";
import type { EncoderConfig } from "./architecture.js";
import { type ConfigReader, readWidthAndHeads } from "./config.js";
import { type RotarySpec, ropeInverseFrequencies } from "./positions.js";
import { type LayerKind as AttentionKind, type PreNormLayerRefs, type PreNormPlan, preNormArchitecture } from "./pre-norm.js";
import { linearRef, normRef, tensorRef } from "./weight-refs.js";

export interface ModernBertConfig extends EncoderConfig {
  heads: number;
  layers: number;
  intermediateSize: number;
  activation: Activation;
  normEps: number;
  normBias: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  /** local_attention / 2: a local layer's query sees keys with |i − j| ≤ halfWindow. */
  halfWindow: number;
  layerKinds: AttentionKind[];
  rotary: Record<AttentionKind, RotarySpec>;
}

/** layer_types' names for the two kinds (transformers ≥ 4.57 configs). */
const LAYER_TYPES: Record<string, AttentionKind> = { full_attention: "global", sliding_attention: "local" };

export function parseModernBertConfig(c: ConfigReader): ModernBertConfig {
  const { hiddenSize, heads } = readWidthAndHeads(c);
  const layers = c.int("num_hidden_layers", { min: 1 });
  if (c.has("rope_scaling")) throw c.fail(`"rope_scaling" is not supported (ModernBERT checkpoints use plain rotary positions)`);
  const maxPositions = c.int("max_position_embeddings", { min: 1, fallback: 8192 });
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    heads,
    layers,
    intermediateSize: c.int("intermediate_size", { min: 1 }),
    activation: readActivation(c, "hidden_activation", "gelu"),
    normEps: c.positive("norm_eps", { fallback: 1e-5, max: 1 }),
    normBias: c.boolean("norm_bias", false),
    attentionBias: c.boolean("attention_bias", false),
    mlpBias: c.boolean("mlp_bias", false),
    halfWindow: Math.floor(c.int("local_attention", { min: 1, fallback: 128 }) / 2),
    layerKinds: layerKinds(c, layers),
    rotary: ropeSpecs(c, hiddenSize / heads),
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: 0,
    maxSequence: maxPositions,
    padTokenId: c.int("pad_token_id", { fallback: 50283 }),
  };
}

/** layer_types when given, else global every global_attn_every_n_layers layers from layer 0. */
function layerKinds(c: ConfigReader, layers: number): AttentionKind[] {
  const types = c.raw("layer_types");
  if (types === undefined || types === null) {
    const every = c.int("global_attn_every_n_layers", { min: 1, fallback: 3 });
    return Array.from({ length: layers }, (_, i) => (i % every === 0 ? "global" : "local"));
  }
  if (!Array.isArray(types) || types.length !== layers || !types.every((t) => typeof t === "string" && t in LAYER_TYPES)) {
    throw c.fail(`"layer_types" must list ${layers} values, each "full_attention" or "sliding_attention"`);
  }
  return types.map((t) => LAYER_TYPES[t as string]!);
}

/**
 * Rope theta per kind: rope_parameters (new configs), else global_rope_theta / local_rope_theta
 * (a null local_rope_theta means the global one, as ModernBertAttention reads it).
 */
function ropeSpecs(c: ConfigReader, headSize: number): Record<AttentionKind, RotarySpec> {
  const parameters = c.section("rope_parameters");
  const theta = (kind: AttentionKind, legacy: () => number): number => {
    const section = parameters?.section(kind === "global" ? "full_attention" : "sliding_attention");
    section?.oneOf("rope_type", ["default"], "default");
    return section?.has("rope_theta") ? section.positive("rope_theta") : legacy();
  };
  const global = theta("global", () => c.positive("global_rope_theta", { fallback: 160000 }));
  const local = theta("local", () => (c.raw("local_rope_theta") === null ? global : c.positive("local_rope_theta", { fallback: 10000 })));
  const spec = (base: number): RotarySpec => ({ inverseFrequencies: ropeInverseFrequencies(base, headSize), interleaved: false });
  return { global: spec(global), local: spec(local) };
}

// ---- weight table: Hugging Face names of ModernBertModel ----

function modernBertPlan(c: ModernBertConfig): PreNormPlan {
  const [h, inter] = [c.hiddenSize, c.intermediateSize];
  const norm = (prefix: string) => normRef(prefix, h, c.normEps, c.normBias);
  const layer = (i: number): PreNormLayerRefs => {
    const at = (name: string) => `layers.${i}.${name}`;
    return {
      kind: c.layerKinds[i]!,
      ...(i > 0 ? { attentionNorm: norm(at("attn_norm")) } : {}),
      attention: {
        qkv: linearRef(at("attn.Wqkv"), h, 3 * h, c.attentionBias),
        output: linearRef(at("attn.Wo"), h, h, c.attentionBias),
        heads: c.heads,
      },
      mlpNorm: norm(at("mlp_norm")),
      up: linearRef(at("mlp.Wi"), h, 2 * inter, c.mlpBias),
      gate: { half: "first" },
      down: linearRef(at("mlp.Wo"), inter, h, c.mlpBias),
    };
  };
  return {
    words: tensorRef("embeddings.tok_embeddings.weight", [c.vocabSize, h]),
    embeddingNorm: norm("embeddings.norm"),
    layers: Array.from({ length: c.layers }, (_, i) => layer(i)),
    activation: c.activation,
    finalNorm: norm("final_norm"),
    masks: { global: { causal: false }, local: { causal: false, halfWindow: c.halfWindow } },
    rotary: c.rotary,
  };
}

export const modernBert = preNormArchitecture<ModernBertConfig>({
  name: "modernbert",
  modelTypes: ["modernbert"],
  checkpointPrefixes: ["model."],
  parseConfig: parseModernBertConfig,
  anchorTensor: () => "embeddings.tok_embeddings.weight",
  plan: modernBertPlan,
});
