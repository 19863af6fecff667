// Transformer blocks shared by every template. The variant decides the form: `primary` is what
// onnxruntime's CPU provider runs fastest (bench/graph-speed.ts) — Q/K/V (and a GLU's gate and up
// maps) packed into one projection, and onnxruntime's fused contrib ops (graph/contrib.ts): one
// Attention kernel per layer (projection, mask and softmax inside), MultiHeadAttention after
// RotaryEmbedding for rotary models, GELU with the bias before it in BiasGelu/FastGelu; `portable`
// spells each step out in the plainest standard operators.
import type { Value } from "../graph/builder.js";
import { BoundedAttention, type ProjectedHeads } from "./bounded-attention.js";
import { type AttentionMasking, Contrib } from "../graph/contrib.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import type { Activation } from "./activation.js";
import type { GraphVariant } from "./graph-variant.js";
import type { FoldedLinear, GraphWeights, LinearValues } from "./graph-weights.js";
import type { RotarySpec } from "./positions.js";
import { type LinearRef, type NormRef, type TensorRef, isRmsNorm } from "./weight-refs.js";

/** Additive mask value for padded keys: float32's lowest, as transformers uses. */
export const MASK_VALUE = -3.4028234663852886e38;

/** quick_gelu: x·sigmoid(1.702·x). */
const QUICK_GELU_ALPHA = 1.702;

/**
 * The onnxruntime contrib ops a primary graph uses, all by default; turning one off puts the
 * standard-op form back (bench/graph-speed.ts measures what each contributes). The portable
 * graph uses none.
 */
export interface FusedOps {
  /** Attention (the Q/K/V projection inside) or, for rotary models, MultiHeadAttention after the rotation. */
  attention: boolean;
  /** BiasGelu, FastGelu, Gelu, QuickGelu. */
  activation: boolean;
  /** RotaryEmbedding on queries and keys (with `attention`). */
  rotary: boolean;
  /**
   * With `attention`: attention whose memory grows with S, not S² (bounded-attention.ts) —
   * MultiHeadAttention's flash path, padding carried by an extra head feature, and sliding
   * windows block by block. Off: the kernels' key padding mask and a [B, 1, S, S] window bias.
   */
  flash: boolean;
  /** SimplifiedLayerNormalization for RMS norms. */
  norm: boolean;
  /**
   * With `attention`: the attention form every layer that can take it uses (bench/attention.ts
   * measures them); left out, each layer gets its default form (Blocks.attentionFormOf says which).
   */
  attentionForm?: AttentionForm;
}

/**
 * The attention forms of the primary graph: `attention`, onnxruntime's Attention node (the
 * packed Q/K/V projection inside, key padding mask); after one packed MatMul + Split,
 * `mha-mask`: MultiHeadAttention with the int32 key padding mask; `mha-bias`: MultiHeadAttention
 * with the additive mask as attention_bias [B, 1, S, S]; `flash`: MultiHeadAttention's flash
 * path, padding carried by an extra head feature (bounded-attention.ts); `matmul`: MatMul,
 * Softmax, MatMul over [B, heads] in standard ops (the scale folded into the query weights).
 */
export const ATTENTION_FORMS = ["attention", "mha-mask", "mha-bias", "flash", "matmul"] as const;
export type AttentionForm = (typeof ATTENTION_FORMS)[number];

const ALL_FUSED: Readonly<FusedOps> = { attention: true, activation: true, rotary: true, flash: true, norm: true };
const NONE_FUSED: Readonly<FusedOps> = { attention: false, activation: false, rotary: false, flash: false, norm: false };

/**
 * Longest position limit for which models without rotary positions keep the one-node
 * Attention kernel (faster than a projection + MultiHeadAttention, docs/graph-forms.md): its
 * scores are [B, heads, S, S], at most 1024² per head and row. Longer limits get the flash form.
 */
export const ATTENTION_NODE_MAX_SEQUENCE = 1024;

