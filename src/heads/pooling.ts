// Sentence pooling as sentence-transformers computes it (Pooling module, Dense modules, then an
// optional Normalize module), written once as a pipeline over steps (sentencePipeline) that the
// graph (graphSteps: nodes) and the reference (referenceSteps: arrays, float64 sums) each supply,
// as Blocks and ReferenceBlocks do for layers. The graph's `sentence_embedding` is judged against
// the reference, and the runtime pools last_hidden_state with it when a graph has no such output.
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Blocks } from "../arch/blocks.js";
import type { Ops } from "../graph/ops.js";
import * as ref from "../arch/reference/math.js";
import type { DenseLayer, PoolingMode, SentencePipeline } from "../arch/sentence-transformers.js";
import type { Head } from "./head.js";
import { type Projection, projectGraph, readProjection } from "./projection.js";
import { VECTOR_OUTPUT, type VectorOutput, quantizeVectors, vectorGraph, vectorWidth } from "./vectors.js";

/**
 * How token vectors become one sentence vector: a pooling mode, Dense modules (decoder embedders:
 * EmbeddingGemma's 768 → 3072 → 768), normalization. With `dimensions` (Matryoshka), the vector
 * is cut to its first `dimensions` values and L2-normalized again, whatever `normalize` says (a
 * truncated unit vector is no longer one).
 */
export type SentencePooling = Pick<SentencePipeline, "pooling" | "normalize"> & { dense?: DenseLayer[]; dimensions?: number };

export const SENTENCE_EMBEDDING_OUTPUT = OUTPUT.sentenceEmbedding;

/** sentence-transformers clamps the token count of mean pooling to at least this. */
export const MEAN_MIN_TOKENS = 1e-9;
/** sentence-transformers sets padded positions to this before max pooling. */
export const MAX_POOL_PAD_VALUE = -1e9;
/** Normalize: x / max(‖x‖₂, eps), torch.nn.functional.normalize's default eps. */
export const NORMALIZE_EPS = 1e-12;

/** The steps of the pipeline, on graph values or on arrays. */
export interface PoolingSteps<T> {
  /** The token vectors pooled into one vector per sequence. */
  pool(mode: PoolingMode): T;
  dense(x: T, layer: Projection & { activation: DenseLayer["activation"] }, index: number): T;
  /** The first `dimensions` values. */
  truncate(x: T, dimensions: number): T;
  normalize(x: T): T;
}

/** Pooling → Dense… → Normalize (or Matryoshka's cut and renormalization): the pooled vector and the sentence embedding. */
export function sentencePipeline<T>(
  steps: PoolingSteps<T>,
  pooling: SentencePooling,
  dense: readonly DenseProjection[] = [],
): { pooled: T; embedding: T } {
  const pooled = steps.pool(pooling.pooling);
  let x = pooled;
  dense.forEach((layer, i) => (x = steps.dense(x, layer, i)));
  if (pooling.dimensions !== undefined) return { pooled, embedding: steps.normalize(steps.truncate(x, pooling.dimensions)) };
  return { pooled, embedding: pooling.normalize ? steps.normalize(x) : x };
}

/** A Dense module with its weights read. */
export type DenseProjection = Projection & { activation: DenseLayer["activation"] };

/** The Dense modules' weights (read once per head). */
export function readDense(pooling: SentencePooling): DenseProjection[] {
  return (pooling.dense ?? []).map((layer) => ({
    ...readProjection(layer.folder, "", "linear", layer.inFeatures),
    activation: layer.activation,
  }));
}

