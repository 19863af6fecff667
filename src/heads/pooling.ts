// Sentence pooling as sentence-transformers computes it (Pooling module, then an optional
// Normalize module), once as graph nodes and once in plain TypeScript. The graph's
// `sentence_embedding` output is judged against `poolTokens`, and the runtime pools
// last_hidden_state with the same function when a graph has no such output.
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Blocks } from "../arch/blocks.js";
import type { Ops } from "../graph/ops.js";
import * as ref from "../arch/reference/math.js";
import type { SentencePipeline } from "../arch/sentence-transformers.js";
import type { Head } from "./head.js";
import { VECTOR_OUTPUT, type VectorOutput, quantizeVectors, vectorGraph, vectorWidth } from "./vectors.js";

/**
 * How token vectors become one sentence vector. With `dimensions` (Matryoshka), the pooled
 * vector is cut to its first `dimensions` values and L2-normalized again, whatever `normalize`
 * says (a truncated unit vector is no longer one).
 */
export type SentencePooling = Pick<SentencePipeline, "pooling" | "normalize"> & { dimensions?: number };

export const SENTENCE_EMBEDDING_OUTPUT = OUTPUT.sentenceEmbedding;

/** sentence-transformers clamps the token count of mean pooling to at least this. */
export const MEAN_MIN_TOKENS = 1e-9;
/** sentence-transformers sets padded positions to this before max pooling. */
export const MAX_POOL_PAD_VALUE = -1e9;
/** Normalize: x / max(‖x‖₂, eps), torch.nn.functional.normalize's default eps. */
export const NORMALIZE_EPS = 1e-12;

/** hidden [B, S, H] and attention_mask [B, S] (int64) → sentence embedding [B, H]. */
export function poolGraph(nn: Blocks, hidden: Value, attentionMask: Value, pooling: SentencePooling): Value {
  const { ops } = nn;
  let pooled: Value;
  switch (pooling.pooling) {
    case "cls":
      pooled = nn.firstToken(hidden);
      break;
    case "mean": {
      const keep = ops.cast(attentionMask, DataType.FLOAT); // [B, S]
      const sum = ops.reduceSum(ops.mul(hidden, ops.unsqueeze(keep, [2])), [1], false); // [B, H]
      const count = ops.max(ops.reduceSum(keep, [1]), ops.scalar(MEAN_MIN_TOKENS, "mean_min_tokens")); // [B, 1]
      pooled = ops.div(sum, count);
      break;
    }
    case "max": {
      const keep = ops.unsqueeze(ops.cast(attentionMask, DataType.BOOL), [2]); // [B, S, 1]
      pooled = ops.reduceMax(ops.where(keep, hidden, ops.scalar(MAX_POOL_PAD_VALUE, "max_pool_pad")), [1], false);
      break;
    }
  }
  if (pooling.dimensions !== undefined) {
    const first = (values: number[], hint: string) => ops.g.constInt64(values, [1], hint);
    pooled = ops.slice(
      pooled,
      first([0], "matryoshka_start"),
      first([pooling.dimensions], "matryoshka_end"),
      first([1], "matryoshka_axis"),
    );
  } else if (!pooling.normalize) return pooled;
  return normalizeGraph(ops, pooled);
}

/** x / max(‖x‖₂, NORMALIZE_EPS) over the last axis. */
export function normalizeGraph(ops: Ops, x: Value): Value {
  const norm = ops.sqrt(ops.reduceSum(ops.mul(x, x), [-1]));
  return ops.div(x, ops.max(norm, ops.scalar(NORMALIZE_EPS, "normalize_eps")));
}

/** The width of the sentence embedding `pooling` makes from `hidden`-wide token vectors. */
export function sentenceWidth(pooling: SentencePooling, hidden: number): number {
  return pooling.dimensions ?? hidden;
}

export interface TokenShape {
  batch: number;
  sequence: number;
  hidden: number;
}

/**
 * hidden [batch, sequence, hidden] (row-major) and attention_mask [batch, sequence] (non-zero:
 * a real token) → sentence embeddings [batch, hidden], accumulated in float64.
 */