/** How a graph's attention memory grows with the sequence length (metadata attention_memory). */
export type AttentionMemory = "linear" | "quadratic";
export const FUSED_OPS = Object.keys(ALL_FUSED) as Array<Exclude<keyof FusedOps, "attentionForm">>;

/** Query, key and value maps: three of them (BERT), or one fused map whose output rows are [query; key; value] (Wqkv). */
export type QkvRefs = { query: LinearRef; key: LinearRef; value: LinearRef } | { qkv: LinearRef };

/**
 * A self-attention's maps and head layout. The key/value head count and the head size follow
 * from the widths (head size = query width / heads; key/value heads = key width / head size), so
 * grouped-query attention (Qwen3: 16 query heads on 8 key/value heads, 128 wide, hidden 1024) needs
 * no field of its own.
 */
export type AttentionRefs = QkvRefs & {
  output: LinearRef;
  heads: number;
  /** Per-head RMSNorm of queries and keys, before the rotation (Qwen3, Gemma 3). */
  headNorms?: { query: NormRef; key: NormRef };
  /** Factor of q·k (Gemma 3: query_pre_attn_scalar^-0.5); default 1/√(head size). */
  scale?: number;
};

/** Query heads, key/value heads (fewer under grouped-query attention) and the head size. */
export interface HeadLayout {
  heads: number;
  kvHeads: number;
  size: number;
}

export function headLayout(refs: AttentionRefs): HeadLayout {
  const [query, key] = qkvWidths(refs);
  const size = query / refs.heads;
  return { heads: refs.heads, kvHeads: key / size, size };
}

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

/** A linear map's output with its bias kept apart (x·W, b), for a fused op that adds it (BiasGelu). */
interface Projection {
  product: Value;
  bias?: Value;
}

/**
 * Which keys each query sees: `input` is attention_mask [B, S] (int64, 1 for a real token); a
 * sliding window adds its half width. `additive` is the mask broadcasting to [B, heads, S, S]
 * (MASK_VALUE on hidden keys) where the attention reads that form: the standard-op attention,
 * and a window without the flash form. The kernels' forms are built from `input` on first use.
 */
export interface AttentionMask {
  input: Value;
  additive?: Value;
  halfWindow?: number;
  /** A window's input_ids, kept for an attention that needs the additive form the flash form spared. */
  ids?: Value;
  /** Keys after the query are hidden (decoders); the additive form is then always built. */
  causal?: boolean;
}

/** How a layer's attention narrows the padding mask: keys after the query hidden, keys beyond a window. */
export interface MaskKind {
  causal: boolean;
  /** Keys with |i − j| (causal: i − j) above this are hidden. */
  halfWindow?: number;
}

/**
 * Rotary tables for one sequence length: angles position × inverse frequency [S, dim/2], and
 * their cos and sin per rotated pair ([S, dim/2], RotaryEmbedding's caches, positions from 0) or
 * per feature ([S, 1, dim], broadcast over [B, S, heads, dim] by the standard-op rotation), each
 * built on first use.
 */
export class RotaryTables {
  private perPair?: { cos: Value; sin: Value; firstPosition: Value };
  private perFeature?: { cos: Value; sin: Value };

  constructor(
    private readonly ops: Ops,
    private readonly angles: Value,
    readonly dim: number,
    readonly interleaved: boolean,
  ) {}

  pairs(): { cos: Value; sin: Value; firstPosition: Value } {
    const { ops, angles } = this;
    this.perPair ??= { cos: ops.cos(angles), sin: ops.sin(angles), firstPosition: ops.g.constInt64([0], [1], "first_position") };
    return this.perPair;
  }

  features(): { cos: Value; sin: Value } {
    if (!this.perFeature) {
      const { ops, angles } = this;
      // Each frequency serves a pair: features (2i, 2i+1) when interleaved, (i, i + d/2) otherwise.
      const repeated = this.interleaved
        ? ops.reshape(ops.concat([ops.unsqueeze(angles, [2]), ops.unsqueeze(angles, [2])], 2), [0, -1])
        : ops.concat([angles, angles], 1);
      const table = ops.unsqueeze(repeated, [1]);
      this.perFeature = { cos: ops.cos(table), sin: ops.sin(table) };
    }
    return this.perFeature;
  }
}

