// Turning an observed distribution into the range an activation is quantized over. MinMax
// keeps every value (and lets one outlier waste the int8 levels); the histogram methods clip:
// by percentile, by the entropy criterion of TensorRT (the threshold whose 128-level
// quantization loses the least information, measured by KL divergence), or by the range with
// the least expected squared error (rounding inside, clipping outside).
import { type ActivationType, type Range, integerBounds } from "./int8.js";
import type { HistogramState, ObserverState } from "../observers/observers.js";

export const CALIBRATION_METHODS = ["minmax", "percentile", "entropy", "mse"] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

export interface RangeOptions {
  activationType: ActivationType;
  /** Percentile kept by the percentile method (default 99.999). */
  percentile?: number;
}

export const DEFAULT_PERCENTILE = 99.999;

export function selectRange(state: ObserverState, method: CalibrationMethod, options: RangeOptions): Range {
  if (state.count === 0) throw new Error("no finite values were observed");
  if (method === "minmax") return { min: state.min, max: state.max };
  if (state.kind !== "histogram") throw new Error(`the ${method} method needs a histogram observer`);
  switch (method) {
    case "percentile":
      return percentileRange(state, options.percentile ?? DEFAULT_PERCENTILE);
    case "entropy":
      return entropyRange(state);
    case "mse":
      return mseRange(state, options.activationType);
  }
}

/** Values between the (100 − p)th and the pth percentile. */
export function percentileRange(state: HistogramState, percentile: number): Range {
  if (!(percentile > 50 && percentile <= 100)) throw new Error(`percentile must be in (50, 100], not ${percentile}`);
  const tail = 1 - percentile / 100;
  return { min: Math.max(state.min, quantile(state, tail)), max: Math.min(state.max, quantile(state, 1 - tail)) };
}

/** The value below which a fraction `q` of the counts lie (linear within a bin). */
export function quantile(state: HistogramState, q: number): number {
  const { counts, lo, hi } = state;
  const total = counts.reduce((a, b) => a + b, 0);
  const target = q * total;
  const width = (hi - lo) / counts.length;
  let cumulative = 0;
  for (let b = 0; b < counts.length; b++) {
    const n = counts[b]!;
    if (n > 0 && cumulative + n >= target) return lo + (b + (target - cumulative) / n) * width;
    cumulative += n;
  }
  return hi;
}

const ENTROPY_LEVELS = 128;

/**
 * TensorRT's entropy calibration on |x|: for each candidate threshold, compare the clipped
 * distribution P (outliers folded into the last bin) with Q, its 128-level quantization, and
 * keep the threshold with the least KL(P‖Q). The symmetric threshold then clips both sides.
 */
export function entropyRange(state: HistogramState): Range {
  const { counts: abs, width } = absoluteHistogram(state);
  const bins = abs.length;
  if (bins <= ENTROPY_LEVELS) return { min: state.min, max: state.max };
  const stride = Math.max(1, Math.floor((bins - ENTROPY_LEVELS) / 128));
  const suffix = new Float64Array(bins + 1);
  for (let b = bins - 1; b >= 0; b--) suffix[b] = suffix[b + 1]! + abs[b]!;
  let best = { divergence: Infinity, bins };
  for (let i = ENTROPY_LEVELS; i <= bins; i += stride) {
    const divergence = clippedDivergence(abs, i, suffix[i]!);
    if (divergence < best.divergence) best = { divergence, bins: i };
  }
  const threshold = best.bins * width;
  return { min: Math.max(state.min, -threshold), max: Math.min(state.max, threshold) };
}

