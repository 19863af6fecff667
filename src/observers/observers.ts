// Calibration observers: they watch an activation batch after batch and keep what range
// selection needs. MinMax keeps the extremes; the histogram keeps the distribution on a fixed
// number of bins, growing its range when a batch goes beyond it (re-binning exactly: the new bin
// width is a whole multiple of the old one, and the old edges stay edges). Both are plain data
// once collected (structured-clone friendly), so they can be computed in the onnxruntime worker.

/** What a MinMax observer accumulates. */
export interface MinMaxState {
  kind: "minmax";
  min: number;
  max: number;
  /** Finite values seen. */
  count: number;
  /** Σx² of finite values (for noise-to-signal estimates). */
  sumSquares: number;
  /** NaN or ±Infinity values seen: such a tensor cannot be calibrated. */
  nonFinite: number;
}

/** A histogram over [lo, hi) with equal bins, plus the exact extremes. */
export interface HistogramState extends Omit<MinMaxState, "kind"> {
  kind: "histogram";
  lo: number;
  hi: number;
  counts: Float64Array;
}

export type ObserverState = MinMaxState | HistogramState;

export const DEFAULT_BINS = 2048;

/** Running min/max (and Σx²) of the finite values. */
export class MinMaxObserver {
  protected stats: MinMaxState = { kind: "minmax", min: Infinity, max: -Infinity, count: 0, sumSquares: 0, nonFinite: 0 };

  /** Adds a batch; returns its own summary (the histogram bins only the finite values). */
  observe(values: ArrayLike<number>): BatchSummary {
    const batch = summarize(values);
    const s = this.stats;
    this.stats = {
      kind: "minmax",
      min: Math.min(s.min, batch.min),
      max: Math.max(s.max, batch.max),
      count: s.count + batch.count,
      sumSquares: s.sumSquares + batch.sumSquares,
      nonFinite: s.nonFinite + batch.nonFinite,
    };
    return batch;
  }

  state(): MinMaxState {
    return { ...this.stats };
  }
}

interface BatchSummary {
  min: number;
  max: number;
  count: number;
  sumSquares: number;
  nonFinite: number;
}

/**
 * Extremes and Σx² of the finite values. The common all-finite case runs branch-free (a NaN or
 * infinity shows up in Σx²); only then is the batch rescanned value by value.
 */
function summarize(values: ArrayLike<number>): BatchSummary {
  let min = Infinity;
  let max = -Infinity;
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    min = v < min ? v : min;
    max = v > max ? v : max;
    sumSquares += v * v;
  }
  if (Number.isFinite(sumSquares)) return { min, max, count: values.length, sumSquares, nonFinite: 0 };
  min = Infinity;
  max = -Infinity;
  sumSquares = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    min = v < min ? v : min;
    max = v > max ? v : max;
    sumSquares += v * v;
    count++;
  }
  return { min, max, count, sumSquares, nonFinite: values.length - count };
}

/** Histogram of the finite values, merged across batches. */
export class HistogramObserver {
  private minMax = new MinMaxObserver();
  private lo = 0;
  private hi = 0;
  private counts: Float64Array;

  constructor(readonly bins = DEFAULT_BINS) {
    if (!Number.isInteger(bins) || bins < 2) throw new Error(`a histogram needs at least 2 bins, not ${bins}`);
    this.counts = new Float64Array(bins);
  }

