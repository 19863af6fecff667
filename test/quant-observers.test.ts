// Calibration observers and range selection on distributions with known answers.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/fixtures/random.js";
import { type Range, activationParams } from "../src/quant/int8.js";
import { ChannelAbsMaxObserver, HistogramObserver, type HistogramState, MinMaxObserver } from "../src/observers/observers.js";
import { type CalibrationMethod, expectedSquaredError, quantile, selectRange } from "../src/quant/range-selection.js";

const finite = (min: number, max: number) =>
  fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true });

/** Splits `values` into batches at the given cut points. */
function batches(values: number[], cuts: number[]): Float32Array[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * values.length)))].sort((a, b) => a - b);
  const out: Float32Array[] = [];
  let start = 0;
  for (const p of [...points, values.length]) {
    if (p > start) out.push(Float32Array.from(values.slice(start, p)));
    start = Math.max(start, p);
  }
  return out;
}

function histogramOf(values: ArrayLike<number>, bins = 2048, batchSize = values.length): HistogramState {
  const observer = new HistogramObserver(bins);
  for (let i = 0; i < values.length; i += batchSize) observer.observe(Array.prototype.slice.call(values, i, i + batchSize) as number[]);
  return observer.state();
}

function exactQuantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
}

describe("MinMax observer", () => {
  it("keeps the exact extremes, count and Σx² across any batching", () => {
    fc.assert(
      fc.property(
        fc.array(finite(-1e6, 1e6), { minLength: 1, maxLength: 300 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true })),
        (values, cuts) => {
          const observer = new MinMaxObserver();
          for (const batch of batches(values, cuts)) observer.observe(batch);
          const state = observer.state();
          const f32 = Float32Array.from(values);
          expect(state.min).toBe(Math.min(...f32));
          expect(state.max).toBe(Math.max(...f32));
          expect(state.count).toBe(values.length);
          expect(state.sumSquares).toBeCloseTo(
            f32.reduce((a, v) => a + v * v, 0),
            -2,
          );
        },
      ),
    );
  });

  it("counts NaN and infinities apart instead of letting them into the range", () => {
    const observer = new MinMaxObserver();
    observer.observe([1, Number.NaN, -2, Infinity, 3]);
    expect(observer.state()).toMatchObject({ min: -2, max: 3, count: 3, nonFinite: 2 });
  });
});