function clippedDivergence(abs: Float64Array, kept: number, outliers: number): number {
  const p = abs.slice(0, kept);
  p[kept - 1]! += outliers;
  const q = new Float64Array(kept);
  for (let level = 0; level < ENTROPY_LEVELS; level++) {
    const start = Math.floor((level * kept) / ENTROPY_LEVELS);
    const end = Math.floor(((level + 1) * kept) / ENTROPY_LEVELS);
    let total = 0;
    let nonzero = 0;
    for (let b = start; b < end; b++) {
      total += abs[b]!;
      if (abs[b]! > 0) nonzero++;
    }
    for (let b = start; b < end; b++) q[b] = abs[b]! > 0 ? total / nonzero : 0;
  }
  return klDivergence(p, q);
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  const pTotal = p.reduce((a, b) => a + b, 0);
  const qTotal = q.reduce((a, b) => a + b, 0);
  if (pTotal === 0 || qTotal === 0) return Infinity;
  let divergence = 0;
  for (let b = 0; b < p.length; b++) {
    if (p[b]! === 0) continue;
    const pb = p[b]! / pTotal;
    const qb = Math.max(q[b]! / qTotal, 1e-12); // P's folded outliers may sit where Q has nothing
    divergence += pb * Math.log(pb / qb);
  }
  return divergence;
}

/** The histogram of |x| on as many bins as `state`, over [0, max|x|]. */
export function absoluteHistogram(state: HistogramState): { counts: Float64Array; width: number } {
  const bins = state.counts.length;
  const top = Math.max(Math.abs(state.min), Math.abs(state.max));
  const width = top / bins;
  const counts = new Float64Array(bins);
  if (!(width > 0)) return { counts, width: 0 };
  const spread = (a: number, b: number, n: number) => {
    if (!(b > a)) return;
    const first = Math.min(bins - 1, Math.floor(a / width));
    const last = Math.min(bins - 1, Math.floor(b / width));
    for (let k = first; k <= last; k++) {
      const overlap = Math.min(b, (k + 1) * width) - Math.max(a, k * width);
      if (overlap > 0) counts[k]! += (n * overlap) / (b - a);
    }
  };
  const sourceWidth = (state.hi - state.lo) / bins;
  state.counts.forEach((n, b) => {
    if (n === 0) return;
    const a = state.lo + b * sourceWidth;
    const e = a + sourceWidth;
    if (a >= 0) spread(a, e, n);
    else if (e <= 0) spread(-e, -a, n);
    else {
      spread(0, -a, (n * -a) / sourceWidth);
      spread(0, e, (n * e) / sourceWidth);
    }
  });
  return { counts, width };
}

/**
 * The range with the least expected squared error: each end is shrunk towards 0 in 1% steps,
 * one end at a time (both share the step size, so they are refined alternately).
 */
export function mseRange(state: HistogramState, type: ActivationType): Range {
  const full = { min: Math.min(state.min, 0), max: Math.max(state.max, 0) };
  const candidates = (end: number) => Array.from({ length: 100 }, (_, step) => end * (1 - step / 100));
  let best = { error: expectedSquaredError(state, full, type), range: full };
  for (let round = 0; round < 3; round++) {
    const before = best.error;
    for (const max of candidates(full.max)) {
      const range = { min: best.range.min, max };
      const error = expectedSquaredError(state, range, type);
      if (error < best.error) best = { error, range };
    }
    for (const min of candidates(full.min)) {
      const range = { min, max: best.range.max };
      const error = expectedSquaredError(state, range, type);
      if (error < best.error) best = { error, range };
    }
    if (!(best.error < before)) break;
  }
  return { min: Math.max(state.min, best.range.min), max: Math.min(state.max, best.range.max) };
}

/** Expected squared error per value when `state`'s values are quantized over `range`. */
export function expectedSquaredError(state: HistogramState, range: Range, type: ActivationType): number {
  const { qmin, qmax } = integerBounds(type);
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  const step = (hi - lo) / (qmax - qmin);
  const rounding = (step * step) / 12;
  const width = (state.hi - state.lo) / state.counts.length;
  let error = 0;
  let total = 0;
  state.counts.forEach((n, b) => {
    if (n === 0) return;
    const center = Math.min(state.max, Math.max(state.min, state.lo + (b + 0.5) * width));
    const clipped = center < lo ? lo - center : center > hi ? center - hi : 0;
    error += n * (clipped > 0 ? clipped * clipped : rounding);
    total += n;
  });
  return total > 0 ? error / total : 0;
}
