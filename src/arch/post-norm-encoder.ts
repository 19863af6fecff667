// The BERT family's shared forward: embeddings → LayerNorm → [projection] → N × post-norm layers
// → [pooler]. The BERT, RoBERTa, ELECTRA, ALBERT, DistilBERT and MPNet templates — and JinaBERT,
// NomicBERT and GTE, with rotary or ALiBi positions and GLU feed-forwards — describe their
// weights once as an EncoderPlan; postNormArchitecture() makes the graph and the reference
// forward from it. The two forwards read line for line, and the layer is one function for both.
import type { Value } from "../graph/builder.js";
import type { Activation } from "./activation.js";
import type { Architecture, EncoderConfig, EncoderResult, GraphInputs, TemplateContext, TokenBatch } from "./architecture.js";
import type { AttentionMask, AttentionOptions, AttentionRefs, GateRefs, LayerBlocks } from "./blocks.js";
import type { RotarySpec } from "./positions.js";
import { type ReferenceAttentionOptions, ReferenceBlocks } from "./reference/blocks.js";
import type { ScoreBias } from "./reference/math.js";
import type { LinearRef, NormRef, TensorRef, WeightReader } from "./weight-refs.js";

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

/**
 * A bias added to every layer's attention scores (MPNet's relative positions, JinaBERT's ALiBi):
 * [1, heads, S, S] in the graph, built once under `scope`; a function of (batch, head, query,
 * key) in the reference.
 */
export interface ScoreBiasSource<C> {
  scope: string;
  graph(ctx: TemplateContext, config: C, inputs: GraphInputs): Value;
  reference(nn: ReferenceBlocks, config: C, batch: TokenBatch): ScoreBias;
}

/** A template whose forward is this encoder: what every Architecture declares, its plan, and any score bias. */
export interface PostNormTemplate<C extends EncoderConfig> extends Omit<Architecture<C>, "emit" | "reference"> {
  /** The checkpoint's tensors and the model's choices; the graph and the reference read the same plan. */
  plan(config: C, weights: WeightReader): EncoderPlan;
  scoreBias?: ScoreBiasSource<C>;
}

/** The Architecture of a post-norm template: its graph and its reference forward, both from its plan. */
export function postNormArchitecture<C extends EncoderConfig>({ plan, scoreBias, ...template }: PostNormTemplate<C>): Architecture<C> {
  return {
    ...template,
    emit(ctx, config, inputs) {
      const bias = scoreBias && ctx.g.scope(scoreBias.scope, () => scoreBias.graph(ctx, config, inputs));
      return emitEncoder(ctx, plan(config, ctx.weights.reader), inputs, bias);
    },
    reference(weights, config, batch) {
      const nn = new ReferenceBlocks(weights, batch);
      const bias = scoreBias?.reference(nn, config, batch);
      return referenceEncoder(nn, plan(config, weights), bias);
    },
  };
}

// ---- graph ----

function emitEncoder(ctx: TemplateContext, plan: EncoderPlan, inputs: GraphInputs, scoreBias?: Value): EncoderResult<Value> {
  const { nn, g } = ctx;
  const mask = nn.attentionMask(inputs.attentionMask);
  const spec = plan.rotary;
  const attention: AttentionOptions = {
    ...(scoreBias ? { scoreBias } : {}),
    ...(spec ? { rotary: g.scope("rotary", () => nn.rotaryTables(inputs.inputIds, spec)) } : {}),
  };
  let x = nn.norm(embeddings(ctx, plan, inputs), plan.embeddings.norm);
  const projection = plan.projection;
  if (projection) x = g.scope("embeddings_project", () => nn.linear(x, projection));
  plan.layers.forEach((layer, i) => {
    x = g.scope(`layer.${i}`, () => encoderLayer<Value, AttentionMask, AttentionOptions>(nn, layer, plan.activation, x, mask, attention));
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
  const wordTable =
    typeZero && !w.positions ? weights.tableWithRow(w.words, typeZero, "embeddings.words+token_type0") : weights.tensor(w.words);
  let sum = ops.gather(wordTable, inputs.inputIds);
  if (w.positions) {
    const positionTable = typeZero
      ? weights.tableWithRow(w.positions, typeZero, "embeddings.positions+token_type0")
      : weights.tensor(w.positions);
    const positions =
      plan.positionIds.kind === "sequential"
        ? firstRows(ctx, positionTable, inputs.inputIds)
        : ops.gather(positionTable, nn.positionIdsAfterPadding(inputs.inputIds, plan.positionIds.paddingIdx));
    sum = ops.add(sum, positions);
  }
  return w.tokenTypes && inputs.tokenTypeIds ? ops.add(sum, nn.embed(w.tokenTypes, inputs.tokenTypeIds)) : sum;
}

/** Rows [0, sequence) of a position table, sequence taken from ids [B, S]. */
function firstRows(ctx: TemplateContext, table: Value, ids: Value): Value {
  const { ops, g } = ctx;
  return ops.slice(table, g.constInt64([0], [1], "zero"), ops.dim(ids, 1), g.constInt64([0], [1], "axis0"));
}

// ---- reference forward ----

function referenceEncoder(nn: ReferenceBlocks, plan: EncoderPlan, scoreBias?: ScoreBias): EncoderResult<Float32Array> {
  const { batch } = nn;
  const mask = nn.attentionMask(batch.attentionMask);
  const spec = plan.rotary;
  const attention: ReferenceAttentionOptions = {
    ...(scoreBias ? { scoreBias } : {}),
    ...(spec ? { rotary: nn.rotaryTables(batch.inputIds, spec) } : {}),
  };
  let x = nn.norm(referenceEmbeddings(nn, plan), plan.embeddings.norm);
  const projection = plan.projection;
  if (projection) x = nn.linear(x, projection);
  for (const layer of plan.layers) x = nn.layer(layer, () => encoderLayer(nn, layer, plan.activation, x, mask, attention));
  const pooler = plan.pooler;
  return { hidden: x, ...(pooler ? { pooled: nn.pooler(x, pooler) } : {}) };
}

/** word + position + token type embeddings (before their LayerNorm); token type 0 without token_type_ids. */
function referenceEmbeddings(nn: ReferenceBlocks, plan: EncoderPlan): Float32Array {
  const { batch: b, sequence: s, inputIds, tokenTypeIds } = nn.batch;
  const w = plan.embeddings;
  let sum = nn.embed(w.words, inputIds);
  if (w.positions) {
    const positions =
      plan.positionIds.kind === "sequential"
        ? Int32Array.from({ length: b * s }, (_, t) => t % s)
        : nn.positionIdsAfterPadding(inputIds, plan.positionIds.paddingIdx);
    sum = nn.add(sum, nn.embed(w.positions, positions, "position ids"));
  }
  return w.tokenTypes ? nn.add(sum, nn.embed(w.tokenTypes, tokenTypeIds ?? new Int32Array(b * s), "token_type_ids")) : sum;
}

// ---- both ----

/** Post-norm encoder layer: norm(x + attention(x)), then norm(h + ffn(h)). */
function encoderLayer<T, Mask, Options>(
  nn: LayerBlocks<T, Mask, Options>,
  w: BertLayerRefs,
  act: Activation,
  x: T,
  mask: Mask,
  attention: Options,
): T {
  const attended = nn.addNorm(nn.selfAttention(x, w.attention, mask, attention), x, w.attentionNorm);
  return nn.addNorm(nn.feedForward(attended, w.up, w.down, act, w.gate), attended, w.outputNorm);
}