describe("histogram observer", () => {
  it("merges batches whose range keeps growing: every value counted, quantiles within one bin", () => {
    fc.assert(
      fc.property(
        fc.array(finite(-1e4, 1e4), { minLength: 20, maxLength: 400 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        fc.integer({ min: 16, max: 512 }),
        (values, cuts, bins) => {
          const observer = new HistogramObserver(bins);
          for (const batch of batches(values, cuts)) observer.observe(batch);
          const state = observer.state();
          expect(state.counts.reduce((a, b) => a + b, 0)).toBe(values.length);
          const sorted = Float64Array.from(Float32Array.from(values)).sort();
          expect(state.lo).toBeLessThanOrEqual(sorted[0]!);
          expect(state.hi).toBeGreaterThan(sorted[sorted.length - 1]!);
          const width = (state.hi - state.lo) / bins;
          for (const q of [0.1, 0.5, 0.9]) {
            const estimate = quantile(state, q);
            // The q-th value lies in the bin the estimate falls in, or a neighbour (ties at ranks).
            const below = exactQuantile(sorted, Math.max(0, q - 1 / values.length));
            const above = exactQuantile(sorted, Math.min(1, q + 1 / values.length));
            expect(estimate).toBeGreaterThanOrEqual(below - width * 1.0001);
            expect(estimate).toBeLessThanOrEqual(above + width * 1.0001);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("re-binning on growth is exact: growing batch by batch gives the same counts as binning on the final grid", () => {
    const rng = new Rng(7);
    const observer = new HistogramObserver(256);
    const all: number[] = [];
    for (let scale = 1; scale <= 64; scale *= 2) {
      const batch = Array.from({ length: 500 }, () => Math.fround(rng.normal() * scale));
      all.push(...batch);
      observer.observe(batch);
    }
    const state = observer.state();
    const width = (state.hi - state.lo) / 256;
    const direct = new Float64Array(256);
    for (const v of all) direct[Math.min(255, Math.floor((v - state.lo) / width))]!++;
    const moved = state.counts.reduce((a, n, b) => a + Math.abs(n - direct[b]!), 0);
    expect(moved).toBeLessThanOrEqual(2); // at most a value sitting exactly on a shared edge
  });
});

describe("range selection on known distributions", () => {
  const type = "int8" as const;
  const pick = (state: HistogramState, method: CalibrationMethod, percentile = 99.99): Range =>
    selectRange(state, method, { activationType: type, percentile });

  const sample = (n: number, draw: (rng: Rng) => number, seed = 1) => {
    const rng = new Rng(seed);
    return Float32Array.from({ length: n }, () => draw(rng));
  };

  it("uniform on [-2, 6]: no method clips more than a few percent", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (seed) => {
        const state = histogramOf(
          sample(100_000, (r) => -2 + 8 * r.next(), seed),
          2048,
          25_000,
        );
        for (const method of ["minmax", "percentile", "entropy", "mse"] as const) {
          const range = pick(state, method);
          expect(range.max, method).toBeGreaterThan(6 * 0.95);
          expect(range.min, method).toBeLessThan(-2 * 0.9);
          expect(range.max).toBeLessThanOrEqual(state.max);
        }
      }),
      { numRuns: 5 },
    );
  });

  it("Gaussian: percentile 99.99 is ±3.72σ, MSE-optimal 8-bit clipping ≈ 3.9σ (ACIQ)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0.01, max: 100, noNaN: true }), (seed, sigma) => {
        const state = histogramOf(
          sample(400_000, (r) => sigma * r.normal(), seed),
          2048,
          100_000,
        );
        const percentile = pick(state, "percentile");
        expect(percentile.max / sigma).toBeCloseTo(3.72, 0);
        expect(Math.abs(percentile.min / sigma + 3.72)).toBeLessThan(0.25);
        const mse = pick(state, "mse");
        expect(mse.max / sigma).toBeGreaterThan(3.3);
        expect(mse.max / sigma).toBeLessThan(4.6);
        // Smooth, outlier-free data: the entropy criterion barely clips.
        const entropy = pick(state, "entropy");
        expect(entropy.max / sigma).toBeGreaterThan(3);
        expect(entropy.max).toBeLessThanOrEqual(state.max);
      }),
      { numRuns: 4 },
    );
  });

  it("Laplace(b): percentile 99.99 is ±b·ln 5000, MSE-optimal 8-bit clipping ≈ 9.9b (ACIQ), no range beats MSE's", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0.01, max: 100, noNaN: true }), (seed, b) => {
        const laplace = (r: Rng) => {
          const u = r.next() - 0.5;
          return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
        };
        const state = histogramOf(sample(400_000, laplace, seed), 2048, 100_000);
        expect(pick(state, "percentile").max / b).toBeCloseTo(Math.log(5000), 0);
        const mse = pick(state, "mse");
        expect(mse.max / b).toBeGreaterThan(8.5);
        expect(mse.max / b).toBeLessThan(11.3);
        const errorOf = (range: Range) => expectedSquaredError(state, range, type);
        for (const method of ["minmax", "percentile", "entropy"] as const) {
          expect(errorOf(mse), method).toBeLessThanOrEqual(errorOf(pick(state, method)) * 1.0001);
        }
      }),
      { numRuns: 4 },
    );
  });

  it("a few huge outliers: MinMax is dragged to them, percentile ignores them, entropy clips them, MSE weighs them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 200, max: 1e4, noNaN: true }),
        (seed, count, size) => {
          const values = sample(50_000, (r) => r.normal(), seed);
          for (let i = 0; i < count; i++) values[(i * 7919) % values.length] = i % 2 ? -size : size;
          const state = histogramOf(values, 2048, 10_000);
          const binWidth = (2 * size) / 2048;
          const minmax = pick(state, "minmax");
          expect(minmax.max).toBeGreaterThan(size * 0.99);
          const percentile = pick(state, "percentile");
          // ±3.72σ, up to the resolution of 2048 bins stretched over the outliers.
          expect(percentile.max).toBeLessThan(4.3 + binWidth);
          expect(percentile.min).toBeGreaterThan(-4.3 - binWidth);
          // TensorRT's entropy search starts at 128 of 2048 |x| bins: it clips to at most max/16.
          const entropy = pick(state, "entropy");
          expect(entropy.max).toBeLessThanOrEqual((size / 16) * 1.01);
          expect(entropy.max).toBeGreaterThan(3.5);
          // MSE pays (x − clip)² for each outlier: it clips only as far as its criterion says.
          const errorOf = (range: Range) => expectedSquaredError(state, range, type);
          for (const other of [minmax, percentile, entropy])
            expect(errorOf(pick(state, "mse"))).toBeLessThanOrEqual(errorOf(other) * 1.0001);
        },
      ),
      { numRuns: 5 },
    );
  });
});

describe("activation parameters", () => {
  it("map the range onto the integer type with zero exactly representable", () => {
    fc.assert(
      fc.property(finite(-100, 0), finite(0, 100), fc.constantFrom("int8" as const, "uint8" as const), (min, max, type) => {
        fc.pre(max - min > 1e-3);
        const { scale, zeroPoint } = activationParams({ min, max }, type);
        const [qmin, qmax] = type === "int8" ? [-128, 127] : [0, 255];
        expect(zeroPoint).toBeGreaterThanOrEqual(qmin);
        expect(zeroPoint).toBeLessThanOrEqual(qmax);
        expect(Number.isInteger(zeroPoint)).toBe(true);
        // Both ends land within one step of the integer range.
        expect((min / scale + zeroPoint - qmin) / 1).toBeGreaterThan(-1.01);
        expect(max / scale + zeroPoint - qmax).toBeLessThan(1.01);
      }),
    );
  });
});

describe("per-channel maxima", () => {
  it("take max |x| of each channel of the last axis", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(finite(-100, 100), { minLength: 1, maxLength: 20 }), (channels, rows) => {
        const values = Float32Array.from(
          { length: channels * rows.length },
          (_, i) => rows[Math.floor(i / channels)]! * (1 + (i % channels)),
        );
        const observer = new ChannelAbsMaxObserver();
        observer.observe(values, channels);
        const absMax = observer.state()!;
        for (let c = 0; c < channels; c++) {
          expect(absMax[c]).toBeCloseTo(Math.max(...rows.map((r) => Math.abs(Math.fround(r * (1 + c))))), 3);
        }
      }),
    );
  });
});
