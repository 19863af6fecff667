// Weights must be finite: one NaN or ±Inf anywhere in a tensor the graph uses (an embedding row
// no test text reaches included) turns outputs into NaN for whoever hits it. Checked as the
// values pass by — the graph writer copies every tensor once, conversions touch every value —
// so the check costs no extra read.
import { HOST_IS_LITTLE_ENDIAN } from "../common/byte-order.js";
import { formatShape, quote } from "../common/messages.js";
import { WeightError } from "./weights.js";

/** A float32 whose exponent bits are all set (NaN, ±Inf), as a word of its bits. */
const EXPONENT = 0x7f800000;

/** Index of the first NaN/±Inf in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  return firstNonFiniteWord(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

/**
 * Index of the first NaN/±Inf among the little-endian float32 elements of `bytes` (a whole
 * number of elements), or -1: all exponent bits set. Four-byte-aligned bytes (a tensor read on
 * its own, external data) are read as words; others (a tensor copied into the write buffer right
 * after its protobuf header) byte by byte.
 */
export function firstNonFiniteBytes(bytes: Uint8Array): number {
  if (bytes.byteOffset % 4 === 0 && HOST_IS_LITTLE_ENDIAN)
    return firstNonFiniteWord(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2));
  for (let i = 3; i < bytes.length; i += 4) {
    if ((bytes[i]! & 0x7f) === 0x7f && (bytes[i - 1]! & 0x80) !== 0) return (i - 3) / 4;
  }
  return -1;
}

/** Index of the first word of float32 bits with every exponent bit set, or -1. */
function firstNonFiniteWord(words: Uint32Array): number {
  const whole = words.length - (words.length % 4);
  let i = 0;
  for (; i < whole; i += 4) {
    // Four values per step (a hit is located by the loop below).
    if (
      (words[i]! & EXPONENT) === EXPONENT ||
      (words[i + 1]! & EXPONENT) === EXPONENT ||
      (words[i + 2]! & EXPONENT) === EXPONENT ||
      (words[i + 3]! & EXPONENT) === EXPONENT
    )
      break;
  }
  for (; i < words.length; i++) if ((words[i]! & EXPONENT) === EXPONENT) return i;
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