export interface AttentionOptions {
  /** Added to the scores; [1, heads, S, S] (relative-position or ALiBi biases). */
  scoreBias?: Value;
  /** Rotates queries and keys after their projection. */
  rotary?: RotaryTables;
}

/**
 * The blocks both forwards share, with the same signatures: on graph values (Blocks) or on a
 * batch's arrays (ReferenceBlocks, reference/blocks.ts). A layer written against it is one
 * function for the graph and the reference forward.
 */
export interface LayerBlocks<T, Mask, Options> {
  add(x: T, y: T): T;
  linear(x: T, ref: LinearRef): T;
  norm(x: T, ref: NormRef): T;
  addNorm(x: T, residual: T, ref: NormRef): T;
  feedForward(x: T, up: LinearRef, down: LinearRef, act: Activation, gate?: GateRefs): T;
  selfAttention(x: T, refs: AttentionRefs, mask: Mask, options?: Options): T;
  pooler(hidden: T, dense: LinearRef): T;
}

export class Blocks implements LayerBlocks<Value, AttentionMask, AttentionOptions> {
  readonly fused: Readonly<FusedOps>;
  private readonly contrib: Contrib;
  private readonly bounded: BoundedAttention;
  /** Score bias + mask sums by their inputs, shared by every layer that reads them. */
  private readonly combinedBiases = new Map<string, Value>();
  /** The kernels' int32 key padding masks by attention_mask. */
  private readonly keyPaddingMasks = new Map<Value, Value>();
  /** The additive masks [B, 1, 1, S] and [B, 1, S, S] by attention_mask. */
  private readonly additiveMasks = new Map<Value, Value>();
  private readonly squareMasks = new Map<Value, Value>();
  private quadratic = false;

  constructor(
    readonly ops: Ops,
    readonly weights: GraphWeights,
    readonly variant: GraphVariant,
    fused: Partial<FusedOps> = {},
    /** The model's position limit: decides the attention form of models without rotary positions. */
    private readonly maxSequence = Infinity,
  ) {
    this.fused = variant === "primary" ? { ...ALL_FUSED, ...fused } : NONE_FUSED;
    this.contrib = new Contrib(ops.g);
    this.bounded = new BoundedAttention(ops, this.contrib, MASK_VALUE);
  }

  /** "quadratic" once any attention emitted so far keeps [B, heads, S, S] scores. */
  get attentionMemory(): AttentionMemory {
    return this.quadratic ? "quadratic" : "linear";
  }

  linear(x: Value, ref: LinearRef): Value {
    return this.biased(this.project(x, ref));
  }

  /** x·W of a linear map, its bias kept apart. */
  private project(x: Value, ref: LinearRef): Projection {
    return this.product(x, this.weights.linear(ref));
  }

  private product(x: Value, { weight, bias }: LinearValues): Projection {
    return { product: this.ops.matMul(x, weight), ...(bias ? { bias } : {}) };
  }

  private biased(p: Projection): Value {
    return p.bias ? this.ops.add(p.product, p.bias) : p.product;
  }

  add(x: Value, y: Value): Value {
    return this.ops.add(x, y);
  }

  /** Rows `ids` of embedding table `table`. */
  embed(table: TensorRef, ids: Value): Value {
    return this.ops.gather(this.weights.tensor(table), ids);
  }

  /** LayerNorm or RMSNorm, as `ref` says; the primary graph runs RMS norms in one kernel. */
  norm(x: Value, ref: NormRef): Value {
    const { gamma, beta, eps } = this.weights.norm(ref);
    if (!isRmsNorm(ref)) return this.ops.layerNorm(x, gamma, beta!, eps);
    return this.fused.norm ? this.contrib.simplifiedLayerNorm(x, gamma, eps) : this.ops.rmsNorm(x, gamma, eps);
  }

