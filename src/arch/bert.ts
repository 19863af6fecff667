// BERT (Devlin et al. 2018): embeddings → N × post-norm encoder layers → optional pooler.
// Covers BertModel and checkpoints that wrap it (BertForMaskedLM & co., prefix "bert."). The
// embeddings and the post-norm encoder stack here are the BERT family's shared forward: the
// RoBERTa, ELECTRA, ALBERT, DistilBERT and MPNet templates — and JinaBERT, NomicBERT and GTE,
// with rotary or ALiBi positions and GLU feed-forwards — describe their weights as an
// EncoderPlan and run through emitEncoder / referenceEncoder.
import type { Value } from "../graph/builder.js";
import { type Activation, readActivation } from "./activation.js";
import type { Architecture, EncoderConfig, EncoderResult, GraphInputs, TemplateContext, TokenBatch } from "./architecture.js";
import type { AttentionMask, AttentionOptions, AttentionRefs, GateRefs } from "./blocks.js";
import { type ConfigReader, readWidthAndHeads } from "./config.js";
import type { RotarySpec } from "./positions.js";
import * as ref from "./reference/math.js";
import {
  type LinearArrays,
  type LinearRef,
  type NormArrays,
  type NormRef,
  type TensorRef,
  type WeightReader,
  linearRef,
  normRef,
  tensorRef,
} from "./weight-refs.js";

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

// ---- the shared forward's view of a checkpoint ----

/** One post-norm layer: attention → add & norm → feed-forward (GLU when gated) → add & norm. */
export interface BertLayerRefs {
  attention: AttentionRefs;
  attentionNorm: NormRef;
  up: LinearRef;
  gate?: GateRefs;
  down: LinearRef;
  outputNorm: NormRef;
}

/**
 * Word, position and (when the model has them) token-type tables, and their LayerNorm. Models
 * that encode positions inside attention (rotary, ALiBi) have no position table.
 */
export interface EmbeddingRefs {
  words: TensorRef;
  positions?: TensorRef;
  tokenTypes?: TensorRef;
  norm: NormRef;
}

/**
 * Where position ids come from. sequential: 0..S-1 (BERT). afterPadding: padding_idx + 1 + the
 * token's rank among the row's non-pad tokens, pads at padding_idx (RoBERTa, MPNet).
 */
export type PositionIds = { kind: "sequential" } | { kind: "afterPadding"; paddingIdx: number };

export const SEQUENTIAL_POSITIONS: PositionIds = { kind: "sequential" };

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

