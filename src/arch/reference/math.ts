// Plain-TypeScript tensor math for reference forwards: row-major Float32Arrays, float64
// accumulation, no cleverness beyond keeping inner loops contiguous. Correctness first: the
// emitted graphs are judged against these functions.
import type { Activation } from "../activation.js";
import type { RotarySpec } from "../positions.js";
import type { LinearArrays, NormArrays } from "../weight-refs.js";

/** Additive score for a padded key: float32's lowest, as in transformers. */
const MASKED_SCORE = -3.4028234663852886e38;

/** x [rows, in] · Wᵀ + b → [rows, out], with W stored [out, in] as nn.Linear does. */
export function linear(x: Float32Array, rows: number, w: LinearArrays): Float32Array {
  const { inFeatures: n, outFeatures: m, weight, bias } = w;
  const y = new Float32Array(rows * m);
  // Register blocking: two weight rows × four activation rows per pass, so each load feeds two
  // to four multiply-adds instead of one (the reference forward is on the export's critical
  // path: bench/export-ab.ts measures it). Weight rows outer: each is read once.
  let o = 0;
  for (; o + 1 < m; o += 2) {
    const w0 = o * n;
    const w1 = w0 + n;
    const b0 = bias ? bias[o] : 0;
    const b1 = bias ? bias[o + 1] : 0;
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      const x0 = r * n,
        x1 = x0 + n,
        x2 = x1 + n,
        x3 = x2 + n;
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        c0 = 0,
        c1 = 0,
        c2 = 0,
        c3 = 0;
      for (let i = 0; i < n; i++) {
        const u = weight[w0 + i],
          v = weight[w1 + i];
        const p0 = x[x0 + i],
          p1 = x[x1 + i],
          p2 = x[x2 + i],
          p3 = x[x3 + i];
        a0 += p0 * u;
        a1 += p1 * u;
        a2 += p2 * u;
        a3 += p3 * u;
        c0 += p0 * v;
        c1 += p1 * v;
        c2 += p2 * v;
        c3 += p3 * v;
      }
      const y0 = r * m + o;
      y[y0] = a0 + b0;
      y[y0 + m] = a1 + b0;
      y[y0 + 2 * m] = a2 + b0;
      y[y0 + 3 * m] = a3 + b0;
      y[y0 + 1] = c0 + b1;
      y[y0 + m + 1] = c1 + b1;
      y[y0 + 2 * m + 1] = c2 + b1;
      y[y0 + 3 * m + 1] = c3 + b1;
    }
    for (; r < rows; r++) {
      const xr = r * n;
      let a = 0,
        c = 0;
      for (let i = 0; i < n; i++) {
        const p = x[xr + i];
        a += p * weight[w0 + i];
        c += p * weight[w1 + i];
      }
      y[r * m + o] = a + b0;
      y[r * m + o + 1] = c + b1;
    }
  }
  for (; o < m; o++) {
    const wo = o * n;
    const b = bias ? bias[o] : 0;
    for (let r = 0; r < rows; r++) {
      const xr = r * n;
      let a = 0;
      for (let i = 0; i < n; i++) a += x[xr + i] * weight[wo + i];
      y[r * m + o] = a + b;
    }
  }
  return y;
}

export function add(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new Error(`add: ${a.length} vs ${b.length} elements`);
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

export function mul(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new Error(`mul: ${a.length} vs ${b.length} elements`);
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] * b[i];
  return y;
}

/** x [rows, n·width] → n arrays [rows, width], column blocks in order (e.g. a fused QKV output). */
export function splitColumns(x: Float32Array, rows: number, n: number): Float32Array[] {
  const total = x.length / rows;
  const width = total / n;
  return Array.from({ length: n }, (_, part) => {
    const y = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) y.set(x.subarray(r * total + part * width, r * total + (part + 1) * width), r * width);
    return y;
  });
}