  /**
   * Post-norm residual: LayerNorm(x + residual). Standard ops in both variants: onnxruntime's
   * SkipLayerNormalization CPU kernel was slower than Add + LayerNormalization (docs/graph-forms.md).
   */
  addNorm(x: Value, residual: Value, ref: NormRef): Value {
    return this.norm(this.ops.add(x, residual), ref);
  }

  activation(x: Value, kind: Activation): Value {
    const { ops } = this;
    const fused = this.fused.activation;
    switch (kind) {
      case "gelu": // x·½·(1 + erf(x/√2))
        if (fused) return this.contrib.gelu(x);
        return ops.mul(ops.mul(x, ops.add(ops.erf(ops.div(x, ops.scalar(Math.SQRT2))), ops.scalar(1))), ops.scalar(0.5));
      case "gelu_tanh": {
        if (fused) return this.contrib.fastGelu(x);
        const cube = ops.mul(ops.mul(x, x), x);
        const inner = ops.mul(ops.add(x, ops.mul(cube, ops.scalar(0.044715))), ops.scalar(Math.sqrt(2 / Math.PI)));
        return ops.mul(ops.mul(x, ops.add(ops.tanh(inner), ops.scalar(1))), ops.scalar(0.5));
      }
      case "relu":
        return ops.relu(x);
      case "silu":
        return ops.mul(x, ops.sigmoid(x));
      case "quick_gelu":
        if (fused) return this.contrib.quickGelu(x, QUICK_GELU_ALPHA);
        return ops.mul(x, ops.sigmoid(ops.mul(x, ops.scalar(QUICK_GELU_ALPHA))));
    }
  }

  /** act(x·W + b); the primary graph adds a GELU's bias inside it (BiasGelu, FastGelu). */
  private activate(p: Projection, kind: Activation): Value {
    if (this.fused.activation && p.bias) {
      if (kind === "gelu") return this.contrib.biasGelu(p.product, p.bias);
      if (kind === "gelu_tanh") return this.contrib.fastGelu(p.product, p.bias);
    }
    return this.activation(this.biased(p), kind);
  }

  /** Two-layer MLP down(act(up(x))); with a gate, the GLU variant down(act(gate(x)) ⊙ up(x)). */
  feedForward(x: Value, up: LinearRef, down: LinearRef, act: Activation, gate?: GateRefs): Value {
    if (!gate) return this.linear(this.activate(this.project(x, up), act), down);
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
    const packed = this.biased(this.product(x, this.weights.packed([{ ref: gate.linear }, { ref: up }])));
    return ops.split(packed, [gate.linear.outFeatures, up.outFeatures], 2) as [Value, Value];
  }

  /** attention_mask [B, S] (1 keep, 0 pad) → additive mask [B, 1, 1, S] for the scores. */
  additiveMask(attentionMask: Value): Value {
    let additive = this.additiveMasks.get(attentionMask);
    if (!additive) {
      const { ops } = this;
      const keep = ops.cast(attentionMask, DataType.FLOAT);
      const masked = ops.mul(ops.sub(ops.scalar(1), keep), ops.scalar(MASK_VALUE, "mask_value"));
      additive = ops.unsqueeze(masked, [1, 2]);
      this.additiveMasks.set(attentionMask, additive);
    }
    return additive;
  }

  /** attention_mask [B, S] as this graph's attention reads it (built once, shared by every layer). */
  attentionMask(attentionMask: Value): AttentionMask {
    return this.fused.attention ? { input: attentionMask } : { input: attentionMask, additive: this.additiveMask(attentionMask) };
  }

  /**
   * `mask` narrowed to keys within `halfWindow` positions of each query; the additive form
   * ([B, 1, S, S]) only where the attention reads it (the flash form attends block by block).
   */
  windowedMask(mask: AttentionMask, ids: Value, halfWindow: number): AttentionMask {
    if (this.fused.attention && this.fused.flash) return { input: mask.input, halfWindow, ids };
    return { input: mask.input, halfWindow, additive: this.slidingWindowMask(this.additiveForm(mask), ids, halfWindow) };
  }

