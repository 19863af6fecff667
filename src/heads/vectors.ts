// Quantized sentence vectors, as sentence-transformers' quantize_embeddings defines them, once as
// graph nodes (after sentence_embedding, in the sentence head) and once in plain TypeScript (float32 arithmetic step
// by step, as numpy does it on float32 arrays):
// - int8: per dimension, start = min and step = (max − min) / 255 over calibration embeddings;
//   q = int8((x − start) / step − 128), truncated toward zero (numpy's astype). Values outside
//   the calibration range are clamped to [−128, 127] first (numpy would wrap them around).
// - binary ("ubinary"): bit = x > 0, packed 8 per byte, the first dimension in the most
//   significant bit (numpy.packbits); a width that is not a multiple of 8 is padded with 0 bits.
import { OUTPUT } from "../artifact/names.js";
import type { Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";

export const VECTOR_KINDS = ["int8", "binary"] as const;
export type VectorKind = (typeof VECTOR_KINDS)[number];

/** Per-dimension calibration range: [mins, maxs], the layout quantize_embeddings' `ranges` takes. */
export type Int8Ranges = [min: number[], max: number[]];

export type VectorOutput = { kind: "int8"; ranges: Int8Ranges } | { kind: "binary" };

/** The graph output each kind adds. */
export const VECTOR_OUTPUT: Readonly<Record<VectorKind, string>> = {
  int8: OUTPUT.sentenceEmbeddingInt8,
  binary: OUTPUT.sentenceEmbeddingBinary,
};

/** Bytes per vector of each kind for a `width`-dimensional embedding. */
export function vectorWidth(kind: VectorKind, width: number): number {
  return kind === "int8" ? width : Math.ceil(width / 8);
}

/** Per-dimension min and max of `vectors` (each `width` long). */
export function int8Ranges(vectors: readonly Float32Array[], width: number): Int8Ranges {
  if (vectors.length === 0) throw new Error("int8 vector ranges need at least one calibration embedding");
  const min = new Array<number>(width).fill(Infinity);
  const max = new Array<number>(width).fill(-Infinity);
  for (const v of vectors) {
    for (let i = 0; i < width; i++) {
      if (v[i]! < min[i]!) min[i] = v[i]!;
      if (v[i]! > max[i]!) max[i] = v[i]!;
    }
  }
  return [min, max];
}

/** start and step per dimension in float32; a dimension that never varied gets step 1 (numpy would divide by 0). */
export function int8StartsAndSteps(ranges: Int8Ranges): { starts: Float32Array; steps: Float32Array } {
  const starts = Float32Array.from(ranges[0]);
  const steps = Float32Array.from(ranges[1], (max, i) => Math.fround(Math.fround(max - starts[i]!) / 255) || 1);
  return { starts, steps };
}

/** The vector output's values of x [rows, width]. */
export function quantizeVectors(x: Float32Array, width: number, vector: VectorOutput): Int8Array | Uint8Array {
  return vector.kind === "int8" ? quantizeInt8Vectors(x, width, vector.ranges) : packBinaryVectors(x, width);
}

/** int8 vectors of x [rows, width]. */
export function quantizeInt8Vectors(x: Float32Array, width: number, ranges: Int8Ranges): Int8Array {
  const { starts, steps } = int8StartsAndSteps(ranges);
  const out = new Int8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = i % width;
    const scaled = Math.fround(Math.fround(Math.fround(x[i]! - starts[d]!) / steps[d]!) - 128);
    out[i] = Math.trunc(Math.min(127, Math.max(-128, scaled)));
  }
  return out;
}

/** Packed sign bits of x [rows, width]: [rows, ceil(width / 8)]. */
export function packBinaryVectors(x: Float32Array, width: number): Uint8Array {
  const rows = x.length / width;
  const bytes = Math.ceil(width / 8);
  const out = new Uint8Array(rows * bytes);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < width; i++) if (x[r * width + i]! > 0) out[r * bytes + (i >> 3)]! |= 0x80 >> (i & 7);
  }
  return out;
}

/** The vector output of `embedding` [B, width] in the graph. */
export function vectorGraph(ops: Ops, embedding: Value, width: number, vector: VectorOutput): Value {
  const { g } = ops;
  if (vector.kind === "int8") {
    const { starts, steps } = int8StartsAndSteps(vector.ranges);
    const scaled = ops.sub(
      ops.div(ops.sub(embedding, g.constFloat(starts, [width], "int8_starts")), g.constFloat(steps, [width], "int8_steps")),
      ops.scalar(128, "int8_offset"),
    );
    // Cast truncates toward zero, as numpy's astype does.
    return ops.cast(ops.clip(scaled, ops.scalar(-128, "int8_min"), ops.scalar(127, "int8_max")), DataType.INT8);
  }
  const bits = ops.cast(ops.greater(embedding, ops.scalar(0, "zero")), DataType.FLOAT); // [B, width]
  const padding = vectorWidth("binary", width) * 8 - width;
  const padded = padding === 0 ? bits : g.op("Pad", [bits, g.constInt64([0, 0, 0, padding], [4], "bit_padding")]);
  const weights = g.constFloat([128, 64, 32, 16, 8, 4, 2, 1], [8], "bit_weights");
  // [B, bytes, 8] · [8] → [B, bytes]: each byte's value, exact in float32.
  return ops.cast(ops.matMul(ops.reshape(padded, [0, -1, 8]), weights), DataType.UINT8);
}
