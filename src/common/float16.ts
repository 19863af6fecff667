// IEEE 754 half precision (F16) and bfloat16 conversions, scalar and array.

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** IEEE 754 binary16 bits → number (subnormals, ±0, ±Infinity and NaN included). */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * number → IEEE 754 binary16 bits, rounding to nearest even (x is first rounded to float32, as
 * a checkpoint value would be). Overflow gives ±Infinity, NaN gives a quiet NaN.
 */
export function float32ToFloat16(x: number): number {
  scratchFloat[0] = x;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) return sign | subnormalHalfBits(exponent, mantissa);
  // Normal: keep 10 of 23 mantissa bits; a carry out of the mantissa correctly bumps the exponent
  // (up to Infinity).
  const kept = (halfExponent << 10) | (mantissa >>> 13);
  return sign | (kept + roundUpBit(mantissa, 13, kept));
}

/** Magnitude bits of a float32 (biased exponent ≤ 112) as a binary16 subnormal or zero. */
function subnormalHalfBits(exponent: number, mantissa: number): number {
  // value = significand × 2^(exponent − 150) and a half subnormal is m × 2^-24, so
  // m = significand >> (126 − exponent).
  const shift = 126 - exponent;
  if (shift > 24) return 0; // below half of the smallest subnormal
  const significand = mantissa | 0x800000;
  const kept = significand >>> shift;
  return kept + roundUpBit(significand, shift, kept);
}

/** 1 when dropping the low `dropped` bits of `value` must round `kept` up (nearest, ties to even). */
function roundUpBit(value: number, dropped: number, kept: number): number {
  const remainder = value & ((1 << dropped) - 1);
  const half = 1 << (dropped - 1);
  return remainder > half || (remainder === half && (kept & 1) === 1) ? 1 : 0;
}

/** bfloat16 bits → number: the top half of a float32. */
export function bfloat16ToFloat32(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}

/** number → bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16(x: number): number {
  scratchFloat[0] = x;
  const bits = scratchBits[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

let float16Table: Float32Array | undefined;

/** binary16 bits → float32 for a whole array (through a 65536-entry table). */
export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  if (!float16Table) {
    float16Table = new Float32Array(0x10000);
    for (let b = 0; b < 0x10000; b++) float16Table[b] = float16ToFloat32(b);
  }
  const table = float16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/**
 * float32 → binary16 bits for a whole array, as float32ToFloat16 rounds each value; values in
 * half's normal range (nearly all weights) take an inlined path on the float's bits, which
 * makes converting a whole model's weights take a fraction of a second.
 */
export function float32ArrayToFloat16(values: ArrayLike<number>): Uint16Array {
  const floats = values instanceof Float32Array ? values : Float32Array.from(values);
  const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
  const out = new Uint16Array(floats.length);
  for (let i = 0; i < out.length; i++) {
    const b = bits[i]!;
    const exponent = (b >>> 23) & 0xff;
    // Biased float32 exponents 113…142 are half's normal exponents 1…30.
    if (exponent < 113 || exponent > 142) {
      out[i] = float32ToFloat16(floats[i]!);
      continue;
    }
    const kept = ((exponent - 112) << 10) | ((b & 0x7fffff) >>> 13);
    const remainder = b & 0x1fff;
    out[i] = ((b >>> 16) & 0x8000) | (kept + (remainder > 0x1000 || (remainder === 0x1000 && (kept & 1) === 1) ? 1 : 0));
  }
  return out;
}

/** bfloat16 bits → float32 for a whole array (widening to the top 16 bits of each float). */
export function bfloat16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

export function float32ArrayToBfloat16(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, float32ToBfloat16);
}

// ---------------------------------------------------------------------------------------------
// Writing (fixtures, synthetic checkpoints)
