// BERT (Devlin et al. 2018): embeddings → N × post-norm encoder layers → optional pooler.
// Covers BertModel and checkpoints that wrap it (BertForMaskedLM & co., prefix "bert.").
import type { Value } from "../graph/builder.js";
import { type Activation, readActivation } from "./activation.js";
import type { Architecture, EncoderConfig, EncoderResult, GraphInputs, TemplateContext, TokenBatch } from "./architecture.js";
import type { AttentionRefs } from "./blocks.js";
import type { ConfigReader } from "./config.js";
import * as ref from "./reference/math.js";
import { type LinearRef, type NormRef, type TensorRef, type WeightReader, linearRef, normRef, tensorRef } from "./weight-refs.js";

export interface BertConfig extends EncoderConfig {
  layers: number;
  heads: number;
  intermediateSize: number;
  activation: Activation;
  layerNormEps: number;
  maxPositions: number;
}

export function parseBertConfig(c: ConfigReader): BertConfig {
  const hiddenSize = c.int("hidden_size", { min: 1 });
  const heads = c.int("num_attention_heads", { min: 1 });
  if (hiddenSize % heads !== 0) throw c.fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${heads}`);
  c.oneOf("position_embedding_type", ["absolute"], "absolute");
  const maxPositions = c.int("max_position_embeddings", { min: 1 });
  return {
    modelType: c.string("model_type"),
    hiddenSize,
    heads,
    layers: c.int("num_hidden_layers", { min: 1 }),
    intermediateSize: c.int("intermediate_size", { min: 1 }),
    activation: readActivation(c, "hidden_act", "gelu"),
    layerNormEps: c.positive("layer_norm_eps", { fallback: 1e-12, max: 1 }),
    vocabSize: c.int("vocab_size", { min: 1 }),
    typeVocabSize: c.int("type_vocab_size", { fallback: 2 }),
    maxPositions,
    maxSequence: maxPositions,
    padTokenId: c.int("pad_token_id", { fallback: 0 }),
  };
}

// ---- weight table: Hugging Face names of BertModel ----

export interface BertLayerRefs {
  attention: AttentionRefs;
  attentionNorm: NormRef;
  up: LinearRef;
  down: LinearRef;
  outputNorm: NormRef;
}

export interface BertRefs {
  words: TensorRef;
  positions: TensorRef;
  tokenTypes?: TensorRef;
  embeddingNorm: NormRef;
  layers: BertLayerRefs[];
  pooler?: LinearRef;
}

export function bertRefs(c: BertConfig, weights: { has(name: string): boolean }): BertRefs {
  const h = c.hiddenSize;
  const layer = (i: number): BertLayerRefs => {
    const p = `encoder.layer.${i}`;
    return {
      attention: {
        query: linearRef(`${p}.attention.self.query`, h, h),
        key: linearRef(`${p}.attention.self.key`, h, h),
        value: linearRef(`${p}.attention.self.value`, h, h),
        output: linearRef(`${p}.attention.output.dense`, h, h),
        heads: c.heads,
      },
      attentionNorm: normRef(`${p}.attention.output.LayerNorm`, h, c.layerNormEps),
      up: linearRef(`${p}.intermediate.dense`, h, c.intermediateSize),
      down: linearRef(`${p}.output.dense`, c.intermediateSize, h),
      outputNorm: normRef(`${p}.output.LayerNorm`, h, c.layerNormEps),
    };
  };
  return {
    words: tensorRef("embeddings.word_embeddings.weight", [c.vocabSize, h]),
    positions: tensorRef("embeddings.position_embeddings.weight", [c.maxPositions, h]),
    ...(c.typeVocabSize > 0 ? { tokenTypes: tensorRef("embeddings.token_type_embeddings.weight", [c.typeVocabSize, h]) } : {}),
    embeddingNorm: normRef("embeddings.LayerNorm", h, c.layerNormEps),
    layers: Array.from({ length: c.layers }, (_, i) => layer(i)),
    // Task-head checkpoints (and add_pooling_layer=False exports) come without a pooler.
    ...(weights.has("pooler.dense.weight") ? { pooler: linearRef("pooler.dense", h, h) } : {}),
  };
}

// ---- graph ----

function emitBert(ctx: TemplateContext, c: BertConfig, inputs: GraphInputs): EncoderResult<Value> {
  const { nn, g } = ctx;
  const w = bertRefs(c, ctx.weights.reader);
  const mask = nn.additiveMask(inputs.attentionMask);
  let x = nn.layerNorm(bertEmbeddings(ctx, w, inputs), w.embeddingNorm);
  w.layers.forEach((layer, i) => {
    x = g.scope(`layer.${i}`, () => encoderLayer(ctx, layer, c.activation, x, mask));
  });
  const pooler = w.pooler;
  return { hidden: x, ...(pooler ? { pooled: g.scope("pooler", () => nn.pooler(x, pooler)) } : {}) };
}

/** word + position + token type embeddings (before their LayerNorm). */
function bertEmbeddings(ctx: TemplateContext, w: BertRefs, inputs: GraphInputs): Value {
  const { ops, weights } = ctx;
  const words = ops.gather(weights.tensor(w.words), inputs.inputIds);
  // Without token_type_ids every token has type 0: fold that row into the position table.
  const positionTable =
    w.tokenTypes && !inputs.tokenTypeIds
      ? weights.tableWithRow(w.positions, { table: w.tokenTypes, index: 0 }, "embeddings.positions+token_type0")
      : weights.tensor(w.positions);
  const sum = ops.add(words, firstRows(ctx, positionTable, inputs.inputIds));
  return w.tokenTypes && inputs.tokenTypeIds ? ops.add(sum, ops.gather(weights.tensor(w.tokenTypes), inputs.tokenTypeIds)) : sum;
}

/** Post-norm encoder layer: norm(x + attention(x)), then norm(h + ffn(h)). */
export function encoderLayer(ctx: TemplateContext, w: BertLayerRefs, act: Activation, x: Value, mask: Value): Value {
  const { nn } = ctx;
  const attended = nn.addNorm(nn.selfAttention(x, w.attention, mask), x, w.attentionNorm);
  return nn.addNorm(nn.feedForward(attended, w.up, w.down, act), attended, w.outputNorm);
}

/** Rows [0, sequence) of a position table, sequence taken from ids [B, S]. */
export function firstRows(ctx: TemplateContext, table: Value, ids: Value): Value {
  const { ops, g } = ctx;
  return ops.slice(table, g.constInt64([0], [1], "zero"), ops.dim(ids, 1), g.constInt64([0], [1], "axis0"));
}

// ---- reference forward ----

function referenceBert(weights: WeightReader, c: BertConfig, batch: TokenBatch): EncoderResult<Float32Array> {
  const w = bertRefs(c, weights);
  const { batch: b, sequence: s } = batch;
  const positionIds = Int32Array.from({ length: b * s }, (_, t) => t % s);
  let x = ref.add(weights.rows(w.words, batch.inputIds, "input_ids"), weights.rows(w.positions, positionIds, "position ids"));
  if (w.tokenTypes) x = ref.add(x, weights.rows(w.tokenTypes, batch.tokenTypeIds ?? new Int32Array(b * s), "token_type_ids"));
  x = ref.layerNorm(x, weights.norm(w.embeddingNorm));
  for (const layer of w.layers) x = referenceEncoderLayer(weights, layer, c.activation, x, batch);
  if (!w.pooler) return { hidden: x };
  return { hidden: x, pooled: ref.tanh(ref.linear(ref.firstToken(x, b, s), b, weights.linear(w.pooler))) };
}

export function referenceEncoderLayer(
  weights: WeightReader,
  w: BertLayerRefs,
  act: Activation,
  x: Float32Array,
  batch: TokenBatch,
): Float32Array {
  const rows = batch.batch * batch.sequence;
  const attention = {
    query: weights.linear(w.attention.query),
    key: weights.linear(w.attention.key),
    value: weights.linear(w.attention.value),
    output: weights.linear(w.attention.output),
    heads: w.attention.heads,
  };
  const attended = ref.layerNorm(
    ref.add(ref.selfAttention(x, batch.batch, batch.sequence, attention, batch.attentionMask), x),
    weights.norm(w.attentionNorm),
  );
  const up = ref.activation(ref.linear(attended, rows, weights.linear(w.up)), act);
  return ref.layerNorm(ref.add(ref.linear(up, rows, weights.linear(w.down)), attended), weights.norm(w.outputNorm));
}

export const bert: Architecture<BertConfig> = {
  name: "bert",
  modelTypes: ["bert"],
  checkpointPrefixes: ["bert."],
  parseConfig: parseBertConfig,
  anchorTensor: () => "embeddings.word_embeddings.weight",
  emit: emitBert,
  reference: referenceBert,
};