  /**
   * `mask` narrowed as a layer kind says: keys after each query hidden when `causal`, keys beyond
   * `halfWindow` when given. A bidirectional kind is windowedMask; a causal one always carries its
   * additive form [B, 1, S, S] (the kernels take it as attention_bias).
   */
  narrowedMask(mask: AttentionMask, ids: Value, kind: MaskKind): AttentionMask {
    if (!kind.causal) return kind.halfWindow === undefined ? mask : this.windowedMask(mask, ids, kind.halfWindow);
    const { ops } = this;
    const offsets = this.relativeOffsets(ids); // j − i
    let hidden = ops.cast(ops.greater(offsets, ops.g.constInt64([0], [], "zero_offset")), DataType.FLOAT);
    if (kind.halfWindow !== undefined) {
      const behind = ops.greater(ops.neg(offsets), ops.g.constInt64([kind.halfWindow], [], "half_window"));
      hidden = ops.max(hidden, ops.cast(behind, DataType.FLOAT));
    }
    const additive = ops.min(this.additiveForm(mask), ops.mul(hidden, ops.scalar(MASK_VALUE, "mask_value")));
    return { input: mask.input, additive, causal: true, ...(kind.halfWindow === undefined ? {} : { halfWindow: kind.halfWindow }) };
  }

  /** The additive form of `mask`, built from attention_mask when the mask holds none. */
  private additiveForm(mask: AttentionMask): Value {
    return mask.additive ?? this.additiveMask(mask.input);
  }

  /** Multi-head self-attention over x [B, S, H], returning the output projection [B, S, H]. */
  selfAttention(x: Value, refs: AttentionRefs, mask: AttentionMask, options: AttentionOptions = {}): Value {
    return this.linear(this.attentionContext(x, refs, mask, options), refs.output);
  }

  /** The merged heads [B, S, H] in the form `attentionFormOf` picks. */
  private attentionContext(x: Value, refs: AttentionRefs, mask: AttentionMask, options: AttentionOptions): Value {
    const form = this.attentionFormOf(refs, mask, options);
    // The flash form attends a window block by block; every other form reads its additive form
    // (added to the scores, or as the kernels' attention_bias), which windowedMask leaves out
    // while flash is on.
    if (form !== "flash") this.materializeWindow(mask);
    if (form === "matmul") return this.scaledDotProductAttention(x, refs, this.additiveForm(mask), options);
    if (form === "attention") {
      this.quadratic = true;
      const kernel = this.kernelOptions(refs);
      return this.contrib.attention(
        { input: x, ...this.weights.packed(this.qkvParts(refs)), ...this.kernelMasking(mask, options.scoreBias) },
        { ...kernel, qkvWidths: qkvWidths(refs) },
      );
    }
    return this.projectedAttention(x, refs, mask, options, form);
  }

  /**
   * The form of one layer's attention: the requested one where the layer can take it, else the
   * default. A score bias or a causal mask must be materialized ([heads, S, S]), so the flash
   * form takes neither; the Attention node takes no rotation, query/key norms, shared key/value
   * heads or own scale. The default is a memory choice first: flash for rotary or windowed
   * layers and for position limits above ATTENTION_NODE_MAX_SEQUENCE (memory growing with S, not
   * S²); else the Attention node where the layer can take it (of the five FP32 forms, the lowest
   * median ratio to the portable graph in every column of bench/results/attention.txt, which
   * measures the bge-small shape and a causal Qwen3 only); else mha-mask (the padding as the int32
   * key mask, no [B, 1, S, S] bias built).
   */
  private attentionFormOf(refs: AttentionRefs, mask: AttentionMask, options: AttentionOptions): AttentionForm {
    if (!this.fused.attention) return "matmul";
    const layout = headLayout(refs);
    const flashable = this.fused.flash && !options.scoreBias && !mask.causal;
    const plain = layout.kvHeads === layout.heads && !refs.headNorms && refs.scale === undefined && !options.rotary;
    const requested = this.fused.attentionForm;
    if (requested === "flash" && flashable) return "flash";
    if (requested === "attention" && plain) return "attention";
    if (requested === "mha-mask" || requested === "mha-bias" || requested === "matmul") return requested;
    if (flashable && (options.rotary !== undefined || mask.halfWindow !== undefined || this.maxSequence > ATTENTION_NODE_MAX_SEQUENCE)) {
      return "flash";
    }
    return plain ? "attention" : "mha-mask";
  }

