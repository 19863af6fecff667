// onnxruntime's contrib operators (domain com.microsoft) as typed functions over a GraphBuilder:
// the fused forms its CPU execution provider runs fastest. Only the primary graph uses them; the
// portable graph stays standard ONNX. Inputs and attributes follow onnxruntime's
// docs/ContribOperators.md; an optional input left out in the middle is passed as "".
import { CONTRIB_DOMAIN, type GraphBuilder, type Value, attr } from "./builder.js";
import type { Attribute } from "./ir.js";

/** Which keys a query sees, as onnxruntime's attention kernels take it. */
export interface AttentionMasking {
  /** int32 [B, S]: 1 for a real key, 0 for padding (masked with `maskFilterValue`). */
  keyPaddingMask?: Value;
  /** float [B|1, heads|1, S, S], added to the scaled scores. */
  attentionBias?: Value;
}

export interface AttentionKernelOptions {
  heads: number;
  /** Added to the scores of padded keys (onnxruntime's default is −10000). */
  maskFilterValue: number;
  /** Factor of q·k (the kernel's default: 1/√ head size). */
  scale?: number;
}

export interface MultiHeadAttentionInputs extends AttentionMasking {
  /** Projected queries, keys and values, [B, S, heads·size] each. */
  query: Value;
  key: Value;
  value: Value;
}

export interface AttentionInputs extends AttentionMasking {
  /** [B, S, H_in] */
  input: Value;
  /** [H_in, q + k + v]: the packed projection. */
  weight: Value;
  bias?: Value;
}

export class Contrib {
  constructor(readonly g: GraphBuilder) {}

  /** softmax(q·kᵀ/√size + attention_bias + mask)·v per head, merged: [B, S, heads·size]. */
  multiHeadAttention(inputs: MultiHeadAttentionInputs, options: AttentionKernelOptions): Value {
    const { query, key, value, keyPaddingMask, attentionBias } = inputs;
    // Inputs: query, key, value, bias, key_padding_mask, attention_bias.
    return this.op(
      "MultiHeadAttention",
      trimOptional([query, key, value, undefined, keyPaddingMask, attentionBias]),
      kernelAttributes(options),
    );
  }

  /** multiHeadAttention of the packed projection input·weight + bias, computed in one kernel. */
  attention(inputs: AttentionInputs, options: AttentionKernelOptions & { qkvWidths: readonly [number, number, number] }): Value {
    const { input, weight, bias, keyPaddingMask, attentionBias } = inputs;
    const [q, k, v] = options.qkvWidths;
    const attributes = { ...kernelAttributes(options), ...(q === k && k === v ? {} : { qkv_hidden_sizes: attr.ints([q, k, v]) }) };
    // Inputs: input, weights, bias, mask_index, past, attention_bias.
    return this.op("Attention", trimOptional([input, weight, bias, keyPaddingMask, undefined, attentionBias]), attributes);
  }

  /** Exact (erf) GELU of x + bias. */
  biasGelu(x: Value, bias: Value): Value {
    return this.op("BiasGelu", [x, bias]);
  }

  /** Exact (erf) GELU. */
  gelu(x: Value): Value {
    return this.op("Gelu", [x]);
  }

  /** The tanh approximation of GELU, of x (+ bias). */
  fastGelu(x: Value, bias?: Value): Value {
    return this.op("FastGelu", bias ? [x, bias] : [x]);
  }

  /** x·sigmoid(alpha·x). */
  quickGelu(x: Value, alpha: number): Value {
    return this.op("QuickGelu", [x], { alpha: attr.float(alpha) });
  }

  /**
   * Rotary position embedding of x [B, S, heads·size] on the first `dim` features of each head.
   * cos and sin are [S, dim/2] (one entry per rotated pair); positions start at `positionOffset`
   * (int64 [1]).
   */
  rotaryEmbedding(
    x: Value,
    positionOffset: Value,
    cos: Value,
    sin: Value,
    options: { heads: number; dim: number; interleaved: boolean },
  ): Value {
    return this.op("RotaryEmbedding", [x, positionOffset, cos, sin], {
      interleaved: attr.int(options.interleaved ? 1 : 0),
      num_heads: attr.int(options.heads),
      rotary_embedding_dim: attr.int(options.dim),
    });
  }

  /**
   * RMSNorm over the last axis, gamma · x / √(mean(x²) + ε), in one kernel. onnxruntime registers
   * SimplifiedLayerNormalization in the default domain, not com.microsoft.
   */
  simplifiedLayerNorm(x: Value, gamma: Value, epsilon: number): Value {
    return this.g.op("SimplifiedLayerNormalization", [x, gamma], { axis: attr.int(-1), epsilon: attr.float(epsilon) });
  }

  private op(opType: string, inputs: Value[], attributes: Record<string, Attribute> = {}): Value {
    return this.g.op(opType, inputs, attributes, CONTRIB_DOMAIN);
  }
}

function kernelAttributes(options: AttentionKernelOptions): Record<string, Attribute> {
  return {
    num_heads: attr.int(options.heads),
    mask_filter_value: attr.float(options.maskFilterValue),
    ...(options.scale !== undefined ? { scale: attr.float(options.scale) } : {}),
  };
}

/** Optional inputs: absent ones in the middle become "", trailing ones are dropped. */
export function trimOptional(inputs: Array<Value | undefined>): Value[] {
  let end = inputs.length;
  while (end > 0 && inputs[end - 1] === undefined) end--;
  return inputs.slice(0, end).map((v) => v ?? "");
}