/** Normalizes each row of x [rows, size] over its last axis. */
export function layerNorm(x: Float32Array, norm: NormArrays): Float32Array {
  const size = norm.gamma.length;
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / size; r++) {
    const o = r * size;
    let mean = 0;
    for (let i = 0; i < size; i++) mean += x[o + i];
    mean /= size;
    let variance = 0;
    for (let i = 0; i < size; i++) variance += (x[o + i] - mean) ** 2;
    variance /= size;
    const inv = 1 / Math.sqrt(variance + norm.eps);
    for (let i = 0; i < size; i++) y[o + i] = (x[o + i] - mean) * inv * norm.gamma[i] + norm.beta[i];
  }
  return y;
}

/** RMSNorm of each row of x [rows, size]: gamma · x / √(mean(x²) + ε) (gamma already 1 + w for Gemma). */
export function rmsNorm(x: Float32Array, gamma: Float32Array, eps: number): Float32Array {
  const size = gamma.length;
  const y = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += size) {
    let squares = 0;
    for (let i = 0; i < size; i++) squares += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(squares / size + eps);
    for (let i = 0; i < size; i++) y[o + i] = x[o + i] * inv * gamma[i];
  }
  return y;
}

export function activation(x: Float32Array, kind: Activation): Float32Array {
  const f = ACTIVATIONS[kind];
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
  return y;
}

const ACTIVATIONS: Record<Activation, (x: number) => number> = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)),
};

/** Error function, |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc : erfc - 1;
}

export function tanh(x: Float32Array): Float32Array {
  return x.map(Math.tanh);
}

/** Separate query/key/value maps, or one fused map whose outputs are [query | key | value]. */
export type AttentionArrays = ({ query: LinearArrays; key: LinearArrays; value: LinearArrays } | { qkv: LinearArrays }) & {
  output: LinearArrays;
  heads: number;
  /** Per-head norm of queries and keys over the head size, before the rotation. */
  headNorms?: { query: (x: Float32Array) => Float32Array; key: (x: Float32Array) => Float32Array };
  /** Factor of q·k; default 1/√(head size). */
  scale?: number;
};

/** Extra additive score for (batch, head, query position, key position), e.g. position biases. */
export type ScoreBias = (b: number, h: number, i: number, j: number) => number;

export interface AttentionOptions {
  scoreBias?: ScoreBias;
  /** Rotates queries and keys after their projection. */
  rotary?: RotaryTableArrays;
  /** Local attention: keys farther than this from the query are masked like padding (once). */
  window?: number;
  /** Keys after the query are masked like padding (once). */
  causal?: boolean;
}

/**
 * Multi-head self-attention of x [batch, seq, H]; `mask` [batch, seq] hides keys whose
 * value is 0. Returns the output projection [batch, seq, H].
 */
export function selfAttention(
  x: Float32Array,
  batch: number,
  seq: number,
  w: AttentionArrays,
  mask: Int32Array,
  options: AttentionOptions = {},
): Float32Array {
  const rows = batch * seq;
  const [q, k, v] = (
    "qkv" in w ? splitColumns(linear(x, rows, w.qkv), rows, 3) : [w.query, w.key, w.value].map((p) => linear(x, rows, p))
  ) as [Float32Array, Float32Array, Float32Array];
  const { rotary } = options;
  // Heads of t [rows, heads·d] (fewer for keys under grouped-query attention): normed, then rotated.
  const prepare = (t: Float32Array, norm: ((x: Float32Array) => Float32Array) | undefined) => {
    const normed = norm ? norm(t) : t;
    return rotary ? applyRotary(normed, batch, seq, (w.heads * normed.length) / q.length, rotary) : normed;
  };
  const context = attend(prepare(q, w.headNorms?.query), prepare(k, w.headNorms?.key), v, batch, seq, w.heads, mask, {
    ...options,
    ...(w.scale === undefined ? {} : { scale: w.scale }),
  });
  return linear(context, rows, w.output);
}

/**
 * softmax(q·kᵀ·scale + bias + mask)·v per head, on already projected q [batch, seq, heads·d] and
 * k, v [batch, seq, kvHeads·d] (kvHeads divides heads: query head h reads key/value head
 * ⌊h / (heads / kvHeads)⌋); returns the merged context [batch, seq, heads·d].
 */
