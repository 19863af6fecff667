// NomicBERT (nomic-embed-text v1/v1.5, model_type "nomic_bert"), following nomic-ai/contrastors'
// modeling_hf_nomic_bert.py / configuration_hf_nomic_bert.py (the remote code of
// nomic-ai/nomic-bert-2048, 2024): GPT-2 style config keys (n_embd, n_head, n_layer, n_inner),
// word + token-type embeddings and emb_ln (no position table), post-norm blocks whose attention
// projects with one Wqkv and rotates the first rotary_emb_fraction of each head (rotate_half,
// or GPT-J pairs when rotary_emb_interleaved), and a gated MLP for swiglu / geglu:
// fc11(x) ⊙ act(fc12(x)) → fc2, its width n_inner rounded up to a multiple of 256 as
// NomciBertGatedMLP does. Biases follow qkv_proj_bias / mlp_fc1_bias / mlp_fc2_bias (all off in
// nomic-embed-text). NomicBertModel.from_pretrained drops the pooler: CLS fallback.
// NomicBertForPreTraining checkpoints (nomic-bert-2048) keep the encoder under "bert.".
import type { Activation } from "./activation.js";
import { type BertConfig, embeddingRefs } from "./bert.js";
import type { GateRefs } from "./blocks.js";
import { type ConfigReader, readWidthAndHeads } from "./config.js";
import { type BertLayerRefs, type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { type RotarySpec, ropeInverseFrequencies } from "./positions.js";
import { linearRef, normRef } from "./weight-refs.js";

/** activation_function → the MLP it selects. Non-gated MLPs get F.gelu (exact) whatever the gelu name. */
const MLPS: Readonly<Record<string, { activation: Activation; gated: boolean }>> = {
  swiglu: { activation: "silu", gated: true },
  geglu: { activation: "gelu", gated: true },
  gelu: { activation: "gelu", gated: false },
  gelu_new: { activation: "gelu", gated: false },
  gelu_fast: { activation: "gelu", gated: false },
  gelu_pytorch_tanh: { activation: "gelu", gated: false },
};

export interface NomicBertConfig extends BertConfig {
  gated: boolean;
  rotary: RotarySpec;
  qkvBias: boolean;
  fc1Bias: boolean;
  fc2Bias: boolean;
}

export function parseNomicBertConfig(c: ConfigReader): NomicBertConfig {
  const { hiddenSize, heads } = readWidthAndHeads(c, "n_embd", "n_head");
  const mlp = MLPS[c.oneOf("activation_function", Object.keys(MLPS), "gelu_new")]!;
  const headSize = hiddenSize / heads;
  if (c.boolean("prenorm", false)) throw c.fail(`"prenorm": true is not supported (nomic-embed-text models are post-norm)`);
  if (c.int("num_experts", { fallback: 0 }) > 0)
    throw c.fail(`mixture-of-experts layers ("num_experts", nomic-embed-text-v2-moe) are not supported yet`);
  for (const field of ["rotary_emb_scale_base", "rotary_scaling_factor"]) {
    if (c.has(field)) throw c.fail(`"${field}" is ${JSON.stringify(c.raw(field))}; only null (no rotary scaling) is supported`);
  }
  if (!c.has("rotary_emb_fraction") || c.raw("rotary_emb_fraction") === 0) {
    throw c.fail(
      `"rotary_emb_fraction" is ${JSON.stringify(c.raw("rotary_emb_fraction") ?? 0)}: learned position embeddings are not supported, only rotary ones`,
    );
  }
  const fraction = c.positive("rotary_emb_fraction", { max: 1 });
  const rotaryDim = headSize * fraction;
  if (!Number.isInteger(rotaryDim) || rotaryDim % 2 !== 0) {
    throw c.fail(`rotary_emb_fraction ${fraction} of head size ${headSize} is not an even number of features`);
  }
  // NomicBertModel pads the vocabulary to a multiple of pad_vocab_size_multiple.
  const multiple = c.int("pad_vocab_size_multiple", { min: 1, fallback: 1 });
  const vocabSize = Math.ceil(c.int("vocab_size", { min: 1 }) / multiple) * multiple;
  const inner = c.has("n_inner") ? c.int("n_inner", { min: 1 }) : undefined;
  // GPT2Config's default; NomicBertModel makes n_positions <= 0 mean 2048 for rotary models.
  const maxPositions = c.int("n_positions", { fallback: 1024 }) || 2048;
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    heads,
    layers: c.int("n_layer", { min: 1 }),
    intermediateSize: mlp.gated ? Math.ceil((inner ?? Math.trunc((8 * hiddenSize) / 3)) / 256) * 256 : (inner ?? 4 * hiddenSize),
    activation: mlp.activation,
    gated: mlp.gated,
    layerNormEps: c.positive("layer_norm_epsilon", { fallback: 1e-5, max: 1 }),
    vocabSize,
    typeVocabSize: c.int("type_vocab_size", { fallback: 2 }),
    maxPositions,
    maxSequence: maxPositions,
    padTokenId: c.int("pad_token_id", { fallback: 0 }),
    rotary: {
      inverseFrequencies: ropeInverseFrequencies(c.positive("rotary_emb_base", { fallback: 10000 }), rotaryDim),
      interleaved: c.boolean("rotary_emb_interleaved", false),
    },
    qkvBias: c.boolean("qkv_proj_bias", true),
    fc1Bias: c.boolean("mlp_fc1_bias", true),
    fc2Bias: c.boolean("mlp_fc2_bias", true),
  };
}

// ---- weight table: names of NomicBertModel ----

/** NomicBertBlock `encoder.layers.{i}`. */
function nomicLayer(c: NomicBertConfig, i: number): BertLayerRefs {
  const [h, inter] = [c.hiddenSize, c.intermediateSize];
  const at = (name: string) => `encoder.layers.${i}.${name}`;
  // fc11 is the value, fc12 the gate: y = fc11(x) · act(fc12(x)).
  const gate: GateRefs | undefined = c.gated ? { linear: linearRef(at("mlp.fc12"), h, inter, c.fc1Bias) } : undefined;
  return {
    attention: {
      qkv: linearRef(at("attn.Wqkv"), h, 3 * h, c.qkvBias),
      output: linearRef(at("attn.out_proj"), h, h, c.qkvBias),
      heads: c.heads,
    },
    attentionNorm: normRef(at("norm1"), h, c.layerNormEps),
    up: linearRef(at(c.gated ? "mlp.fc11" : "mlp.fc1"), h, inter, c.fc1Bias),
    ...(gate ? { gate } : {}),
    down: linearRef(at("mlp.fc2"), inter, h, c.fc2Bias),
    outputNorm: normRef(at("norm2"), h, c.layerNormEps),
  };
}

function nomicPlan(c: NomicBertConfig): EncoderPlan {
  const { positions: _, ...embeddings } = embeddingRefs(c);
  return {
    embeddings: { ...embeddings, norm: normRef("emb_ln", c.hiddenSize, c.layerNormEps) },
    positionIds: SEQUENTIAL_POSITIONS,
    layers: Array.from({ length: c.layers }, (_, i) => nomicLayer(c, i)),
    activation: c.activation,
    rotary: c.rotary,
  };
}

export const nomicBert = postNormArchitecture<NomicBertConfig>({
  name: "nomic_bert",
  modelTypes: ["nomic_bert"],
  checkpointPrefixes: ["bert."],
  parseConfig: parseNomicBertConfig,
  plan: nomicPlan,
});
