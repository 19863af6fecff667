// INT4 methods beyond round-to-nearest: GPTQ against a direct float64 computation of its
// definition (the optimal-brain-surgeon update with the explicit inverse of the Hessian of the
// features left), the Cholesky factor it uses, AWQ's scales on a channel with large
// activations, asymmetric blocks, and the Gram matrices the calibration graph computes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { expandAttention } from "../src/quant/attention-expansion.js";
import { withOutputs } from "../src/quant/calibration.js";
import {
  type BlockFormat,
  blockCode,
  blockFormat,
  blockParameters,
  dequantizeCode,
  dequantizeMatMulWeight,
  quantizeMatMulWeight,
} from "../src/quant/int4.js";
import { collectInputGrams, int4MatMulInputs } from "../src/quant/int4-calibration.js";
import { awqScales, gptq, quantizeWeightWith, upperCholeskyOfInverse } from "../src/quant/int4-methods.js";
import { runInProcess, syntheticEncoder, tempDir } from "./helpers/index.js";

/** Inverse of a small symmetric matrix by Gauss-Jordan elimination (float64). */
function inverse(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const p = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= p;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

/**
 * GPTQ by its definition: feature i rounded (block parameters from the weights as updated when
 * its block starts), the features left F = {i+1…} corrected by δ = −(w_i − q_i) [H_F'⁻¹]_{i,F} /
 * [H_F'⁻¹]_ii with F' = {i…}, the inverse taken explicitly every step. Returns the dequantized W.
 */
function directGptq(w: number[][], h: number[][], format: BlockFormat, damping: number): number[][] {
  const k = w.length;
  const n = w[0]!.length;
  const mean = h.reduce((s, row, i) => s + row[i]!, 0) / k;
  const damped = h.map((row, i) => row.map((x, j) => (i === j ? x + damping * mean : x)));
  const work = w.map((row) => [...row]);
  const out = w.map((row) => row.map(() => 0));
  const params: Array<{ scale: number; zero: number }> = [];
  for (let i = 0; i < k; i++) {
    if (i % format.blockSize === 0) {
      for (let c = 0; c < n; c++) {
        const block = work.slice(i, i + format.blockSize).map((row) => row[c]!);
        params[c] = blockParameters(block, block.length, format);
      }
    }
    const rest = inverse(damped.slice(i).map((row) => row.slice(i)));
    for (let c = 0; c < n; c++) {
      const { scale, zero } = params[c]!;
      const q = dequantizeCode(blockCode(work[i]![c]!, scale, format.bits, zero), scale, format.bits, zero);
      out[i]![c] = q;
      const error = (work[i]![c]! - q) / rest[0]![0]!;
      for (let j = i + 1; j < k; j++) work[j]![c]! -= error * rest[0]![j - i]!;
    }
  }
  return out;
}

const flat = (rows: number[][]) => Float64Array.from(rows.flat());

describe("GPTQ", () => {
  it("upperCholeskyOfInverse: U upper triangular, UᵀU = H⁻¹", () => {
    const h = [
      [4, 1, 0.5],
      [1, 3, 0.2],
      [0.5, 0.2, 2],
    ];
    const u = upperCholeskyOfInverse(flat(h), 3);
    const inv = inverse(h);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (j < i) expect(u[i * 3 + j]).toBe(0);
        let s = 0;
        for (let p = 0; p < 3; p++) s += u[p * 3 + i]! * u[p * 3 + j]!;
        expect(s).toBeCloseTo(inv[i]![j]!, 12);
      }
    }
  });

  it("a 4×2 weight with a known Hessian, worked by hand: the first feature's rounding error moves the correlated second", () => {
    // K = 4 features, N = 2 outputs, one block of 4, H = I plus 0.5 between features 0 and 1, no
    // damping: H⁻¹ over {0, 1} is [[4/3, −2/3], [−2/3, 4/3]]. Column 0 [0.8, 0.1, 0, −0.5]: scale
    // 0.8 / −8 = −0.1, every value exact, nothing moves. Column 1 [0.34, 0.04, 0, −0.8]: scale
    // −0.8 / −8 = 0.1; 0.34 → 0.3, error 0.04; feature 1 moves by −0.04 · (−2/3) / (4/3) = +0.02
    // to 0.06 and rounds to 0.1 (round-to-nearest would give 0); features 2 and 3 are
    // uncorrelated with both and stay exact.
    const w = [
      [0.8, 0.34],
      [0.1, 0.04],
      [0, 0],
      [-0.5, -0.8],
    ];
    const h = [
      [1, 0.5, 0, 0],
      [0.5, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ];
    const format = blockFormat(4, 4);
    const q = dequantizeMatMulWeight(gptq(Float64Array.from(w.flat()), 4, 2, flat(h), format, 0), 4, 2);
    expect(Array.from(q, (x) => Number(x.toFixed(6)))).toEqual([0.8, 0.3, 0.1, 0.1, 0, 0, -0.5, -0.8]);
    expect(q).toEqual(Float32Array.from(directGptq(w, h, format, 0).flat()));
  });

  it("equals the direct float64 computation (lazy batches, blocks, damping, symmetric and asymmetric)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom(4, 8),
        fc.boolean(),
        fc.constantFrom(16, 40, 136),
        (seed, blockSize, symmetric, k) => {
          let state = seed;
          const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
          const n = 3;
          const w = Array.from({ length: k }, () => Array.from({ length: n }, random));
          // H = XᵀX of correlated rows (feature j mixes in feature j − 1).
          const rows = Array.from({ length: 2 * k }, () => {
            const x = Array.from({ length: k }, random);
            return x.map((v, j) => v + (j > 0 ? 0.7 * x[j - 1]! : 0));
          });
          const h = Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => rows.reduce((s, x) => s + x[i]! * x[j]!, 0)));
          const format = blockFormat(4, blockSize, symmetric);
          const got = dequantizeMatMulWeight(gptq(Float64Array.from(w.flat()), k, n, flat(h), format, 0.01), k, n);
          const want = directGptq(w, h, format, 0.01).flat();
          for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 12 },
    );
  });

  it("lowers the output error tr(ΔWᵀ H ΔW) below round-to-nearest's on correlated inputs", () => {
    const k = 64;
    const n = 16;
    let state = 7;
    const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const w = Float32Array.from({ length: k * n }, random);
    const rows = Array.from({ length: 256 }, () => {
      const common = random();
      return Array.from({ length: k }, () => random() + 2 * common);
    });
    const h = new Float64Array(k * k);
    for (const x of rows) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += x[i]! * x[j]!;
    const outputError = (restored: Float32Array) => {
      let total = 0;
      for (let c = 0; c < n; c++) {
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++)
            total += (w[i * n + c]! - restored[i * n + c]!) * h[i * k + j]! * (w[j * n + c]! - restored[j * n + c]!);
        }
      }
      return total;
    };
    const format = blockFormat(4, 32);
    const rtn = outputError(dequantizeMatMulWeight(quantizeMatMulWeight(w, k, n, format), k, n));
    const second = outputError(dequantizeMatMulWeight(gptq(w, k, n, h, format), k, n));
    expect(second).toBeLessThan(rtn * 0.5);
  });
});