export function attend(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  batch: number,
  seq: number,
  heads: number,
  mask: Int32Array,
  options: Pick<AttentionOptions, "scoreBias" | "window" | "causal"> & { scale?: number } = {},
): Float32Array {
  const { scoreBias, window = Infinity, causal = false } = options;
  const width = q.length / (batch * seq);
  const d = width / heads;
  const kvWidth = k.length / (batch * seq);
  const group = heads / (kvWidth / d);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const context = new Float32Array(q.length);
  const scores = new Float64Array(seq);
  const sum = new Float64Array(d);
  for (let b = 0; b < batch; b++) {
    const row = b * seq;
    for (let h = 0; h < heads; h++) {
      // A query that sees no key attends uniformly to all keys of its row: one result per head.
      let uniform: Float32Array | undefined;
      for (let i = 0; i < seq; i++) {
        const qo = (row + i) * width + h * d;
        const { from, to, sees } = scoredKeys(mask, row, seq, i, window, causal);
        if (!sees && uniform) {
          context.set(uniform, qo);
          continue;
        }
        let max = -Infinity;
        for (let j = from; j < to; j++) {
          const hidden = mask[row + j] === 0 || (causal && j > i);
          // Beside a visible key, a hidden one's exp() is exactly 0: it need not be scored.
          if (sees && hidden) {
            scores[j] = -Infinity;
            continue;
          }
          const ko = (row + j) * kvWidth + Math.floor(h / group) * d;
          let dot = 0;
          for (let e = 0; e < d; e++) dot += q[qo + e] * k[ko + e];
          let s = dot * scale;
          if (scoreBias) s += scoreBias(b, h, i, j);
          if (hidden || i - j > window || (!causal && j - i > window)) s += MASKED_SCORE;
          scores[j] = s;
          if (s > max) max = s;
        }
        let total = 0;
        for (let j = from; j < to; j++) total += scores[j] = Math.exp(scores[j] - max);
        sum.fill(0);
        for (let j = from; j < to; j++) {
          const weight = scores[j];
          if (weight === 0) continue;
          const vo = (row + j) * kvWidth + Math.floor(h / group) * d;
          for (let e = 0; e < d; e++) sum[e] += weight * v[vo + e];
        }
        for (let e = 0; e < d; e++) context[qo + e] = sum[e] / total;
        if (!sees) uniform = context.slice(qo, qo + d);
      }
    }
  }
  return context;
}

/**
 * The keys [from, to) worth scoring for query i of the row starting at `rowStart`, and whether
 * the query sees any real key. When it does, only the keys within its window (up to itself when
 * causal) are scored (those beyond score MASKED_SCORE, and exp() of that beside a visible score is
 * exactly 0); when it sees none, all keys are: each then scores MASKED_SCORE alike and the query
 * attends uniformly (a left-padded decoder's pad rows).
 */
function scoredKeys(
  mask: Int32Array,
  rowStart: number,
  seq: number,
  i: number,
  window: number,
  causal: boolean,
): { from: number; to: number; sees: boolean } {
  const from = Math.max(0, i - window);
  const to = causal ? i + 1 : Math.min(seq, i + window + 1);
  for (let j = from; j < to; j++) if (mask[rowStart + j] !== 0) return { from, to, sees: true };
  return { from: 0, to: seq, sees: false };
}

/** cos and sin of position × frequency per sequence position, [seq, dim] each (see RotarySpec). */
export interface RotaryTableArrays {
  cos: Float64Array;
  sin: Float64Array;
  dim: number;
  interleaved: boolean;
}

/** Rotary tables for positions 0..seq-1; angles rounded to float32 as torch computes them. */
export function rotaryTables(seq: number, spec: RotarySpec): RotaryTableArrays {
  const frequencies = spec.inverseFrequencies;
  const half = frequencies.length;
  const dim = 2 * half;
  const cos = new Float64Array(seq * dim);
  const sin = new Float64Array(seq * dim);
  for (let p = 0; p < seq; p++) {
    for (let i = 0; i < dim; i++) {
      const angle = Math.fround(p * frequencies[spec.interleaved ? i >> 1 : i % half]);
      cos[p * dim + i] = Math.cos(angle);
      sin[p * dim + i] = Math.sin(angle);
    }
  }
  return { cos, sin, dim, interleaved: spec.interleaved };
}

