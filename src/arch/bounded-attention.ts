// Attention whose memory does not grow with the square of the sequence length, for the primary
// graph (docs/graph-forms.md, "Long sequences"). onnxruntime's CPU MultiHeadAttention takes its
// flash-attention path (MlasFlashAttention: keys in blocks with a running softmax, no
// [B, heads, S, S] buffer) only when it is given no key_padding_mask, no attention_bias, no past
// or present state and unidirectional = 0 (contrib_ops/cpu/bert/multihead_attention.cc); with
// either mask input it materializes every score. Hence two forms:
// - global attention: the padding enters the scores through the heads themselves. Each query
//   head gets one more feature, 1, and each key head one more, 0 for a real token and
//   −PADDED_KEY_SCORE for a padded one, so q·k carries the mask; the kernel's scale stays
//   1/√(real head size).
// - sliding windows: queries in blocks of halfWindow positions, each block against its own and
//   both neighbouring blocks' keys (3·halfWindow of them, one Gather), with the window and the
//   padding as a [B·blocks, 1, block, 3·block] attention_bias: time and memory O(S·window).
import type { Value } from "../graph/builder.js";
import type { Contrib } from "../graph/contrib.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";

/**
 * What a padded key's extra feature subtracts from q·k. exp() of it is 0 beside any real score,
 * scaled it stays finite, and it swallows every real product in its rounding (float32's spacing
 * at 1e30 is 7.6e22): a query with only padded keys scores them all alike and attends uniformly,
 * as the reference does with its float32-lowest mask.
 */
export const PADDED_KEY_SCORE = 1e30;

/** Projected queries, keys and values [B, S, heads·size] of one layer. */
export interface ProjectedHeads {
  q: Value;
  k: Value;
  v: Value;
  heads: number;
  size: number;
  /** Factor of q·k (Gemma 3's query_pre_attn_scalar^-½); default 1/√size. */
  scale?: number;
}

/** The extra query and key features, [B, S, heads, 1] each. */
interface HeadPadding {
  query: Value;
  key: Value;
}

/** A sliding window's tensors, shared by every local layer. */
interface WindowPlan {
  /** [0, 0, 0, 0, P − S, 0]: pads queries [B, S, W] to whole blocks (P = blocks · halfWindow). */
  queryPads: Value;
  /**
   * [blocks · 3c] int64: the positions of each query block's keys, its previous, own and next
   * block (block·c − c + t for t < 3c), clamped into the sequence; the bias hides the clamped ones.
   */
  keyPositions: Value;
  /** [B·blocks, 1, c, 3c]: 0 for a key the query sees, maskValue for one beyond the window or padded. */
  bias: Value;
  /** B, int64 [1]. */
  batch: Value;
  /** [B, S, 1] bool: the query sees at least one key. */
  sees: Value;
}

export class BoundedAttention {
  private readonly padding = new Map<string, HeadPadding>();
  private readonly windows = new Map<string, WindowPlan>();

  constructor(
    private readonly ops: Ops,
    private readonly contrib: Contrib,
    /** Additive score of a key outside a query's window or padded (the other forms' mask value). */
    private readonly maskValue: number,
  ) {}

  /**
   * softmax(q·kᵀ/√size + padding)·v with no S² buffer: MultiHeadAttention's flash path, the
   * padding (attention_mask [B, S], int64) carried by one extra feature per head.
   */
  global({ q, k, v, heads, size, scale }: ProjectedHeads, mask: Value): Value {
    const { ops } = this;
    const padding = this.headPadding(mask, heads);
    const widen = (x: Value, extra: Value) =>
      ops.reshape(ops.concat([ops.reshape(x, [0, 0, heads, size]), extra], 3), [0, 0, heads * (size + 1)]);
    return this.contrib.multiHeadAttention(
      { query: widen(q, padding.query), key: widen(k, padding.key), value: v },
      { heads, maskFilterValue: this.maskValue, scale: scale ?? 1 / Math.sqrt(size) },
    );
  }

  /**
   * Each query attends to the keys within halfWindow positions that are not padded, block by
   * block. A query that sees no key at all attends uniformly over every key, as in the reference.
   */
  local({ q, k, v, heads, size, scale }: ProjectedHeads, mask: Value, halfWindow: number): Value {
    const { ops } = this;
    const g = ops.g;
    const width = heads * size;
    const c = halfWindow;
    const plan = this.window(mask, c);
    const queries = ops.reshape(ops.pad(q, plan.queryPads), [-1, c, width]);
    const neighbours = (x: Value) => ops.reshape(ops.gather(x, plan.keyPositions, 1), [-1, 3 * c, width]);
    const blocked = this.contrib.multiHeadAttention(
      { query: queries, key: neighbours(k), value: neighbours(v), attentionBias: plan.bias },
      { heads, maskFilterValue: this.maskValue, ...(scale === undefined ? {} : { scale }) },
    );
    const unblocked = g.op("Reshape", [blocked, ops.concat([plan.batch, g.constInt64([-1, width], [2], "unblocked_width")], 0)]);
    const context = ops.slice(
      unblocked,
      g.constInt64([0], [1], "first_position"),
      ops.dim(mask, 1),
      g.constInt64([1], [1], "sequence_axis"),
    );
    return ops.where(plan.sees, context, ops.reduceMean(v, [1]));
  }

