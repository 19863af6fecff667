// Transformer blocks shared by every template. The variant decides the form: `primary` packs
// Q/K/V into one MatMul with the softmax scale folded into the query weights; `portable`
// spells each step out in the plainest standard operators.
import type { Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import type { Activation } from "./activation.js";
import type { GraphVariant } from "./architecture.js";
import type { GraphWeights } from "./graph-weights.js";
import type { LinearRef, NormRef } from "./weight-refs.js";

/** Additive mask value for padded keys: float32's lowest, as transformers uses. */
export const MASK_VALUE = -3.4028234663852886e38;

export interface AttentionRefs {
  query: LinearRef;
  key: LinearRef;
  value: LinearRef;
  output: LinearRef;
  heads: number;
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

  /** Two-layer MLP: down(act(up(x))). */
  feedForward(x: Value, up: LinearRef, down: LinearRef, act: Activation): Value {
    return this.linear(this.activation(this.linear(x, up), act), down);
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
   * `mask` is additive and broadcasts to [B, heads, S, S]; so does `scoreBias` when given
   * (relative-position or ALiBi biases).
   */
  selfAttention(x: Value, refs: AttentionRefs, mask: Value, scoreBias?: Value): Value {
    const { ops } = this;
    const allHeads = refs.query.outFeatures;
    const headSize = allHeads / refs.heads;
    const scale = 1 / Math.sqrt(headSize);
    let q: Value, k: Value, v: Value;
    let scores: Value;
    if (this.variant === "primary") {
      const qkv = this.affine(x, this.weights.packed([{ ref: refs.query, scale }, { ref: refs.key }, { ref: refs.value }]));
      [q, k, v] = ops.split(qkv, [allHeads, refs.key.outFeatures, refs.value.outFeatures], 2) as [Value, Value, Value];
      scores = ops.matMul(this.heads(q, refs.heads, headSize), this.heads(k, refs.heads, headSize, true));
    } else {
      q = this.linear(x, refs.query);
      k = this.linear(x, refs.key);
      v = this.linear(x, refs.value);
      scores = ops.mul(ops.matMul(this.heads(q, refs.heads, headSize), this.heads(k, refs.heads, headSize, true)), ops.scalar(scale, "scale"));
    }
    if (scoreBias) scores = ops.add(scores, scoreBias);
    const probs = ops.softmax(ops.add(scores, mask), -1);
    const context = ops.matMul(probs, this.heads(v, refs.heads, headSize));
    const merged = ops.reshape(ops.transpose(context, [0, 2, 1, 3]), [0, 0, allHeads]);
    return this.linear(merged, refs.output);
  }

  /** First token of each row: [B, S, H] → [B, H] (the CLS fallback and poolers' input). */
  firstToken(hidden: Value): Value {
    return this.ops.gather(hidden, this.ops.g.constInt64([0], [], "first"), 1);
  }

  /** BERT pooler: tanh(dense(first token)). */
  pooler(hidden: Value, dense: LinearRef): Value {
    return this.ops.tanh(this.linear(this.firstToken(hidden), dense));
  }

  /** [B, S, heads·size] → [B, heads, S, size], or [B, heads, size, S] for keys. */
  private heads(x: Value, heads: number, size: number, transposed = false): Value {
    return this.ops.transpose(this.ops.reshape(x, [0, 0, heads, size]), transposed ? [0, 2, 3, 1] : [0, 2, 1, 3]);
  }

  private affine(x: Value, w: { weight: Value; bias?: Value }): Value {
    const y = this.ops.matMul(x, w.weight);
    return w.bias ? this.ops.add(y, w.bias) : y;
  }
}