  private kernelOptions(refs: AttentionRefs) {
    return { heads: refs.heads, maskFilterValue: MASK_VALUE, ...(refs.scale === undefined ? {} : { scale: refs.scale }) };
  }

  /**
   * onnxruntime's MultiHeadAttention after one packed MatMul (+ bias) and a Split: per head,
   * the query/key norms (Qwen3, Gemma 3), then the rotation, as the models do; shared key/value
   * heads repeated per query head. Padding is the key padding mask, filled with MASK_VALUE as the
   * reference does (a fully padded row attends uniformly, as there), or the additive mask as
   * attention_bias; a window mask and score biases are always attention_bias.
   */
  private projectedAttention(
    x: Value,
    refs: AttentionRefs,
    mask: AttentionMask,
    options: AttentionOptions,
    form: "mha-mask" | "mha-bias" | "flash",
  ): Value {
    const packed = this.weights.packed(this.qkvParts(refs));
    const layout = headLayout(refs);
    const { rotary, scoreBias } = options;
    const widths = qkvWidths(refs);
    const [q, k, v] = this.ops.split(this.biased(this.product(x, packed)), widths, 2) as [Value, Value, Value];
    const prepare = (t: Value, heads: number, norm: NormRef | undefined) => {
      const normed = norm ? this.mergeHeads(this.norm(this.splitHeads(t, heads, layout.size), norm), heads * layout.size) : t;
      return rotary ? this.rotate(normed, rotary, heads, layout.size) : normed;
    };
    const query = prepare(q, layout.heads, refs.headNorms?.query);
    const key = prepare(k, layout.kvHeads, refs.headNorms?.key);
    const shared = (t: Value) => this.mergeHeads(this.repeatHeads(this.splitHeads(t, layout.kvHeads, layout.size), layout), widths[0]);
    const [keys, values] = layout.kvHeads === layout.heads ? [key, v] : [shared(key), shared(v)];
    if (form === "flash") {
      const heads: ProjectedHeads = {
        q: query,
        k: keys,
        v: values,
        heads: refs.heads,
        size: layout.size,
        ...(refs.scale === undefined ? {} : { scale: refs.scale }),
      };
      return mask.halfWindow === undefined
        ? this.bounded.global(heads, mask.input)
        : this.bounded.local(heads, mask.input, mask.halfWindow);
    }
    this.quadratic = true;
    const masking =
      form === "mha-bias" && !scoreBias && !mask.additive
        ? { attentionBias: this.squareMask(mask.input) }
        : this.kernelMasking(mask, scoreBias);
    return this.contrib.multiHeadAttention({ query, key: keys, value: values, ...masking }, this.kernelOptions(refs));
  }

  /** The additive padding mask as the kernels' attention_bias takes it, [B, 1, S, S] (built once). */
  private squareMask(attentionMask: Value): Value {
    let square = this.squareMasks.get(attentionMask);
    if (!square) {
      const { ops } = this;
      const additive = this.additiveMask(attentionMask);
      const side = ops.dim(attentionMask, 1);
      square = ops.expand(additive, ops.concat([ops.dim(attentionMask, 0), ops.g.constInt64([1], [1], "one_head"), side, side], 0));
      this.squareMasks.set(attentionMask, square);
    }
    return square;
  }

  /**
   * Gives a window mask its additive form when an attention other than the flash form reads it
   * (a requested form, or a layer with a score bias), once per mask: its layers share it.
   */
  private materializeWindow(mask: AttentionMask): void {
    if (mask.additive || mask.halfWindow === undefined || !mask.ids) return;
    mask.additive = this.slidingWindowMask(this.additiveForm(mask), mask.ids, mask.halfWindow);
  }

  /** [B, S, heads·size] → [B, S, heads, size]. */
  private splitHeads(t: Value, heads: number, size: number): Value {
    return this.ops.reshape(t, [0, 0, heads, size]);
  }