export function poolTokens(
  hidden: Float32Array,
  attentionMask: ArrayLike<number | bigint>,
  shape: TokenShape,
  pooling: SentencePooling,
): Float32Array {
  const { batch, sequence, hidden: width } = shape;
  if (hidden.length !== batch * sequence * width || attentionMask.length !== batch * sequence) {
    throw new Error(
      `poolTokens: ${hidden.length} hidden values and ${attentionMask.length} mask values do not fit [${batch}, ${sequence}, ${width}]`,
    );
  }
  const pooled = pooling.pooling === "cls" ? ref.firstToken(hidden, batch, sequence) : new Float32Array(batch * width);
  const acc = new Float64Array(width);
  for (let b = 0; b < batch && pooling.pooling !== "cls"; b++) {
    acc.fill(pooling.pooling === "max" ? -Infinity : 0);
    let tokens = 0;
    for (let t = 0; t < sequence; t++) {
      const real = Number(attentionMask[b * sequence + t]) !== 0;
      const row = (b * sequence + t) * width;
      if (pooling.pooling === "mean") {
        if (!real) continue;
        tokens++;
        for (let i = 0; i < width; i++) acc[i]! += hidden[row + i]!;
      } else {
        for (let i = 0; i < width; i++) acc[i] = Math.max(acc[i]!, real ? hidden[row + i]! : MAX_POOL_PAD_VALUE);
      }
    }
    const divisor = pooling.pooling === "mean" ? Math.max(tokens, MEAN_MIN_TOKENS) : 1;
    for (let i = 0; i < width; i++) pooled[b * width + i] = acc[i]! / divisor;
  }
  if (pooling.dimensions !== undefined) return truncateAndNormalize(pooled, width, pooling.dimensions);
  return pooling.normalize ? l2Normalize(pooled, width) : pooled;
}

/** Matryoshka: the first `dimensions` values of each row of x [rows, width], L2-normalized. */
export function truncateAndNormalize(x: Float32Array, width: number, dimensions: number): Float32Array {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > width) {
    throw new RangeError(`dimensions must be an integer from 1 to ${width}, not ${dimensions}`);
  }
  const rows = x.length / width;
  const kept = new Float32Array(rows * dimensions);
  for (let r = 0; r < rows; r++) kept.set(x.subarray(r * width, r * width + dimensions), r * dimensions);
  return l2Normalize(kept, dimensions);
}

/** Each row of x [rows, width] divided by max(its L2 norm, NORMALIZE_EPS), in a new array. */
export function l2Normalize(x: Float32Array, width: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += width) {
    let squares = 0;
    for (let i = 0; i < width; i++) squares += x[o + i]! * x[o + i]!;
    const scale = 1 / Math.max(Math.sqrt(squares), NORMALIZE_EPS);
    for (let i = 0; i < width; i++) out[o + i] = x[o + i]! * scale;
  }
  return out;
}

/**
 * The sentence_embedding [batch, hidden or dimensions] head: token vectors pooled (and
 * normalized) in the graph; with `vector`, also its quantized copy (sentence_embedding_int8 or
 * sentence_embedding_binary), defined exactly by the graph's own sentence_embedding.
 */
export function sentenceEmbeddingHead(pooling: SentencePooling, hidden: number, vector?: VectorOutput): Head {
  const width = sentenceWidth(pooling, hidden);
  const quantized = vector && {
    name: VECTOR_OUTPUT[vector.kind],
    dims: ["batch", vectorWidth(vector.kind, width)],
    perToken: false,
    elemType: vector.kind === "int8" ? DataType.INT8 : DataType.UINT8,
    definition: { of: OUTPUT.sentenceEmbedding, apply: (values: Float32Array) => quantizeVectors(values, width, vector) },
  };
  return {
    name: "sentence_embedding",
    outputs: [{ name: OUTPUT.sentenceEmbedding, dims: ["batch", width], perToken: false }, ...(quantized ? [quantized] : [])],
    judge: { kind: "cosine", output: OUTPUT.sentenceEmbedding },
    emit: ({ nn, ops, inputs }, encoder) => {
      const embedding = poolGraph(nn, encoder.hidden, inputs.attentionMask, pooling);
      return {
        values: {
          [OUTPUT.sentenceEmbedding]: embedding,
          ...(vector ? { [VECTOR_OUTPUT[vector.kind]]: vectorGraph(ops, embedding, width, vector) } : {}),
        },
        metadata: {
          [METADATA.sentencePooling]: pooling.pooling,
          [METADATA.sentenceNormalize]: String(pooling.normalize),
          ...(pooling.dimensions !== undefined ? { [METADATA.sentenceDimensions]: String(pooling.dimensions) } : {}),
          ...(vector ? { [METADATA.vector]: vector.kind } : {}),
          ...(vector?.kind === "int8" ? { [METADATA.int8Ranges]: JSON.stringify(vector.ranges) } : {}),
        },
      };
    },
    reference: ({ batch }, encoder) => {
      const embedding = poolTokens(encoder.hidden, batch.attentionMask, { batch: batch.batch, sequence: batch.sequence, hidden }, pooling);
      return {
        [OUTPUT.sentenceEmbedding]: embedding,
        ...(vector ? { [VECTOR_OUTPUT[vector.kind]]: Float32Array.from(quantizeVectors(embedding, width, vector)) } : {}),
      };
    },
  };
}
