// The pre-norm family's shared forward: token embeddings [× scale] [→ norm] → N × pre-norm layers
// → final norm. ModernBERT (bidirectional, global and local layers) and the decoders Qwen3, Qwen2
// and Gemma 3 (causal or bidirectional, RMS norms, grouped-query attention) describe their weights
// once as a PreNormPlan; preNormArchitecture() makes the graph and the reference forward from it,
// as postNormArchitecture() does for the BERT family. The layer is one function for both forwards.
import type { Value } from "../graph/builder.js";
import type { Activation } from "./activation.js";
import type { Architecture, EncoderConfig, EncoderResult, GraphInputs, TemplateContext } from "./architecture.js";
import type { AttentionRefs, GateRefs, LayerBlocks, MaskKind, RotaryTables } from "./blocks.js";
import type { RotarySpec } from "./positions.js";
import { ReferenceBlocks } from "./reference/blocks.js";
import type { LinearRef, NormRef, TensorRef } from "./weight-refs.js";

/** Global layers attend to every key (full attention); local ones within a window (sliding attention). */
export type LayerKind = "global" | "local";

/**
 * One pre-norm layer: x + [postAttentionNorm](attention(attentionNorm(x))), then
 * h + [postMlpNorm](mlp(mlpNorm(h))). The post norms are Gemma 3's sandwich norms.
 */
export interface PreNormLayerRefs {
  kind: LayerKind;
  /** Absent: the identity (ModernBERT's layer 0). */
  attentionNorm?: NormRef;
  attention: AttentionRefs;
  postAttentionNorm?: NormRef;
  mlpNorm: NormRef;
  up: LinearRef;
  gate: GateRefs;
  down: LinearRef;
  postMlpNorm?: NormRef;
}

/** A pre-norm model: weight names and the few choices that tell the models apart. */
export interface PreNormPlan {
  words: TensorRef;
  /** Multiplies the token embeddings (Gemma 3: √hidden, rounded to float32). */
  embeddingScale?: number;
  /** ModernBERT's embedding LayerNorm. */
  embeddingNorm?: NormRef;
  layers: PreNormLayerRefs[];
  activation: Activation;
  finalNorm: NormRef;
  /** Which keys a layer of each kind sees beyond padding: causal (decoders), a window (local layers). */
  masks: Record<LayerKind, MaskKind>;
  rotary: Record<LayerKind, RotarySpec>;
}

/** A template whose forward is this skeleton: what every Architecture declares and its plan. */
export interface PreNormTemplate<C extends EncoderConfig> extends Omit<Architecture<C>, "emit" | "reference"> {
  plan(config: C): PreNormPlan;
}

export function preNormArchitecture<C extends EncoderConfig>({ plan, ...template }: PreNormTemplate<C>): Architecture<C> {
  return {
    ...template,
    emit: (ctx, config, inputs) => emitPreNorm(ctx, plan(config), inputs),
    reference(weights, config, batch) {
      return referencePreNorm(new ReferenceBlocks(weights, batch), plan(config));
    },
  };
}

// ---- graph ----

function emitPreNorm(ctx: TemplateContext, plan: PreNormPlan, inputs: GraphInputs): EncoderResult<Value> {
  const { g, nn, ops } = ctx;
  const ids = inputs.inputIds;
  const padding = nn.attentionMask(inputs.attentionMask);
  // Masks and rotary tables per kind, built once and only for kinds the model has.
  const masks = perKind((kind) => g.scope(`${kind}_mask`, () => nn.narrowedMask(padding, ids, plan.masks[kind])));
  const tables = perKind<RotaryTables>((kind) => g.scope(`rotary_${kind}`, () => nn.rotaryTables(ids, plan.rotary[kind])));
  let x = nn.embed(plan.words, ids);
  if (plan.embeddingScale !== undefined) x = ops.mul(x, ops.scalar(plan.embeddingScale, "embedding_scale"));
  if (plan.embeddingNorm) x = nn.norm(x, plan.embeddingNorm);
  plan.layers.forEach((layer, i) => {
    x = g.scope(`layer.${i}`, () => preNormLayer(nn, layer, plan.activation, x, masks, tables));
  });
  return { hidden: nn.norm(x, plan.finalNorm) };
}

/** A value per layer kind, made on first use. */
function perKind<T>(make: (kind: LayerKind) => T): (kind: LayerKind) => T {
  const made = new Map<LayerKind, T>();
  return (kind) => {
    if (!made.has(kind)) made.set(kind, make(kind));
    return made.get(kind)!;
  };
}

// ---- reference forward ----

function referencePreNorm(nn: ReferenceBlocks, plan: PreNormPlan): EncoderResult<Float32Array> {
  const ids = nn.batch.inputIds;
  const padding = nn.attentionMask(nn.batch.attentionMask);
  const masks = perKind((kind) => nn.narrowedMask(padding, ids, plan.masks[kind]));
  const tables = perKind((kind) => nn.rotaryTables(ids, plan.rotary[kind]));
  let x = nn.embed(plan.words, ids);
  const scale = plan.embeddingScale;
  if (scale !== undefined) x = x.map((v) => v * scale);
  if (plan.embeddingNorm) x = nn.norm(x, plan.embeddingNorm);
  for (const layer of plan.layers) {
    x = nn.layer(layer, () => preNormLayer(nn, layer, plan.activation, x, masks, tables));
  }
  return { hidden: nn.norm(x, plan.finalNorm) };
}

// ---- both ----

function preNormLayer<T, Mask, Rotary>(
  nn: LayerBlocks<T, Mask, { rotary: Rotary }>,
  w: PreNormLayerRefs,
  act: Activation,
  x: T,
  masks: (kind: LayerKind) => Mask,
  tables: (kind: LayerKind) => Rotary,
): T {
  const normed = w.attentionNorm ? nn.norm(x, w.attentionNorm) : x;
  // Masks and tables are made on first use, here: a layer's nodes come in the order it computes them.
  const attention = nn.selfAttention(normed, w.attention, masks(w.kind), { rotary: tables(w.kind) });
  const attended = nn.add(x, w.postAttentionNorm ? nn.norm(attention, w.postAttentionNorm) : attention);
  const mlp = nn.feedForward(nn.norm(attended, w.mlpNorm), w.up, w.down, act, w.gate);
  return nn.add(attended, w.postMlpNorm ? nn.norm(mlp, w.postMlpNorm) : mlp);
}