/** A BERT-family encoder: weight names and the few choices that tell the models apart. */
export interface EncoderPlan {
  embeddings: EmbeddingRefs;
  positionIds: PositionIds;
  /** Embedding width → hidden size (ELECTRA's embeddings_project, ALBERT's embedding_hidden_mapping_in). */
  projection?: LinearRef;
  /** In execution order; a layer shared by several positions (ALBERT) appears at each. */
  layers: BertLayerRefs[];
  activation: Activation;
  /** Rotary position encoding of every layer's queries and keys (NomicBERT, GTE). */
  rotary?: RotarySpec;
  /** dense + tanh over the first token; absent: CLS fallback. */
  pooler?: LinearRef;
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

// ---- graph ----

/**
 * embeddings → LayerNorm → [projection] → post-norm layers → [pooler]. `scoreBias` is added to
 * every layer's attention scores (MPNet's relative position bias, JinaBERT's ALiBi).
 */
export function emitEncoder(ctx: TemplateContext, plan: EncoderPlan, inputs: GraphInputs, scoreBias?: Value): EncoderResult<Value> {
  const { nn, g } = ctx;
  const mask = nn.attentionMask(inputs.attentionMask);
  const spec = plan.rotary;
  const attention: AttentionOptions = {
    ...(scoreBias ? { scoreBias } : {}),
    ...(spec ? { rotary: g.scope("rotary", () => nn.rotaryTables(inputs.inputIds, spec)) } : {}),
  };
  let x = nn.layerNorm(embeddings(ctx, plan, inputs), plan.embeddings.norm);
  const projection = plan.projection;
  if (projection) x = g.scope("embeddings_project", () => nn.linear(x, projection));
  plan.layers.forEach((layer, i) => {
    x = g.scope(`layer.${i}`, () => encoderLayer(ctx, layer, plan.activation, x, mask, attention));
  });
  const pooler = plan.pooler;
  return { hidden: x, ...(pooler ? { pooled: g.scope("pooler", () => nn.pooler(x, pooler)) } : {}) };
}

/** word + position + token type embeddings (before their LayerNorm). */
function embeddings(ctx: TemplateContext, plan: EncoderPlan, inputs: GraphInputs): Value {
  const { ops, weights, nn } = ctx;
  const w = plan.embeddings;
  // Without token_type_ids every token has type 0: that row is folded into the position table,
  // or into the word table when the model has no position table.
  const typeZero = w.tokenTypes && !inputs.tokenTypeIds ? { table: w.tokenTypes, index: 0 } : undefined;
  const wordTable = typeZero && !w.positions ? weights.tableWithRow(w.words, typeZero, "embeddings.words+token_type0") : weights.tensor(w.words);
  let sum = ops.gather(wordTable, inputs.inputIds);
  if (w.positions) {
    const positionTable = typeZero ? weights.tableWithRow(w.positions, typeZero, "embeddings.positions+token_type0") : weights.tensor(w.positions);
    const positions =
      plan.positionIds.kind === "sequential"
        ? firstRows(ctx, positionTable, inputs.inputIds)
        : ops.gather(positionTable, nn.positionIdsAfterPadding(inputs.inputIds, plan.positionIds.paddingIdx));
    sum = ops.add(sum, positions);
  }
  return w.tokenTypes && inputs.tokenTypeIds ? ops.add(sum, ops.gather(weights.tensor(w.tokenTypes), inputs.tokenTypeIds)) : sum;
}

/** Post-norm encoder layer: norm(x + attention(x)), then norm(h + ffn(h)). */
function encoderLayer(ctx: TemplateContext, w: BertLayerRefs, act: Activation, x: Value, mask: AttentionMask, attention: AttentionOptions): Value {
  const { nn } = ctx;
  const attended = nn.addNorm(nn.selfAttention(x, w.attention, mask, attention), x, w.attentionNorm);
  return nn.addNorm(nn.feedForward(attended, w.up, w.down, act, w.gate), attended, w.outputNorm);
}

/** Rows [0, sequence) of a position table, sequence taken from ids [B, S]. */
function firstRows(ctx: TemplateContext, table: Value, ids: Value): Value {
  const { ops, g } = ctx;
  return ops.slice(table, g.constInt64([0], [1], "zero"), ops.dim(ids, 1), g.constInt64([0], [1], "axis0"));
}

// ---- reference forward ----

export function referenceEncoder(
  weights: WeightReader,
  plan: EncoderPlan,
  batch: TokenBatch,
  scoreBias?: ref.ScoreBias,
): EncoderResult<Float32Array> {
  const { batch: b, sequence: s } = batch;
  const attention: ref.AttentionOptions = {
    ...(scoreBias ? { scoreBias } : {}),
    ...(plan.rotary ? { rotary: ref.rotaryTables(s, plan.rotary) } : {}),
  };
  let x = ref.layerNorm(referenceEmbeddings(weights, plan, batch), weights.norm(plan.embeddings.norm));
  if (plan.projection) x = ref.linear(x, b * s, weights.linear(plan.projection));
  const load = layerLoader(weights);
  for (const layer of plan.layers) x = referenceEncoderLayer(load(layer), plan.activation, x, batch, attention);
  if (!plan.pooler) return { hidden: x };
  return { hidden: x, pooled: ref.tanh(ref.linear(ref.firstToken(x, b, s), b, weights.linear(plan.pooler))) };
}

function referenceEmbeddings(weights: WeightReader, plan: EncoderPlan, batch: TokenBatch): Float32Array {
  const { batch: b, sequence: s } = batch;
  const w = plan.embeddings;
  let x = weights.rows(w.words, batch.inputIds, "input_ids");
  if (w.positions) {
    const positionIds =
      plan.positionIds.kind === "sequential"
        ? Int32Array.from({ length: b * s }, (_, t) => t % s)
        : ref.positionIdsAfterPadding(batch.inputIds, b, s, plan.positionIds.paddingIdx);
    x = ref.add(x, weights.rows(w.positions, positionIds, "position ids"));
  }
  return w.tokenTypes ? ref.add(x, weights.rows(w.tokenTypes, batch.tokenTypeIds ?? new Int32Array(b * s), "token_type_ids")) : x;
}

/** The arrays behind one layer's refs. */
interface LayerArrays {
  attention: ref.AttentionArrays;
  attentionNorm: NormArrays;
  up: LinearArrays;
  down: LinearArrays;
  gate?: ref.GateArrays;
  outputNorm: NormArrays;
}

function layerArrays(weights: WeightReader, w: BertLayerRefs): LayerArrays {
  const attention = attentionArrays(weights, w.attention);
  const attentionNorm = weights.norm(w.attentionNorm);
  const up = weights.linear(w.up);
  const down = weights.linear(w.down);
  const gate = gateArrays(weights, w.gate);
  return { attention, attentionNorm, up, down, ...(gate ? { gate } : {}), outputNorm: weights.norm(w.outputNorm) };
}

/**
 * Each layer's arrays in turn. A layer run again at the next pass (ALBERT's shared layer: the
 * same refs object) is read once; otherwise only one layer's arrays are held at a time.
 */
function layerLoader(weights: WeightReader): (w: BertLayerRefs) => LayerArrays {
  let last: { refs: BertLayerRefs; arrays: LayerArrays } | undefined;
  return (w) => {
    if (last?.refs !== w) {
      last = undefined; // lets the previous layer's arrays go before the next are read
      last = { refs: w, arrays: layerArrays(weights, w) };
    }
    return last.arrays;
  };
}

function referenceEncoderLayer(w: LayerArrays, act: Activation, x: Float32Array, batch: TokenBatch, options: ref.AttentionOptions): Float32Array {
  const rows = batch.batch * batch.sequence;
  const attended = ref.layerNorm(ref.add(ref.selfAttention(x, batch.batch, batch.sequence, w.attention, batch.attentionMask, options), x), w.attentionNorm);
  const ffn = ref.feedForward(attended, rows, w.up, w.down, act, w.gate);
  return ref.layerNorm(ref.add(ffn, attended), w.outputNorm);
}

/** The arrays behind attention refs (separate or fused Q/K/V). */
export function attentionArrays(weights: WeightReader, w: AttentionRefs): ref.AttentionArrays {
  const common = { output: weights.linear(w.output), heads: w.heads };
  if ("qkv" in w) return { qkv: weights.linear(w.qkv), ...common };
  return { query: weights.linear(w.query), key: weights.linear(w.key), value: weights.linear(w.value), ...common };
}

/** The arrays behind a GLU gate. */
export function gateArrays(weights: WeightReader, gate: GateRefs | undefined): ref.GateArrays | undefined {
  return gate && ("half" in gate ? gate : { linear: weights.linear(gate.linear) });
}

export const bert: Architecture<BertConfig> = {
  name: "bert",
  modelTypes: ["bert"],
  checkpointPrefixes: ["bert."],
  parseConfig: (c) => parseBertConfig(c),
  emit: (ctx, c, inputs) => emitEncoder(ctx, bertPlan(c, ctx.weights.reader), inputs),
  reference: (weights, c, batch) => referenceEncoder(weights, bertPlan(c, weights), batch),
};