describe("AWQ", () => {
  it("scales up the input channel that carries large activations; α = 0 (no scaling) when all channels are alike", () => {
    const k = 32;
    const n = 8;
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 1.7));
    const loud = new Float64Array(k * k);
    for (let i = 0; i < k; i++) loud[i * k + i] = i === 5 ? 10_000 : 1;
    const scale = awqScales(w, k, n, loud, blockFormat());
    expect(scale[5]).toBeGreaterThan(Math.max(...Array.from(scale).filter((_, i) => i !== 5)));
    const even = new Float64Array(k * k);
    for (let i = 0; i < k; i++) even[i * k + i] = 3;
    expect(Array.from(awqScales(w, k, n, even, blockFormat()))).toEqual(new Array(k).fill(1));
  });

  it("asymmetric blocks keep 0 exact and span the block's range", () => {
    const p = blockParameters([0.1, 0.9, 0.5], 3, blockFormat(4, 32, false));
    expect(p.zero).toBe(0);
    expect(p.scale).toBeCloseTo(0.06, 6);
    expect(dequantizeCode(blockCode(0, p.scale, 4, p.zero), p.scale, 4, p.zero)).toBe(0);
    const q = quantizeWeightWith("rtn", Float32Array.from([-1, 3]), 2, 1, blockFormat(4, 32, false));
    expect(Array.from(dequantizeMatMulWeight(q.blocks, 2, 1), (x) => Number(x.toFixed(5)))).toEqual([-1.06667, 2.93333]); // zero point round(1 / (4 / 15)) = 4: −1 → code 0 → −4 · 4/15
  });
});

describe("calibration Gram matrices", () => {
  it("the augmented graph computes XᵀX of each MatMul input (rows of every token); summed over batches", async () => {
    const encoder = syntheticEncoder(syntheticBert({ seed: 5, layers: 1, hidden: 32, heads: 2, intermediate: 64, vocab: 500 }));
    const model = expandAttention(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }));
    const inputs = int4MatMulInputs(model);
    const batches = [
      randomBatch(encoder.config, { batch: 2, sequence: 5, seed: 1 }),
      randomBatch(encoder.config, { batch: 1, sequence: 3, seed: 2 }),
    ];
    const grams = await collectInputGrams(model, batches, tempDir());
    expect([...grams.keys()]).toEqual([...inputs.keys()]);
    // The first input, read back directly, against the sum of its rows' outer products.
    const [first, k] = [...inputs][0]!;
    const want = new Float64Array(k * k);
    for (const batch of batches) {
      const x = (await runInProcess(withOutputs(model, [first]), batch)).raw[first]!.data as Float32Array;
      for (let r = 0; r < x.length / k; r++)
        for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) want[i * k + j]! += x[r * k + i]! * x[r * k + j]!;
    }
    const got = grams.get(first)!;
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < k * k; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(scale * 1e-5);
  });
});