/** The pipeline's steps as graph nodes over hidden [B, S, H] and attention_mask [B, S] (int64). */
export function graphSteps(nn: Blocks, hidden: Value, attentionMask: Value): PoolingSteps<Value> {
  const { ops } = nn;
  return {
    pool(mode) {
      switch (mode) {
        case "cls":
          return nn.firstToken(hidden);
        case "mean": {
          const keep = ops.cast(attentionMask, DataType.FLOAT); // [B, S]
          const sum = ops.reduceSum(ops.mul(hidden, ops.unsqueeze(keep, [2])), [1], false); // [B, H]
          const count = ops.max(ops.reduceSum(keep, [1]), ops.scalar(MEAN_MIN_TOKENS, "mean_min_tokens")); // [B, 1]
          return ops.div(sum, count);
        }
        case "max": {
          const keep = ops.unsqueeze(ops.cast(attentionMask, DataType.BOOL), [2]); // [B, S, 1]
          return ops.reduceMax(ops.where(keep, hidden, ops.scalar(MAX_POOL_PAD_VALUE, "max_pool_pad")), [1], false);
        }
        case "lasttoken": {
          // The last position whose mask is 1: max over t of mask·(t + 1), minus 1; a row with
          // none takes position 0, as sentence-transformers does.
          const int64 = (value: number, hint: string) => ops.g.constInt64([value], [], hint);
          const ranks = ops.add(nn.positions(hidden), int64(1, "one")); // [S]
          const last = ops.sub(ops.reduceMax(ops.mul(attentionMask, ranks), [1], true), int64(1, "one")); // [B, 1]
          return ops.gatherND(hidden, ops.max(last, int64(0, "zero")), 1); // [B, H]
        }
      }
    },
    dense: (x, layer, i) => {
      const projected = projectGraph(ops.g, ops, x, layer, `dense_${i}`);
      return layer.activation === "tanh" ? ops.tanh(projected) : projected;
    },
    truncate(x, dimensions) {
      const first = (values: number[], hint: string) => ops.g.constInt64(values, [1], hint);
      return ops.slice(x, first([0], "matryoshka_start"), first([dimensions], "matryoshka_end"), first([1], "matryoshka_axis"));
    },
    normalize: (x) => normalizeGraph(ops, x),
  };
}

/** hidden [B, S, H] and attention_mask [B, S] (int64) → the sentence embedding [B, H or dimensions]. */
export function poolGraph(nn: Blocks, hidden: Value, attentionMask: Value, pooling: SentencePooling): Value {
  return sentencePipeline(graphSteps(nn, hidden, attentionMask), pooling, readDense(pooling)).embedding;
}

/** x / max(‖x‖₂, NORMALIZE_EPS) over the last axis. */
export function normalizeGraph(ops: Ops, x: Value): Value {
  const norm = ops.sqrt(ops.reduceSum(ops.mul(x, x), [-1]));
  return ops.div(x, ops.max(norm, ops.scalar(NORMALIZE_EPS, "normalize_eps")));
}

/** The width of the sentence embedding `pooling` makes from `hidden`-wide token vectors. */
export function sentenceWidth(pooling: SentencePooling, hidden: number): number {
  return pooling.dimensions ?? pooling.dense?.at(-1)?.outFeatures ?? hidden;
}

export interface TokenShape {
  batch: number;
  sequence: number;
  hidden: number;
}

/** The pipeline's steps on arrays: hidden [batch, sequence, hidden] row-major, sums in float64. */
export function referenceSteps(
  hidden: Float32Array,
  attentionMask: ArrayLike<number | bigint>,
  shape: TokenShape,
): PoolingSteps<Float32Array> {
  const { batch, sequence, hidden: width } = shape;
  if (hidden.length !== batch * sequence * width || attentionMask.length !== batch * sequence) {
    throw new Error(
      `poolTokens: ${hidden.length} hidden values and ${attentionMask.length} mask values do not fit [${batch}, ${sequence}, ${width}]`,
    );
  }
  const real = (b: number, t: number) => Number(attentionMask[b * sequence + t]) !== 0;
  return {
    pool(mode) {
      if (mode === "cls") return ref.firstToken(hidden, batch, sequence);
      const pooled = new Float32Array(batch * width);
      if (mode === "lasttoken") {
        for (let b = 0; b < batch; b++) {
          let last = 0;
          for (let t = 0; t < sequence; t++) if (real(b, t)) last = t;
          pooled.set(hidden.subarray((b * sequence + last) * width, (b * sequence + last + 1) * width), b * width);
        }
        return pooled;
      }
      const acc = new Float64Array(width);
      for (let b = 0; b < batch; b++) {
        acc.fill(mode === "max" ? -Infinity : 0);
        let tokens = 0;
        for (let t = 0; t < sequence; t++) {
          const row = (b * sequence + t) * width;
          if (mode === "mean") {
            if (!real(b, t)) continue;
            tokens++;
            for (let i = 0; i < width; i++) acc[i]! += hidden[row + i]!;
          } else {
            for (let i = 0; i < width; i++) acc[i] = Math.max(acc[i]!, real(b, t) ? hidden[row + i]! : MAX_POOL_PAD_VALUE);
          }
        }
        const divisor = mode === "mean" ? Math.max(tokens, MEAN_MIN_TOKENS) : 1;
        for (let i = 0; i < width; i++) pooled[b * width + i] = acc[i]! / divisor;
      }
      return pooled;
    },
    dense(x, layer) {
      const projected = ref.linear(x, batch, layer);
      return layer.activation === "tanh" ? ref.tanh(projected) : projected;
    },
    truncate: (x, dimensions) => truncate(x, x.length / batch, dimensions),
    normalize: (x) => l2Normalize(x, x.length / batch),
  };
}

