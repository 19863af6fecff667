// How a MatMul weight [K, N] becomes 4-bit blocks, beyond round-to-nearest (int4.ts), using
// what calibration saw at the MatMul's input: the Gram matrix H = XᵀX of its rows.
//  - GPTQ (Frantar et al. 2022): the input features are quantized in order; each one's rounding
//    error is pushed onto the features not yet quantized, weighted by the inverse Hessian, so that
//    XW changes least. Block scales are taken from the weights as updated when the block starts.
//  - AWQ (Lin et al. 2023): input channel k's weights are multiplied by s_k = rms(x_k)^α before
//    rounding and the input divided by s_k (an input scale in the graph), so the channels that
//    carry large activations get finer steps; α is searched per MatMul on the output error.
import {
  type Block4,
  type BlockFormat,
  BlockWriter,
  blockCode,
  blockParameters,
  dequantizeCode,
  dequantizeMatMulWeight,
  quantizeMatMulWeight,
} from "./int4.js";

export const INT4_METHODS = ["rtn", "awq", "gptq", "awq+gptq"] as const;
export type Int4Method = (typeof INT4_METHODS)[number];

/** How the report names each method. */
export const INT4_METHOD_LABELS: Record<Int4Method, string> = {
  rtn: "rtn: round to nearest",
  awq: "awq: activation-aware input-channel scales (searched on the calibration Gram diagonal), then round to nearest",
  gptq: "gptq: second-order error compensation with the calibration Hessian XᵀX (1% damping)",
  "awq+gptq": "awq+gptq: activation-aware input-channel scales, then GPTQ on the scaled weights",
};

/** Does the method read calibration statistics (the Gram matrices of the MatMul inputs)? */
export const needsCalibration = (method: Int4Method): boolean => method !== "rtn";
export const usesInputScale = (method: Int4Method): boolean => method === "awq" || method === "awq+gptq";

/** GPTQ's damping: a fraction of the mean Hessian diagonal added to it (keeps it invertible). */
export const GPTQ_DAMPING = 0.01;
/** Input features updated together before the rest get the accumulated correction (the paper's lazy batch). */
const LAZY_BATCH = 128;
/** AWQ's α grid (0 is round-to-nearest itself). */
const AWQ_GRID = 20;

export interface Int4Weight {
  blocks: Block4;
  /** AWQ: the graph divides the MatMul input by these (one per input channel). */
  inputScale?: Float32Array;
}

/** The weight quantized by `method`; `gram` ([K, K], float) is required except for "rtn". */
export function quantizeWeightWith(
  method: Int4Method,
  values: Float32Array,
  k: number,
  n: number,
  format: BlockFormat,
  gram?: ArrayLike<number>,
): Int4Weight {
  if (method === "rtn") return { blocks: quantizeMatMulWeight(values, k, n, format) };
  if (!gram || gram.length !== k * k) throw new Error(`int4 method ${method} needs the ${k}×${k} Gram matrix of the MatMul input`);
  if (method === "gptq") return { blocks: gptq(values, k, n, gram, format) };
  const scale = awqScales(values, k, n, gram, format);
  const scaled = scaleRows(values, k, n, scale);
  if (method === "awq") return { blocks: quantizeMatMulWeight(scaled, k, n, format), inputScale: scale };
  // The scaled weight sees the scaled input x / s, whose Gram matrix is S⁻¹ H S⁻¹.
  const scaledGram = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) scaledGram[i * k + j] = gram[i * k + j]! / (scale[i]! * scale[j]!);
  return { blocks: gptq(scaled, k, n, scaledGram, format), inputScale: scale };
}

function scaleRows(values: ArrayLike<number>, k: number, n: number, scale: ArrayLike<number>): Float32Array {
  const out = new Float32Array(k * n);
  for (let row = 0; row < k; row++)
    for (let column = 0; column < n; column++) out[row * n + column] = values[row * n + column]! * scale[row]!;
  return out;
}

/**
 * AWQ scales: s = rms(x)^α (normalized so that √(max·min) = 1), α from a grid minimizing
 * Σ_k H_kk Σ_n (W_kn − Q(sW)_kn / s_k)², the output error with the cross terms of H dropped
 * (rounding errors of different channels are nearly uncorrelated).
 */
export function awqScales(values: Float32Array, k: number, n: number, gram: ArrayLike<number>, format: BlockFormat): Float32Array {
  const diagonal = Float64Array.from({ length: k }, (_, i) => Math.max(0, gram[i * k + i]!));
  const top = Math.max(...diagonal);
  const rms = diagonal.map((d) => Math.sqrt(Math.max(d, top * 1e-8) || 1));
  let best = { loss: Infinity, scale: new Float32Array(k).fill(1) };
  for (let step = 0; step <= AWQ_GRID; step++) {
    const alpha = step / AWQ_GRID;
    const raw = rms.map((r) => r ** alpha);
    const middle = Math.sqrt(Math.max(...raw) * Math.min(...raw));
    const scale = Float32Array.from(raw, (s) => s / middle);
    const q = quantizeMatMulWeight(scaleRows(values, k, n, scale), k, n, format);
    const restored = dequantizeMatMulWeight(q, k, n);
    let loss = 0;
    for (let row = 0; row < k; row++) {
      let rowError = 0;
      for (let column = 0; column < n; column++) {
        const error = values[row * n + column]! - restored[row * n + column]! / scale[row]!;
        rowError += error * error;
      }
      loss += diagonal[row]! * rowError;
    }
    if (loss < best.loss) best = { loss, scale };
  }
  return best.scale;
}