  /** [B, S, heads, size] → [B, S, width]. */
  private mergeHeads(t: Value, width: number): Value {
    return this.ops.reshape(t, [0, 0, width]);
  }

  /**
   * Grouped-query attention's shared keys or values [B, S, kvHeads, size] repeated for the query
   * heads: query head h reads key/value head ⌊h / group⌋ (transformers' repeat_kv).
   */
  private repeatHeads(t: Value, layout: HeadLayout): Value {
    const { ops } = this;
    const group = layout.heads / layout.kvHeads;
    const single = ops.unsqueeze(t, [3]); // [B, S, kvHeads, 1, size]
    return ops.reshape(ops.concat(Array<Value>(group).fill(single), 3), [0, 0, layout.heads, layout.size]);
  }

  /**
   * The attention kernels' mask inputs: the key padding mask alone, or one attention_bias when
   * there is a score bias or a window. A score bias is summed with the padding mask once for all
   * layers ([B, heads, S, S]): given both, the kernels add them per layer in a scalar loop.
   */
  private kernelMasking(mask: AttentionMask, scoreBias: Value | undefined): AttentionMasking {
    if (!scoreBias) return mask.additive ? { attentionBias: mask.additive } : { keyPaddingMask: this.keyPaddingMask(mask.input) };
    const key = `${scoreBias}|${mask.additive ?? mask.input}`;
    let combined = this.combinedBiases.get(key);
    if (!combined) {
      combined = this.ops.add(scoreBias, this.additiveForm(mask));
      this.combinedBiases.set(key, combined);
    }
    return { attentionBias: combined };
  }

  private keyPaddingMask(attentionMask: Value): Value {
    let mask = this.keyPaddingMasks.get(attentionMask);
    if (!mask) {
      mask = this.ops.cast(attentionMask, DataType.INT32);
      this.keyPaddingMasks.set(attentionMask, mask);
    }
    return mask;
  }

  /** softmax(q·kᵀ/√d + bias + mask)·v in standard ops, heads merged back: [B, S, H]. */
  private scaledDotProductAttention(x: Value, refs: AttentionRefs, additive: Value, options: AttentionOptions): Value {
    this.quadratic = true;
    const { ops } = this;
    const widths = qkvWidths(refs);
    const layout = headLayout(refs);
    const headSize = layout.size;
    const scale = refs.scale ?? 1 / Math.sqrt(headSize);
    // A query norm would undo a scale folded into the query weights.
    const folded = this.variant === "primary" && !refs.headNorms;
    const [q, k, v] = this.projectQkv(x, refs, folded ? scale : 1);
    // [B, S, heads, size]; rotation commutes with the scale folded into the query weights.
    const prepare = (t: Value, heads: number, norm: NormRef | undefined) => {
      const split = this.splitHeads(t, heads, headSize);
      const normed = norm ? this.norm(split, norm) : split;
      return options.rotary ? this.rotateHeads(normed, options.rotary, headSize) : normed;
    };
    const shared = (t: Value) => (layout.kvHeads === layout.heads ? t : this.repeatHeads(t, layout));
    const queries = ops.transpose(prepare(q, layout.heads, refs.headNorms?.query), [0, 2, 1, 3]);
    const keys = ops.transpose(shared(prepare(k, layout.kvHeads, refs.headNorms?.key)), [0, 2, 3, 1]);
    let scores = ops.matMul(queries, keys);
    if (!folded) scores = ops.mul(scores, ops.scalar(scale, "scale"));
    if (options.scoreBias) scores = ops.add(scores, options.scoreBias);
    const probs = ops.softmax(ops.add(scores, additive), -1);
    const context = ops.matMul(probs, ops.transpose(shared(this.splitHeads(v, layout.kvHeads, headSize)), [0, 2, 1, 3]));
    return ops.reshape(ops.transpose(context, [0, 2, 1, 3]), [0, 0, widths[0]]);
  }