/**
 * hidden [batch, sequence, hidden] (row-major) and attention_mask [batch, sequence] (non-zero:
 * a real token) → sentence embeddings [batch, width].
 */
export function poolTokens(
  hidden: Float32Array,
  attentionMask: ArrayLike<number | bigint>,
  shape: TokenShape,
  pooling: SentencePooling,
): Float32Array {
  return sentencePipeline(referenceSteps(hidden, attentionMask, shape), pooling, readDense(pooling)).embedding;
}

/** The first `dimensions` values of each row of x [rows, width]. */
function truncate(x: Float32Array, width: number, dimensions: number): Float32Array {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > width) {
    throw new RangeError(`dimensions must be an integer from 1 to ${width}, not ${dimensions}`);
  }
  const rows = x.length / width;
  const kept = new Float32Array(rows * dimensions);
  for (let r = 0; r < rows; r++) kept.set(x.subarray(r * width, r * width + dimensions), r * dimensions);
  return kept;
}

/** Matryoshka: the first `dimensions` values of each row of x [rows, width], L2-normalized. */
export function truncateAndNormalize(x: Float32Array, width: number, dimensions: number): Float32Array {
  return l2Normalize(truncate(x, width, dimensions), dimensions);
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
 * The sentence_embedding [batch, width] head: token vectors pooled (Dense-projected, normalized)
 * in the graph; with `vector`, also its quantized copy (sentence_embedding_int8 or
 * sentence_embedding_binary), defined exactly by the graph's own sentence_embedding. With
 * `poolerOutput` (decoders, SPEC), pooler_output is the Pooling module's output.
 */
export function sentenceEmbeddingHead(
  pooling: SentencePooling,
  hidden: number,
  vector?: VectorOutput,
  options: { poolerOutput?: boolean } = {},
): Head {
  const width = sentenceWidth(pooling, hidden);
  const dense = readDense(pooling);
  const quantized = vector && {
    name: VECTOR_OUTPUT[vector.kind],
    dims: ["batch", vectorWidth(vector.kind, width)],
    perToken: false,
    elemType: vector.kind === "int8" ? DataType.INT8 : DataType.UINT8,
    definition: { of: OUTPUT.sentenceEmbedding, apply: (values: Float32Array) => quantizeVectors(values, width, vector) },
  };
  const pooler = options.poolerOutput ? [{ name: OUTPUT.poolerOutput, dims: ["batch", hidden], perToken: false }] : [];
  return {
    name: "sentence_embedding",
    outputs: [{ name: OUTPUT.sentenceEmbedding, dims: ["batch", width], perToken: false }, ...(quantized ? [quantized] : []), ...pooler],
    judge: { kind: "cosine", output: OUTPUT.sentenceEmbedding },
    emit: ({ nn, ops, inputs }, encoder) => {
      const { pooled, embedding } = sentencePipeline(graphSteps(nn, encoder.hidden, inputs.attentionMask), pooling, dense);
      return {
        values: {
          [OUTPUT.sentenceEmbedding]: embedding,
          ...(vector ? { [VECTOR_OUTPUT[vector.kind]]: vectorGraph(ops, embedding, width, vector) } : {}),
          ...(options.poolerOutput ? { [OUTPUT.poolerOutput]: pooled } : {}),
        },
        metadata: {
          [METADATA.sentencePooling]: pooling.pooling,
          [METADATA.sentenceNormalize]: String(pooling.normalize),
          ...(pooling.dimensions !== undefined ? { [METADATA.sentenceDimensions]: String(pooling.dimensions) } : {}),
          ...(dense.length > 0
            ? { [METADATA.sentenceDense]: dense.map((d) => `${d.inFeatures}x${d.outFeatures}:${d.activation}`).join(",") }
            : {}),
          ...(vector ? { [METADATA.vector]: vector.kind } : {}),
          ...(vector?.kind === "int8" ? { [METADATA.int8Ranges]: JSON.stringify(vector.ranges) } : {}),
        },
      };
    },
    reference: ({ batch }, encoder) => {
      const steps = referenceSteps(encoder.hidden, batch.attentionMask, { batch: batch.batch, sequence: batch.sequence, hidden });
      const { pooled, embedding } = sentencePipeline(steps, pooling, dense);
      return {
        [OUTPUT.sentenceEmbedding]: embedding,
        ...(vector ? { [VECTOR_OUTPUT[vector.kind]]: Float32Array.from(quantizeVectors(embedding, width, vector)) } : {}),
        ...(options.poolerOutput ? { [OUTPUT.poolerOutput]: pooled } : {}),
      };
    },
  };
}
