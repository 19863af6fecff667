// Weights must be finite: one NaN or ±Inf anywhere in a tensor the graph uses (an embedding row
// no test text reaches included) turns outputs into NaN for whoever hits it. Checked as the
// values pass by — the graph writer copies every tensor once, conversions touch every value —
// so the check costs no extra read.
import { formatShape, quote } from "../common/messages.js";
import { WeightError } from "./weights.js";

/** Index of the first NaN/±Inf in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are NaN; finite - itself is 0
  }
  return -1;
}

/**
 * Index of the first NaN/±Inf among the little-endian float32 elements of `bytes` (a whole
 * number of elements), or -1: all exponent bits set, read from the two high bytes.
 */
export function firstNonFiniteBytes(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i += 4) {
    if ((bytes[i]! & 0x7f) === 0x7f && (bytes[i - 1]! & 0x80) !== 0) return (i - 3) / 4;
  }
  return -1;
}

/** The error for element `index` of tensor `name` (shape `shape`) in `file`, which holds `value`. */
export function nonFiniteWeightError(file: string, name: string, shape: readonly number[], index: number, value: number): WeightError {
  const at: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  const where = shape.length > 1 ? `element ${index} (index ${formatShape(at)} of shape ${formatShape(shape)})` : `element ${index}`;
  return new WeightError(
    `${file}: tensor ${quote(name)} holds ${Number.isNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf"} at ${where}; ` +
      `the checkpoint is damaged — re-download it, or fix the weights`,
  );
}

/** The float32 value of the element at `index` of little-endian `bytes`. */
export function float32At(bytes: Uint8Array, index: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + index * 4, 4).getFloat32(0, true);
}