  /** Q/K/V maps as parts of one packed map, `queryScale` folded into the query's. */
  private qkvParts(refs: QkvRefs, queryScale = 1): FoldedLinear[] {
    if (!("qkv" in refs)) return [{ ref: refs.query, scale: queryScale }, { ref: refs.key }, { ref: refs.value }];
    const width = qkvWidths(refs)[0];
    return [
      { ref: refs.qkv, rows: [0, width], scale: queryScale },
      { ref: refs.qkv, rows: [width, refs.qkv.outFeatures] },
    ];
  }

  /** q, k, v [B, S, width]; primary: one MatMul with `queryScale` folded into the query rows. */
  private projectQkv(x: Value, refs: QkvRefs, queryScale: number): Value[] {
    const widths = qkvWidths(refs);
    if (this.variant === "portable") {
      return "qkv" in refs
        ? this.ops.split(this.linear(x, refs.qkv), widths, 2)
        : [refs.query, refs.key, refs.value].map((r) => this.linear(x, r));
    }
    return this.ops.split(this.biased(this.product(x, this.weights.packed(this.qkvParts(refs, queryScale)))), widths, 2);
  }

  /** Positions 0..S-1 (int64 [S]) of ids [B, S]. */
  positions(ids: Value): Value {
    const { ops } = this;
    const scalar = (value: number, hint: string) => ops.g.constInt64([value], [], hint);
    return ops.range(scalar(0, "zero"), ops.gather(ops.shape(ids), scalar(1, "sequence_axis")), scalar(1, "one"));
  }

  /** Key − query offsets j − i for queries i (rows) and keys j (columns) of ids [B, S]: int64 [S, S]. */
  relativeOffsets(ids: Value): Value {
    const p = this.positions(ids);
    return this.ops.sub(this.ops.unsqueeze(p, [0]), this.ops.unsqueeze(p, [1]));
  }

  /** |i − j| for positions i (rows) and j (columns) of ids [B, S]: int64 [S, S]. */
  private distances(ids: Value): Value {
    return this.ops.abs(this.relativeOffsets(ids));
  }

  /** Rotary tables for the sequence length of ids [B, S], computed in the graph (no length limit). */
  rotaryTables(ids: Value, spec: RotarySpec): RotaryTables {
    const { ops } = this;
    const frequencies = spec.inverseFrequencies;
    const positions = ops.cast(this.positions(ids), DataType.FLOAT);
    const angles = ops.mul(ops.unsqueeze(positions, [1]), ops.g.constFloat(frequencies, [frequencies.length], "inv_freq")); // [S, d/2]
    return new RotaryTables(ops, angles, 2 * frequencies.length, spec.interleaved);
  }

  /** Rotates the first `t.dim` features of each head of x [B, S, heads·size] (fused attention's queries and keys). */
  private rotate(x: Value, t: RotaryTables, heads: number, headSize: number): Value {
    const { ops } = this;
    if (this.fused.rotary) {
      const { cos, sin, firstPosition } = t.pairs();
      return this.contrib.rotaryEmbedding(x, firstPosition, cos, sin, { heads, dim: t.dim, interleaved: t.interleaved });
    }
    return ops.reshape(this.rotateHeads(ops.reshape(x, [0, 0, heads, headSize]), t, headSize), [0, 0, heads * headSize]);
  }

  /** x·cos + rotate(x)·sin on the first `t.dim` features of each head of x [B, S, heads, size]. */
  private rotateHeads(x: Value, t: RotaryTables, headSize: number): Value {
    const { ops } = this;
    const { cos, sin } = t.features();
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
    const rotated = ops.add(ops.mul(turning!, cos), ops.mul(turned, sin));
    return passing ? ops.concat([rotated, passing], 3) : rotated;
  }

  /** ALiBi bias [1, heads, S, S]: −slope_h·|i − j|, symmetric as bidirectional encoders use it. */
  alibiBias(ids: Value, slopes: Float32Array): Value {
    const { ops } = this;
    const negated = ops.g.constFloat(
      slopes.map((s) => -s),
      [slopes.length, 1, 1],
      "alibi_slopes",
    );
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
}