/**
 * x·cos + rotate(x)·sin on the first `t.dim` features of every head of x [batch, seq, heads·d].
 * rotate pairs feature i with its partner: (−x_{i+1}, x_{i−1}) for interleaved pairs, else
 * rotate_half's (−x_{i+d/2}, x_{i−d/2}).
 */
export function applyRotary(x: Float32Array, batch: number, seq: number, heads: number, t: RotaryTableArrays): Float32Array {
  const width = x.length / (batch * seq);
  const d = width / heads;
  const half = t.dim / 2;
  const y = Float32Array.from(x);
  for (let row = 0; row < batch * seq; row++) {
    const table = (row % seq) * t.dim;
    for (let h = 0; h < heads; h++) {
      const o = row * width + h * d;
      for (let i = 0; i < t.dim; i++) {
        const partner = t.interleaved ? (i % 2 === 0 ? -x[o + i + 1] : x[o + i - 1]) : i < half ? -x[o + i + half] : x[o + i - half];
        y[o + i] = x[o + i] * t.cos[table + i] + partner * t.sin[table + i];
      }
    }
  }
  return y;
}

/** ALiBi score bias −slope_h·|i − j| (float32 product, as the model computes it). */
export function alibiScoreBias(slopes: Float32Array): ScoreBias {
  return (_b, h, i, j) => Math.fround(-slopes[h] * Math.abs(i - j));
}

/** A GLU gate, as GateRefs in blocks.ts: its own map, or one half of the fused up map's output. */
export type GateArrays = { linear: LinearArrays } | { half: "first" | "second" };

/** down(act(up(x))), or with a gate down(act(gate(x)) ⊙ up(x)), for x [rows, H]. */
export function feedForward(
  x: Float32Array,
  rows: number,
  up: LinearArrays,
  down: LinearArrays,
  act: Activation,
  gate?: GateArrays,
): Float32Array {
  if (!gate) return linear(activation(linear(x, rows, up), act), rows, down);
  let gated: Float32Array, value: Float32Array;
  if ("half" in gate) {
    const [first, second] = splitColumns(linear(x, rows, up), rows, 2) as [Float32Array, Float32Array];
    [gated, value] = gate.half === "first" ? [first, second] : [second, first];
  } else {
    [gated, value] = [linear(x, rows, gate.linear), linear(x, rows, up)];
  }
  return linear(mul(activation(gated, act), value), rows, down);
}

/** Row 0 of each sequence: [batch, seq, H] → [batch, H]. */
export function firstToken(hidden: Float32Array, batch: number, seq: number): Float32Array {
  const width = hidden.length / (batch * seq);
  const out = new Float32Array(batch * width);
  for (let b = 0; b < batch; b++) out.set(hidden.subarray(b * seq * width, b * seq * width + width), b * width);
  return out;
}

/** Gathers rows of `table` [rows, width] by `ids`. */
export function embed(table: Float32Array, width: number, ids: ArrayLike<number>, source: string): Float32Array {
  const rows = table.length / width;
  const out = new Float32Array(ids.length * width);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!(id >= 0 && id < rows)) throw new RangeError(`${source}: index ${id} outside [0, ${rows})`);
    out.set(table.subarray(id * width, (id + 1) * width), t * width);
  }
  return out;
}

/**
 * RoBERTa-style position ids of input_ids [batch, seq]: a real token gets padding_idx + its
 * 1-based rank among the row's non-pad tokens so far; a pad token gets padding_idx itself.
 */
export function positionIdsAfterPadding(inputIds: Int32Array, batch: number, seq: number, paddingIdx: number): Int32Array {
  const out = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let t = 0; t < seq; t++) {
      const i = b * seq + t;
      out[i] = inputIds[i] === paddingIdx ? paddingIdx : paddingIdx + ++count;
    }
  }
  return out;
}
