// The reference forward's counterpart of Blocks (../blocks.ts): the same methods under the same
// names, on arrays of one token batch instead of graph values, so a template's graph forward and
// its reference forward read line for line. The math is reference/math.ts; this class only reads
// the tensors behind the refs and supplies the batch's shape.
import type { Activation } from "../activation.js";
import type { TokenBatch } from "../architecture.js";
import type { AttentionRefs, GateRefs, LayerBlocks, MaskKind } from "../blocks.js";
import type { RotarySpec } from "../positions.js";
import {
  type LinearArrays,
  type LinearRef,
  type NormArrays,
  type NormRef,
  type TensorRef,
  type WeightReader,
  isRmsNorm,
} from "../weight-refs.js";
import * as ref from "./math.js";

/**
 * Which keys each query sees: attention_mask [B, S] (0 hides a key) and, for local attention,
 * the largest |i − j| a query attends to (the reference's form of Blocks' AttentionMask).
 */
export interface ReferenceMask {
  keys: Int32Array;
  window?: number;
  /** Keys after the query are hidden. */
  causal?: boolean;
}

/** Blocks' AttentionOptions on arrays: a score bias per (batch, head, query, key), rotary tables. */
export type ReferenceAttentionOptions = Pick<ref.AttentionOptions, "scoreBias" | "rotary">;

export class ReferenceBlocks implements LayerBlocks<Float32Array, ReferenceMask, ReferenceAttentionOptions> {
  /** The refs whose arrays are held, and those arrays (see layer()). */
  private heldFor?: object;
  private readonly held = new Map<object, LinearArrays | NormArrays>();

  constructor(
    readonly weights: WeightReader,
    readonly batch: TokenBatch,
  ) {}

  /**
   * Runs one layer of `refs`; the arrays it reads are held until a layer of other refs runs. A
   * layer run again at the next pass (ALBERT's shared layer: the same refs object) reads its
   * weights once; otherwise only one layer's arrays are held at a time. The graph's g.scope.
   */
  layer<T>(refs: object, body: () => T): T {
    if (this.heldFor !== refs) {
      this.held.clear();
      this.heldFor = refs;
    }
    return body();
  }

  /** x [rows, in] · Wᵀ + b. */
  linear(x: Float32Array, w: LinearRef): Float32Array {
    return ref.linear(x, x.length / w.inFeatures, this.linearArrays(w));
  }

  /** LayerNorm or RMSNorm, as `w` says, over rows of w.size. */
  norm(x: Float32Array, w: NormRef): Float32Array {
    const arrays = this.normArrays(w);
    return isRmsNorm(w) ? ref.rmsNorm(x, arrays.gamma, arrays.eps) : ref.layerNorm(x, arrays);
  }

  add(x: Float32Array, y: Float32Array): Float32Array {
    return ref.add(x, y);
  }

  /** Post-norm residual: LayerNorm(x + residual). */
  addNorm(x: Float32Array, residual: Float32Array, w: NormRef): Float32Array {
    return this.norm(ref.add(x, residual), w);
  }

  activation(x: Float32Array, kind: Activation): Float32Array {
    return ref.activation(x, kind);
  }

  /** down(act(up(x))); with a gate, down(act(gate(x)) ⊙ up(x)). */
  feedForward(x: Float32Array, up: LinearRef, down: LinearRef, act: Activation, gate?: GateRefs): Float32Array {
    const gateArrays = gate && ("half" in gate ? gate : { linear: this.linearArrays(gate.linear) });
    return ref.feedForward(x, x.length / up.inFeatures, this.linearArrays(up), this.linearArrays(down), act, gateArrays);
  }

  /** attention_mask [B, S] as the reference's attention reads it. */
  attentionMask(attentionMask: Int32Array): ReferenceMask {
    return { keys: attentionMask };
  }

  /** `mask` narrowed to keys within `halfWindow` positions of each query. */
  windowedMask(mask: ReferenceMask, _ids: Int32Array, halfWindow: number): ReferenceMask {
    return { keys: mask.keys, window: halfWindow };
  }

  /** `mask` narrowed as a layer kind says (Blocks.narrowedMask). */
  narrowedMask(mask: ReferenceMask, _ids: Int32Array, kind: MaskKind): ReferenceMask {
    return {
      keys: mask.keys,
      ...(kind.halfWindow === undefined ? {} : { window: kind.halfWindow }),
      ...(kind.causal ? { causal: true } : {}),
    };
  }

  /** Multi-head self-attention over x [B, S, H], returning the output projection [B, S, H]. */
  selfAttention(x: Float32Array, refs: AttentionRefs, mask: ReferenceMask, options: ReferenceAttentionOptions = {}): Float32Array {
    const { batch, sequence } = this.batch;
    const norms = refs.headNorms;
    const common = {
      output: this.linearArrays(refs.output),
      heads: refs.heads,
      ...(norms
        ? { headNorms: { query: (t: Float32Array) => this.norm(t, norms.query), key: (t: Float32Array) => this.norm(t, norms.key) } }
        : {}),
      ...(refs.scale === undefined ? {} : { scale: refs.scale }),
    };
    const arrays: ref.AttentionArrays =
      "qkv" in refs
        ? { qkv: this.linearArrays(refs.qkv), ...common }
        : { query: this.linearArrays(refs.query), key: this.linearArrays(refs.key), value: this.linearArrays(refs.value), ...common };
    const window = mask.window === undefined ? {} : { window: mask.window };
    return ref.selfAttention(x, batch, sequence, arrays, mask.keys, { ...options, ...window, ...(mask.causal ? { causal: true } : {}) });
  }

  /** Rotary tables for the batch's sequence length (positions from 0). */
  rotaryTables(_ids: Int32Array, spec: RotarySpec): ref.RotaryTableArrays {
    return ref.rotaryTables(this.batch.sequence, spec);
  }

  /** ALiBi bias −slope_h·|i − j|, symmetric. */
  alibiBias(_ids: Int32Array, slopes: Float32Array): ref.ScoreBias {
    return ref.alibiScoreBias(slopes);
  }

  /** Rows `ids` of embedding table `table`; `what` names the ids in an out-of-range error. */
  embed(table: TensorRef, ids: Int32Array, what = "input_ids"): Float32Array {
    return this.weights.rows(table, ids, what);
  }

  /** RoBERTa-style position ids: padding_idx + the token's rank among non-pad tokens; pads at padding_idx. */
  positionIdsAfterPadding(ids: Int32Array, paddingIdx: number): Int32Array {
    return ref.positionIdsAfterPadding(ids, this.batch.batch, this.batch.sequence, paddingIdx);
  }

  /** First token of each row: [B, S, H] → [B, H]. */
  firstToken(hidden: Float32Array): Float32Array {
    return ref.firstToken(hidden, this.batch.batch, this.batch.sequence);
  }

  /** BERT pooler: tanh(dense(first token)). */
  pooler(hidden: Float32Array, dense: LinearRef): Float32Array {
    return ref.tanh(this.linear(this.firstToken(hidden), dense));
  }

  private linearArrays(w: LinearRef): LinearArrays {
    return this.hold(w, () => this.weights.linear(w));
  }

  private normArrays(w: NormRef): NormArrays {
    return this.hold(w, () => this.weights.norm(w));
  }

  private hold<A extends LinearArrays | NormArrays>(w: object, read: () => A): A {
    let arrays = this.held.get(w) as A | undefined;
    if (!arrays) {
      arrays = read();
      this.held.set(w, arrays);
    }
    return arrays;
  }
}