  private headPadding(mask: Value, heads: number): HeadPadding {
    const cacheKey = `${mask}|${heads}`;
    let padding = this.padding.get(cacheKey);
    if (!padding) {
      const { ops } = this;
      const g = ops.g;
      padding = g.scope("head_padding", () => {
        const shape = ops.concat([ops.shape(mask), g.constInt64([heads, 1], [2], "heads_and_one")], 0);
        const score = ops.mul(ops.sub(ops.cast(mask, DataType.FLOAT), ops.scalar(1)), ops.scalar(PADDED_KEY_SCORE, "padded_key_score"));
        return { query: ops.expand(ops.scalar(1), shape), key: ops.expand(ops.unsqueeze(score, [2, 3]), shape) };
      });
      this.padding.set(cacheKey, padding);
    }
    return padding;
  }

  private window(mask: Value, c: number): WindowPlan {
    const cacheKey = `${mask}|${c}`;
    let plan = this.windows.get(cacheKey);
    if (!plan) {
      plan = this.ops.g.scope("window_blocks", () => this.planWindow(mask, c));
      this.windows.set(cacheKey, plan);
    }
    return plan;
  }

  private planWindow(mask: Value, c: number): WindowPlan {
    const { ops } = this;
    const g = ops.g;
    const int64 = (values: number[], hint: string) => g.constInt64(values, [values.length], hint);
    const batch = ops.dim(mask, 0);
    const sequence = ops.dim(mask, 1);
    const block = int64([c], "block");
    const blocks = ops.div(ops.add(sequence, int64([c - 1], "block_round_up")), block);
    const queryPads = ops.concat([int64([0, 0, 0, 0], "no_pads"), ops.sub(ops.mul(blocks, block), sequence), int64([0], "no_pad")], 0);
    // Key positions of each block: block·c − c + t, t < 3c ([blocks, 3c]); inside the sequence or not.
    const scalar = (value: number, hint: string) => g.constInt64([value], [], hint);
    const starts = ops.mul(ops.range(scalar(0, "zero"), ops.squeeze(blocks, [0]), scalar(1, "one")), scalar(c, "block_size"));
    const offsets = g.constInt64(
      Array.from({ length: 3 * c }, (_, t) => t - c),
      [1, 3 * c],
      "key_offsets",
    );
    const positions = ops.add(ops.unsqueeze(starts, [1]), offsets);
    const last = ops.squeeze(ops.sub(sequence, int64([1], "one")), [0]);
    const inside = g.op("And", [ops.greater(positions, scalar(-1, "minus_one")), g.op("Less", [positions, sequence])]);
    const keyPositions = ops.reshape(ops.clip(positions, scalar(0, "zero"), last), [-1]);
    // The keys' additive padding mask, outside positions hidden too: [B·blocks, 1, 1, 3c].
    const keep = ops.mul(
      ops.gather(ops.cast(mask, DataType.FLOAT), keyPositions, 1),
      ops.reshape(ops.cast(inside, DataType.FLOAT), [1, -1]),
    );
    const hidden = ops.mul(ops.sub(ops.scalar(1), keep), ops.scalar(this.maskValue, "mask_value"));
    const keyBlocks = ops.reshape(hidden, [-1, 1, 1, 3 * c]);
    // Query i of a block sees key t of its three blocks when |i − (t − c)| ≤ c.
    const band = new Float32Array(c * 3 * c);
    for (let i = 0; i < c; i++) for (let j = 0; j < 3 * c; j++) band[i * 3 * c + j] = Math.abs(i - (j - c)) > c ? this.maskValue : 0;
    const bias = ops.min(keyBlocks, g.constFloat(band, [1, 1, c, 3 * c], "window_band"));
    const seesBlocked = ops.greater(ops.reduceMax(bias, [3]), ops.scalar(this.maskValue / 2, "half_mask_value"));
    const perPosition = g.op("Reshape", [seesBlocked, ops.concat([batch, int64([-1, 1], "per_position")], 0)]);
    const sees = ops.slice(perPosition, int64([0], "first_position"), sequence, int64([1], "sequence_axis"));
    return { queryPads, keyPositions, bias, batch, sees };
  }
}
