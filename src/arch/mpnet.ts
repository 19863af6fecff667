// MPNet (Song et al. 2020) as MPNetModel runs it: RoBERTa-style embeddings (positions after
// padding_idx 1, no token types), BERT post-norm layers under their own names (attention.attn.q…),
// and one T5-style relative position bias, bucketed by key−query distance, added to the attention
// scores of every layer. Task heads keep the encoder under "mpnet.".
import type { Value } from "../graph/builder.js";
import type { TemplateContext, TokenBatch } from "./architecture.js";
import {
  type BertConfig,
  type LayerNames,
  bertPoolerRef,
  embeddingRefs,
  layerStack,
  maxSequenceAfterPadding,
  parseBertConfig,
} from "./bert.js";
import type { ConfigReader } from "./config.js";
import { type EncoderPlan, postNormArchitecture } from "./post-norm-encoder.js";
import type { ReferenceBlocks } from "./reference/blocks.js";
import type { ScoreBias } from "./reference/math.js";
import { type TensorRef, tensorRef } from "./weight-refs.js";

/** MPNetEmbeddings hard-codes padding_idx 1, whatever pad_token_id says. */
const MPNET_PADDING_IDX = 1;
/** MPNetEncoder.compute_position_bias always buckets with these (its defaults), not the config. */
const RELATIVE_BUCKETS = 32;
const RELATIVE_MAX_DISTANCE = 128;

export interface MpnetConfig extends BertConfig {
  /** Rows of the relative attention bias table (relative_attention_num_buckets). */
  relativeBuckets: number;
}

export function parseMpnetConfig(c: ConfigReader): MpnetConfig {
  const config = parseBertConfig(c, { padTokenId: 1 });
  return {
    ...config,
    typeVocabSize: 0,
    maxSequence: maxSequenceAfterPadding(c, config.maxPositions, MPNET_PADDING_IDX, "padding_idx"),
    relativeBuckets: c.int("relative_attention_num_buckets", { min: RELATIVE_BUCKETS, fallback: RELATIVE_BUCKETS }),
  };
}

/**
 * transformers' MPNetEncoder.relative_position_bucket for one key−query offset: exact buckets for
 * short distances, logarithmic ones up to RELATIVE_MAX_DISTANCE, the two directions apart. The
 * logarithm is rounded to float32 at each step as torch computes it, so bucket boundaries (e.g.
 * distance 64 → exactly 6) fall on the same side.
 */
export function relativePositionBucket(relative: number): number {
  const f = Math.fround;
  const half = Math.floor(RELATIVE_BUCKETS / 2);
  const direction = relative > 0 ? half : 0;
  const distance = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (distance < maxExact) return direction + distance;
  const logRatio = f(f(Math.log(f(distance / maxExact))) / f(Math.log(RELATIVE_MAX_DISTANCE / maxExact)));
  return direction + Math.min(maxExact + Math.trunc(f(logRatio * (half - maxExact))), half - 1);
}

/**
 * Bucket of every offset in [-max_distance, max_distance]; beyond it the bucket no longer
 * changes, so the graph clips offsets into this table instead of evaluating logarithms.
 */
export function relativeBucketTable(): Int32Array {
  return Int32Array.from({ length: 2 * RELATIVE_MAX_DISTANCE + 1 }, (_, i) => relativePositionBucket(i - RELATIVE_MAX_DISTANCE));
}

// ---- weight table: Hugging Face names of MPNetModel ----

/** MPNetLayer `encoder.layer.{i}`. */
const MPNET_LAYER: LayerNames = {
  query: "attention.attn.q",
  key: "attention.attn.k",
  value: "attention.attn.v",
  output: "attention.attn.o",
  attentionNorm: "attention.LayerNorm",
  up: "intermediate.dense",
  down: "output.dense",
  outputNorm: "output.LayerNorm",
};

const relativeBiasRef = (c: MpnetConfig): TensorRef => tensorRef("encoder.relative_attention_bias.weight", [c.relativeBuckets, c.heads]);

function mpnetPlan(c: MpnetConfig, weights: { has(name: string): boolean }): EncoderPlan {
  return {
    embeddings: embeddingRefs(c),
    positionIds: { kind: "afterPadding", paddingIdx: MPNET_PADDING_IDX },
    layers: layerStack(c, "encoder.layer", MPNET_LAYER),
    activation: c.activation,
    ...bertPoolerRef(c, weights),
  };
}

// ---- the relative position bias, in the graph and in the reference ----

/** [1, heads, S, S] bias from the sequence length of ids [B, S]: table[bucket(key − query)]. */
function relativePositionBias(ctx: TemplateContext, c: MpnetConfig, ids: Value): Value {
  const { ops, g, nn, weights } = ctx;
  const scalar = (value: number, hint: string) => g.constInt64([value], [], hint);
  const offsets = nn.relativeOffsets(ids); // [query, key]: key − query
  const reach = scalar(RELATIVE_MAX_DISTANCE, "max_distance");
  const index = ops.add(ops.clip(offsets, scalar(-RELATIVE_MAX_DISTANCE, "min_offset"), reach), reach);
  const bucketTable = relativeBucketTable();
  const buckets = ops.gather(g.constInt64(bucketTable, [bucketTable.length], "bucket_by_offset"), index);
  const bias = ops.gather(weights.tensor(relativeBiasRef(c)), buckets); // [S, S, heads]
  return ops.unsqueeze(ops.transpose(bias, [2, 0, 1]), [0]);
}

/** The same bias as a function of (batch, head, query, key), for the batch's sequence length. */
function referenceRelativePositionBias(nn: ReferenceBlocks, c: MpnetConfig, batch: TokenBatch): ScoreBias {
  const table = nn.weights.tensor(relativeBiasRef(c));
  const s = batch.sequence;
  const buckets = Int32Array.from({ length: s * s }, (_, t) => relativePositionBucket((t % s) - Math.floor(t / s)));
  return (_b, h, i, j) => table[buckets[i * s + j]! * c.heads + h]!;
}

export const mpnet = postNormArchitecture<MpnetConfig>({
  name: "mpnet",
  modelTypes: ["mpnet"],
  checkpointPrefixes: ["mpnet."],
  parseConfig: parseMpnetConfig,
  plan: mpnetPlan,
  scoreBias: {
    scope: "relative_position_bias",
    graph: (ctx, c, inputs) => relativePositionBias(ctx, c, inputs.inputIds),
    reference: referenceRelativePositionBias,
  },
});