/**
 * GPTQ of a [K, N] weight given H ([K, K]): rows of W (input features) quantized in order, each
 * rounding error e_i = (w_i − q_i) / U_ii subtracted from the later rows as e_i · U_ij, where U
 * is the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU): the optimal-brain-surgeon update of the rows
 * left. Rows are updated within lazy batches of LAZY_BATCH, the rest once per batch.
 */
export function gptq(
  values: ArrayLike<number>,
  k: number,
  n: number,
  gram: ArrayLike<number>,
  format: BlockFormat,
  damping = GPTQ_DAMPING,
): Block4 {
  const w = Float64Array.from(values);
  const h = Float64Array.from(gram);
  let mean = 0;
  for (let i = 0; i < k; i++) mean += h[i * k + i]! / k;
  for (let i = 0; i < k; i++) {
    if (h[i * k + i]! <= 0) {
      // An input that is always zero: its weights never matter; 0 quantizes exactly.
      h[i * k + i] = 1;
      w.fill(0, i * n, (i + 1) * n);
    }
    h[i * k + i]! += damping * (mean > 0 ? mean : 1);
  }
  const u = upperCholeskyOfInverse(h, k);
  const writer = new BlockWriter(n, k, format);
  const { blockSize, bits } = format;
  const params = Array.from({ length: n }, () => ({ scale: 1, zero: 0 }));
  const block = new Float64Array(blockSize);
  const batch = Math.max(LAZY_BATCH, blockSize) - (Math.max(LAZY_BATCH, blockSize) % blockSize);
  const errors = new Float64Array(batch * n);
  for (let start = 0; start < k; start += batch) {
    const end = Math.min(k, start + batch);
    for (let i = start; i < end; i++) {
      if (i % blockSize === 0) {
        const count = Math.min(blockSize, k - i);
        for (let column = 0; column < n; column++) {
          for (let j = 0; j < count; j++) block[j] = w[(i + j) * n + column]!;
          params[column] = blockParameters(block, count, format);
          writer.setBlock(column, i / blockSize, params[column]!);
        }
      }
      const pivot = u[i * k + i]!;
      const errorRow = (i - start) * n;
      for (let column = 0; column < n; column++) {
        const { scale, zero } = params[column]!;
        const x = w[i * n + column]!;
        const code = blockCode(x, scale, bits, zero);
        writer.setCode(column, i, code);
        errors[errorRow + column] = (x - dequantizeCode(code, scale, bits, zero)) / pivot;
      }
      for (let j = i + 1; j < end; j++) axpy(w, j * n, -u[i * k + j]!, errors, errorRow, n);
    }
    for (let j = end; j < k; j++) {
      for (let i = start; i < end; i++) axpy(w, j * n, -u[i * k + j]!, errors, (i - start) * n, n);
    }
  }
  return writer.finish();
}

/** y[at..at+n) += a · x[from..from+n) */
function axpy(y: Float64Array, at: number, a: number, x: Float64Array, from: number, n: number): void {
  if (a === 0) return;
  for (let c = 0; c < n; c++) y[at + c]! += a * x[from + c]!;
}

/**
 * U upper triangular with UᵀU = H⁻¹ (H symmetric positive definite, [k, k] row-major). With J
 * the order reversal, JHJ = LLᵀ (lower Cholesky) gives H = (JLJ)(JLJ)ᵀ, so H⁻¹ = UᵀU for
 * U = J L⁻¹ J: one Cholesky factorization and one triangular inverse.
 */
export function upperCholeskyOfInverse(h: ArrayLike<number>, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) l[i * k + j] = h[(k - 1 - i) * k + (k - 1 - j)]!;
  for (let j = 0; j < k; j++) {
    const rowJ = j * k;
    let d = l[rowJ + j]!;
    for (let p = 0; p < j; p++) d -= l[rowJ + p]! * l[rowJ + p]!;
    if (!(d > 0)) throw new Error("the calibration Hessian is not positive definite even with damping");
    const pivot = Math.sqrt(d);
    l[rowJ + j] = pivot;
    for (let i = j + 1; i < k; i++) {
      const rowI = i * k;
      let s = l[rowI + j]!;
      for (let p = 0; p < j; p++) s -= l[rowI + p]! * l[rowJ + p]!;
      l[rowI + j] = s / pivot;
    }
  }
  // M = L⁻¹ row by row: M_i· = −(Σ_{p<i} L_ip M_p·) / L_ii, M_ii = 1 / L_ii.
  const m = new Float64Array(k * k);
  const sum = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    sum.fill(0, 0, i);
    for (let p = 0; p < i; p++) {
      const a = l[i * k + p]!;
      if (a !== 0) for (let j = 0; j <= p; j++) sum[j]! += a * m[p * k + j]!;
    }
    const pivot = l[i * k + i]!;
    for (let j = 0; j < i; j++) m[i * k + j] = -sum[j]! / pivot;
    m[i * k + i] = 1 / pivot;
  }
  const u = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) u[i * k + j] = m[(k - 1 - i) * k + (k - 1 - j)]!;
  return u;
}