  observe(values: ArrayLike<number>): void {
    const batch = this.minMax.observe(values);
    if (batch.count === 0) return;
    this.cover(batch.min, batch.max);
    const { lo, bins, counts } = this;
    const scale = bins / (this.hi - lo);
    const last = bins - 1;
    if (batch.nonFinite === 0) {
      for (let i = 0; i < values.length; i++) {
        const bin = ((values[i]! - lo) * scale) | 0; // ≥ 0: cover() put lo at or below the batch minimum
        counts[bin > last ? last : bin]!++;
      }
      return;
    }
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) continue;
      const bin = ((v - lo) * scale) | 0;
      counts[bin > last ? last : bin]!++;
    }
  }

  state(): HistogramState {
    const { kind: _, ...stats } = this.minMax.state();
    return { kind: "histogram", ...stats, lo: this.lo, hi: this.hi, counts: Float64Array.from(this.counts) };
  }

  /** Makes [lo, hi) contain [min, max], re-binning what was counted so far. */
  private cover(min: number, max: number): void {
    const empty = this.hi === this.lo;
    if (!empty && min >= this.lo && max < this.hi) return;
    if (empty) {
      const span = max - min;
      const magnitude = Math.max(Math.abs(min), Math.abs(max));
      if (span > magnitude * 1e-6 && span * 1e-6 > Number.MIN_VALUE * this.bins) {
        this.lo = min;
        this.hi = max + span * 1e-6; // headroom: bins are half-open
      } else {
        // (Nearly) constant: a small range around it that bins can still divide.
        const pad = Math.max(magnitude, 1e-6) * 1e-3;
        this.lo = min - pad;
        this.hi = max + pad;
      }
      return;
    }
    // New width = k × old width, new lo = old lo − j × old width: every old bin falls wholly
    // into one new bin (old t → new floor((t + j) / k)), so re-binning loses nothing.
    const width = (this.hi - this.lo) / this.bins;
    const j = min < this.lo ? Math.ceil((this.lo - min) / width) : 0;
    const newLo = this.lo - j * width;
    const k = Math.max(Math.ceil((this.bins + j) / this.bins), Math.floor((max - newLo) / (this.bins * width)) + 1);
    const newHi = newLo + this.bins * k * width;
    if (!(newLo <= min && newHi > max)) {
      // Ranges so far apart that floating point cannot keep the edges aligned: start a fresh
      // grid over both and move the old counts (they all fit in a few of its bins) by overlap.
      const old = { lo: this.lo, width, counts: this.counts };
      this.lo = this.hi = 0;
      this.counts = new Float64Array(this.bins);
      this.cover(Math.min(min, old.lo), Math.max(max, old.lo + this.bins * old.width));
      old.counts.forEach((n, t) => {
        if (n > 0) this.spread(old.lo + t * old.width, old.lo + (t + 1) * old.width, n);
      });
      return;
    }
    const next = new Float64Array(this.bins);
    this.counts.forEach((n, t) => {
      if (n > 0) next[Math.min(this.bins - 1, Math.floor((t + j) / k))]! += n;
    });
    this.counts = next;
    this.lo = newLo;
    this.hi = newHi;
  }

  /** Adds `n` values spread uniformly over [a, b) into the overlapping bins. */
  private spread(a: number, b: number, n: number): void {
    const width = (this.hi - this.lo) / this.bins;
    const binOf = (x: number) => Math.min(this.bins - 1, Math.max(0, Math.floor((x - this.lo) / width)));
    let added = 0;
    if (b > a) {
      for (let bin = binOf(a); bin <= binOf(b); bin++) {
        const overlap = Math.min(b, this.lo + (bin + 1) * width) - Math.max(a, this.lo + bin * width);
        if (overlap <= 0) continue;
        const share = (n * overlap) / (b - a);
        this.counts[bin]! += share;
        added += share;
      }
    }
    // Whatever rounding left over (or a zero-width source bin) goes to the bin of the midpoint.
    if (n - added > 0) this.counts[binOf((a + b) / 2)]! += n - added;
  }
}

/** Largest |x| of each channel of the last axis (SmoothQuant's activation statistic). */
export class ChannelAbsMaxObserver {
  private absMax: Float32Array | undefined;

  observe(values: ArrayLike<number>, channels: number): void {
    if (channels <= 0 || values.length % channels !== 0) throw new Error(`${values.length} values do not split into ${channels} channels`);
    const absMax = (this.absMax ??= new Float32Array(channels));
    if (absMax.length !== channels) throw new Error(`channel count changed from ${absMax.length} to ${channels}`);
    for (let i = 0; i < values.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        const a = Math.abs(values[i + c]!);
        if (a > absMax[c]!) absMax[c] = a;
      }
    }
  }

  state(): Float32Array | undefined {
    return this.absMax && Float32Array.from(this.absMax);
  }
}
