// The arithmetic of 8-bit quantization: affine parameters for activations and symmetric
// per-channel weights.

export type ActivationType = "int8" | "uint8";

export interface Range {
  min: number;
  max: number;
}

export interface AffineParams {
  scale: number;
  zeroPoint: number;
}

/** Symmetric weights use [-127, 127] so that negation is exact and no value sits alone at -128. */
export const WEIGHT_QMAX = 127;

export function integerBounds(type: ActivationType): { qmin: number; qmax: number } {
  return type === "int8" ? { qmin: -128, qmax: 127 } : { qmin: 0, qmax: 255 };
}

/**
 * Scale and zero point mapping `range` (widened to contain 0, so zero — padding, ReLU output —
 * is exact) onto the full integer range of `type`.
 */
export function activationParams(range: Range, type: ActivationType): AffineParams {
  const { qmin, qmax } = integerBounds(type);
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - lo / scale)));
  return { scale, zeroPoint };
}

export interface PerChannelInt8 {
  values: Int8Array;
  /** One scale per index along the channel axis. */
  scales: Float32Array;
}

/**
 * Symmetric int8 quantization with one scale per index of `axis` (the output channel of a
 * weight, the hidden channel of an embedding table): scale = max|w| / 127, zero point 0.
 */
export function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number): PerChannelInt8 {
  const { outer, channels, inner } = axisLayout(dims, axis);
  const absMax = new Float32Array(channels);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let m = absMax[c]!;
      for (let k = 0; k < inner; k++, i++) {
        const a = Math.abs(values[i]!);
        if (a > m) m = a;
      }
      absMax[c] = m;
    }
  }
  const scales = absMax.map((m) => (m > 0 && Number.isFinite(m) ? m / WEIGHT_QMAX : 1));
  const q = new Int8Array(values.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = scales[c]!;
      for (let k = 0; k < inner; k++, i++) {
        // floor(x + 0.5) is Math.round (ties up) for these magnitudes, and faster in V8.
        const r = Math.floor(values[i]! / scale + 0.5);
        q[i] = r > WEIGHT_QMAX ? WEIGHT_QMAX : r < -WEIGHT_QMAX ? -WEIGHT_QMAX : r;
      }
    }
  }
  return { values: q, scales };
}

/** Row-major dims seen as [outer, channels, inner] around `axis`. */
export function axisLayout(dims: readonly number[], axis: number): { outer: number; channels: number; inner: number } {
  const a = axis < 0 ? axis + dims.length : axis;
  if (a < 0 || a >= dims.length) throw new Error(`axis ${axis} is outside dims [${dims}]`);
  const product = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);
  return { outer: product(dims.slice(0, a)), channels: dims[a]!, inner: product(dims.slice(a + 1)) };
}
