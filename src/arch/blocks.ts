// Transformer blocks shared by every template. The variant decides the form: `primary` packs
// Q/K/V (and a GLU's gate and up maps) into one MatMul with the softmax scale folded into the
// query weights; `portable` spells each step out in the plainest standard operators.
import type { Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import type { Activation } from "./activation.js";
import type { GraphVariant } from "./architecture.js";
import type { FoldedLinear, GraphWeights } from "./graph-weights.js";
import type { RotarySpec } from "./positions.js";
import type { LinearRef, NormRef } from "./weight-refs.js";

/** Additive mask value for padded keys: float32's lowest, as transformers uses. */
export const MASK_VALUE = -3.4028234663852886e38;

/** Query, key and value maps: three of them (BERT), or one fused map whose output rows are [query; key; value] (Wqkv). */
export type QkvRefs = { query: LinearRef; key: LinearRef; value: LinearRef } | { qkv: LinearRef };

export type AttentionRefs = QkvRefs & { output: LinearRef; heads: number };

/** Widths of the query, key and value projections. */
export function qkvWidths(refs: QkvRefs): [number, number, number] {
  if ("qkv" in refs) {
    const width = refs.qkv.outFeatures / 3;
    return [width, width, width];
  }
  return [refs.query.outFeatures, refs.key.outFeatures, refs.value.outFeatures];
}

/**
 * The gate of a GLU feed-forward, down(act(gate(x)) ⊙ up(x)): its own linear map (NomicBERT's
 * fc12), or one half of a fused up map twice the intermediate size (JinaBERT's gated_layers:
 * first half; GTE's up_gate_proj: second half).
 */
export type GateRefs = { linear: LinearRef } | { half: "first" | "second" };

/** cos and sin of position × inverse frequency, [S, 1, rotary dim]: broadcast over [B, S, heads, rotary dim]. */
export interface RotaryTables {
  cos: Value;
  sin: Value;
  dim: number;
  interleaved: boolean;
}

export interface AttentionOptions {
  /** Added to the scores; broadcasts to [B, heads, S, S] (relative-position or ALiBi biases). */
  scoreBias?: Value;
  /** Rotates queries and keys after their projection. */
  rotary?: RotaryTables;
}

export class Blocks {
  constructor(
    readonly ops: Ops,
    readonly weights: GraphWeights,
    readonly variant: GraphVariant,
  ) {}

  linear(x: Value, ref: LinearRef): Value {
    return this.affine(x, this.weights.linear(ref));
  }

  layerNorm(x: Value, ref: NormRef): Value {
    const { gamma, beta, eps } = this.weights.norm(ref);
    return this.ops.layerNorm(x, gamma, beta, eps);
  }

  /** Post-norm residual: LayerNorm(x + residual). */
  addNorm(x: Value, residual: Value, ref: NormRef): Value {
    return this.layerNorm(this.ops.add(x, residual), ref);
  }

  activation(x: Value, kind: Activation): Value {
    const { ops } = this;
    switch (kind) {
      case "gelu": // x·½·(1 + erf(x/√2)): the exact pattern onnxruntime fuses into Gelu
        return ops.mul(ops.mul(x, ops.add(ops.erf(ops.div(x, ops.scalar(Math.SQRT2))), ops.scalar(1))), ops.scalar(0.5));
      case "gelu_tanh": {
        const cube = ops.mul(ops.mul(x, x), x);
        const inner = ops.mul(ops.add(x, ops.mul(cube, ops.scalar(0.044715))), ops.scalar(Math.sqrt(2 / Math.PI)));
        return ops.mul(ops.mul(x, ops.add(ops.tanh(inner), ops.scalar(1))), ops.scalar(0.5));
      }
      case "relu":
        return ops.relu(x);
      case "silu":
        return ops.mul(x, ops.sigmoid(x));
      case "quick_gelu":
        return ops.mul(x, ops.sigmoid(ops.mul(x, ops.scalar(1.702))));
    }
  }

  /** Two-layer MLP down(act(up(x))); with a gate, the GLU variant down(act(gate(x)) ⊙ up(x)). */
  feedForward(x: Value, up: LinearRef, down: LinearRef, act: Activation, gate?: GateRefs): Value {
    if (!gate) return this.linear(this.activation(this.linear(x, up), act), down);
    const [gated, value] = this.gateAndUp(x, up, gate);
    return this.linear(this.ops.mul(this.activation(gated, act), value), down);
  }

  private gateAndUp(x: Value, up: LinearRef, gate: GateRefs): [Value, Value] {
    const { ops } = this;
    if ("half" in gate) {
      const half = up.outFeatures / 2;
      const [first, second] = ops.split(this.linear(x, up), [half, half], 2) as [Value, Value];
      return gate.half === "first" ? [first, second] : [second, first];
    }
    if (this.variant === "portable") return [this.linear(x, gate.linear), this.linear(x, up)];
    const packed = this.affine(x, this.weights.packed([{ ref: gate.linear }, { ref: up }]));
    return ops.split(packed, [gate.linear.outFeatures, up.outFeatures], 2) as [Value, Value];
  }

  /** attention_mask [B, S] (1 keep, 0 pad) → additive mask [B, 1, 1, S] for the scores. */
  additiveMask(attentionMask: Value): Value {
    const { ops } = this;
    const keep = ops.cast(attentionMask, DataType.FLOAT);
    const masked = ops.mul(ops.sub(ops.scalar(1), keep), ops.scalar(MASK_VALUE, "mask_value"));
    return ops.unsqueeze(masked, [1, 2]);
  }

  /**
   * Multi-head self-attention over x [B, S, H], returning the output projection [B, S, H].
   * `mask` is additive and broadcasts to [B, heads, S, S]; so does `options.scoreBias`.
   */
  selfAttention(x: Value, refs: AttentionRefs, mask: Value, options: AttentionOptions = {}): Value {
    const { ops } = this;
    const widths = qkvWidths(refs);
    const headSize = widths[0] / refs.heads;
    const scale = 1 / Math.sqrt(headSize);
    const folded = this.variant === "primary";
    const [q, k, v] = this.projectQkv(x, refs, folded ? scale : 1);
    // [B, S, heads, size]; rotation commutes with the scale folded into the query weights.
    const split = (t: Value) => ops.reshape(t, [0, 0, refs.heads, headSize]);
    const rotate = (t: Value) => (options.rotary ? this.rotate(t, options.rotary, headSize) : t);
    let scores = ops.matMul(ops.transpose(rotate(split(q)), [0, 2, 1, 3]), ops.transpose(rotate(split(k)), [0, 2, 3, 1]));
    if (!folded) scores = ops.mul(scores, ops.scalar(scale, "scale"));
    if (options.scoreBias) scores = ops.add(scores, options.scoreBias);
    const probs = ops.softmax(ops.add(scores, mask), -1);
    const context = ops.matMul(probs, ops.transpose(split(v), [0, 2, 1, 3]));
    const merged = ops.reshape(ops.transpose(context, [0, 2, 1, 3]), [0, 0, widths[0]]);
    return this.linear(merged, refs.output);
  }

  /** q, k, v [B, S, width]; primary: one MatMul with `queryScale` folded into the query rows. */
  private projectQkv(x: Value, refs: QkvRefs, queryScale: number): Value[] {
    const widths = qkvWidths(refs);
    if (this.variant === "portable") {
      return "qkv" in refs ? this.ops.split(this.linear(x, refs.qkv), widths, 2) : [refs.query, refs.key, refs.value].map((r) => this.linear(x, r));
    }
    const parts: FoldedLinear[] =
      "qkv" in refs
        ? [
            { ref: refs.qkv, rows: [0, widths[0]], scale: queryScale },
            { ref: refs.qkv, rows: [widths[0], refs.qkv.outFeatures] },
          ]
        : [{ ref: refs.query, scale: queryScale }, { ref: refs.key }, { ref: refs.value }];
    return this.ops.split(this.affine(x, this.weights.packed(parts)), widths, 2);
  }

  /** Positions 0..S-1 (int64 [S]) of ids [B, S]. */
  positions(ids: Value): Value {
    const { ops } = this;
    const scalar = (value: number, hint: string) => ops.g.constInt64([value], [], hint);
    return ops.range(scalar(0, "zero"), ops.gather(ops.shape(ids), scalar(1, "sequence_axis")), scalar(1, "one"));
  }

  /** |i − j| for positions i (rows) and j (columns) of ids [B, S]: int64 [S, S]. */
  private distances(ids: Value): Value {
    const p = this.positions(ids);
    return this.ops.abs(this.ops.sub(this.ops.unsqueeze(p, [0]), this.ops.unsqueeze(p, [1])));
  }

  /** Rotary tables for the sequence length of ids [B, S], computed in the graph (no length limit). */
  rotaryTables(ids: Value, spec: RotarySpec): RotaryTables {
    const { ops } = this;
    const frequencies = spec.inverseFrequencies;
    const positions = ops.cast(this.positions(ids), DataType.FLOAT);
    const angles = ops.mul(ops.unsqueeze(positions, [1]), ops.g.constFloat(frequencies, [frequencies.length], "inv_freq")); // [S, d/2]
    // Each frequency serves a pair: features (2i, 2i+1) when interleaved, (i, i + d/2) otherwise.
    const pairs = spec.interleaved
      ? ops.reshape(ops.concat([ops.unsqueeze(angles, [2]), ops.unsqueeze(angles, [2])], 2), [0, -1])
      : ops.concat([angles, angles], 1);
    const table = ops.unsqueeze(pairs, [1]);
    return { cos: ops.cos(table), sin: ops.sin(table), dim: 2 * frequencies.length, interleaved: spec.interleaved };
  }

  /** x·cos + rotate(x)·sin on the first `t.dim` features of each head of x [B, S, heads, size]. */
  private rotate(x: Value, t: RotaryTables, headSize: number): Value {
    const { ops } = this;
    const [turning, passing] = t.dim < headSize ? ops.split(x, [t.dim, headSize - t.dim], 3) : [x];
    const half = t.dim / 2;
    let turned: Value;
    if (t.interleaved) {
      const [even, odd] = ops.split(ops.reshape(turning!, [0, 0, 0, half, 2]), [1, 1], 4) as [Value, Value];
      turned = ops.reshape(ops.concat([ops.neg(odd), even], 4), [0, 0, 0, t.dim]);
    } else {
      const [first, second] = ops.split(turning!, [half, half], 3) as [Value, Value];
      turned = ops.concat([ops.neg(second), first], 3);
    }
    const rotated = ops.add(ops.mul(turning!, t.cos), ops.mul(turned, t.sin));
    return passing ? ops.concat([rotated, passing], 3) : rotated;
  }

  /** ALiBi bias [1, heads, S, S]: −slope_h·|i − j|, symmetric as bidirectional encoders use it. */
  alibiBias(ids: Value, slopes: Float32Array): Value {
    const { ops } = this;
    const negated = ops.g.constFloat(slopes.map((s) => -s), [slopes.length, 1, 1], "alibi_slopes");
    return ops.unsqueeze(ops.mul(negated, ops.cast(this.distances(ids), DataType.FLOAT)), [0]);
  }

  /**
   * An additive mask [B, 1, 1, S] narrowed to keys within `halfWindow` positions of each query:
   * [B, 1, S, S]. A key both padded and outside the window gets MASK_VALUE once (as
   * ModernBERT's masked_fill does), never twice (which would overflow to −inf).
   */
  slidingWindowMask(mask: Value, ids: Value, halfWindow: number): Value {
    const { ops } = this;
    const outside = ops.greater(this.distances(ids), ops.g.constInt64([halfWindow], [], "half_window"));
    return ops.min(mask, ops.mul(ops.cast(outside, DataType.FLOAT), ops.scalar(MASK_VALUE, "mask_value")));
  }

  /**
   * RoBERTa-style position ids [B, S] from input_ids: padding_idx + running count of non-pad
   * tokens for real tokens, padding_idx for pads (transformers' create_position_ids_from_input_ids).
   */
  positionIdsAfterPadding(inputIds: Value, paddingIdx: number): Value {
    const { ops } = this;
    const pad = ops.g.constInt64([paddingIdx], [], "padding_idx");
    const real = ops.cast(ops.not(ops.equal(inputIds, pad)), DataType.INT64);
    const rank = ops.mul(ops.cumSum(real, ops.g.constInt64([1], [], "sequence_axis")), real);
    return ops.add(rank, pad);
  }

  /** First token of each row: [B, S, H] → [B, H] (the CLS fallback and poolers' input). */
  firstToken(hidden: Value): Value {
    return this.ops.gather(hidden, this.ops.g.constInt64([0], [], "first"), 1);
  }

  /** BERT pooler: tanh(dense(first token)). */
  pooler(hidden: Value, dense: LinearRef): Value {
    return this.ops.tanh(this.linear(this.firstToken(hidden), dense));
  }

  private affine(x: Value, w: { weight: Value; bias?: Value }): Value {
    const y = this.ops.matMul(x, w.weight);
    return w.bias ? this.ops.add(y, w.bias) : y;
  }
}
