// SPLADE (naver/splade-v3, splade-cocondenser-ensembledistil, prithivida/Splade_PP_en_v1,
// opensearch neural-sparse): the masked-LM head of BERT / DistilBERT over every token, then
// log(1 + relu(logits)) pooled over the real tokens → sparse_embedding [batch, vocab], as
// sentence-transformers' SparseEncoder (MLMTransformer + SpladePooling) computes it.
//
// Memory: the graph holds one [batch, sequence, vocab] tensor, the decoder's product, and reduces
// it at once. Max pooling (every SPLADE since v2) takes the max of the raw logits — log(1 + relu(·))
// is monotone, so it commutes with the max — and adds the bias and the activation on [batch, vocab]
// only; padded positions carry their row's first token into the decoder, so they can never win
// the max. Sum pooling (the original SPLADE) needs the activation per token and masks after it.
import { type ModelFiles, joinName } from "../common/files.js";
import type { Activation } from "../arch/activation.js";
import type { BertConfig } from "../arch/bert.js";
import { ConfigError, ConfigReader } from "../arch/config.js";
import * as ref from "../arch/reference/math.js";
import { moduleClass, readModules } from "../arch/sentence-transformers.js";
import {
  type LinearArrays,
  type LinearRef,
  type NormArrays,
  type NormRef,
  type TensorRef,
  type WeightReader,
  linearRef,
  normRef,
  tensorRef,
} from "../arch/weight-refs.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import { attr, type Value } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Head, HeadSite } from "./head.js";

/** SpladePooling's pooling_strategy. */
export type SpladeStrategy = "max" | "sum";
/** SpladePooling's activation_function: relu → log1p, or log1p applied twice (OpenSearch's models). */
export type SpladeActivation = "relu" | "log1p_relu";

export interface SpladePooling {
  strategy: SpladeStrategy;
  activation: SpladeActivation;
}

export const SPLADE_STRATEGIES: readonly SpladeStrategy[] = ["max", "sum"];
export const SPLADE_ACTIVATIONS: readonly SpladeActivation[] = ["relu", "log1p_relu"];
/** What `--task sparse` assumes without a SpladePooling config: SPLADE v2+'s max over relu. */
export const DEFAULT_SPLADE_POOLING: SpladePooling = { strategy: "max", activation: "relu" };

/**
 * A masked-LM head: transform (dense → act → LayerNorm), then the decoder to the vocabulary. The
 * decoder weight [vocab, hidden] is the word embedding table when tied (checkpoints saved by
 * save_pretrained leave it out), else its own tensor.
 */
export interface MlmHeadPlan {
  transform: LinearRef;
  activation: Activation;
  norm: NormRef;
  decoder: TensorRef;
  /** [vocab] */
  bias: TensorRef;
}

/** The MLM head of a BERT (`cls.predictions.*`) or DistilBERT (`vocab_*`) checkpoint, or undefined for other templates. */
export function mlmHeadPlan(architecture: string, site: HeadSite): MlmHeadPlan | undefined {
  const c = site.config as BertConfig;
  const h = c.hiddenSize;
  const tied = tensorRef(`${site.prefix}embeddings.word_embeddings.weight`, [c.vocabSize, h]);
  const decoder = (name: string) => (site.checkpoint.has(name) ? tensorRef(name, [c.vocabSize, h]) : tied);
  switch (architecture) {
    case "bert":
      return {
        transform: linearRef("cls.predictions.transform.dense", h, h),
        activation: c.activation,
        norm: normRef("cls.predictions.transform.LayerNorm", h, c.layerNormEps),
        decoder: decoder("cls.predictions.decoder.weight"),
        // transformers ties decoder.bias to this; a checkpoint may keep either name.
        bias: tensorRef(
          site.checkpoint.has("cls.predictions.decoder.bias") && !site.checkpoint.has("cls.predictions.bias")
            ? "cls.predictions.decoder.bias"
            : "cls.predictions.bias",
          [c.vocabSize],
        ),
      };
    case "distilbert":
      return {
        transform: linearRef("vocab_transform", h, h),
        activation: c.activation,
        norm: normRef("vocab_layer_norm", h, c.layerNormEps),
        decoder: decoder("vocab_projector.weight"),
        bias: tensorRef("vocab_projector.bias", [c.vocabSize]),
      };
    default:
      return undefined;
  }
}

/** The tensors a plan reads, to check the checkpoint has them before anything is built. */
export function mlmHeadTensors(plan: MlmHeadPlan): string[] {
  return [
    `${plan.transform.prefix}.weight`,
    `${plan.transform.prefix}.bias`,
    `${plan.norm.prefix}.weight`,
    plan.decoder.name,
    plan.bias.name,
  ];
}

// ---- sentence-transformers SparseEncoder files ----

/**
 * The SpladePooling settings of a SparseEncoder folder (modules.json: MLMTransformer, then
 * SpladePooling with its config.json); undefined when modules.json describes no SparseEncoder.
 * A SparseEncoder with other modules (SparseStaticEmbedding, Router…) is refused by name.
 */
export function readSpladePipeline(files: ModelFiles): SpladePooling | undefined {
  const modules = readModules(files);
  const pooling = modules?.find((m) => moduleClass(m) === "SpladePooling");
  if (!modules || !pooling) return undefined;
  const others = modules.filter((m) => m !== pooling && moduleClass(m) !== "MLMTransformer");
  if (others.length > 0 || modules.length !== 2) {
    throw new ConfigError(
      `${files.path("modules.json")}: a SparseEncoder of ${modules.map(moduleClass).join(" → ")}; only MLMTransformer → SpladePooling is exported` +
        (others.length > 0 ? ` (not ${others.map((m) => m.type).join(", ")})` : ""),
    );
  }
  const configName = joinName(pooling.path, "config.json");
  if (!files.has(configName)) return DEFAULT_SPLADE_POOLING;
  const c = ConfigReader.fromFile(files, configName);
  return {
    strategy: c.oneOf("pooling_strategy", SPLADE_STRATEGIES, DEFAULT_SPLADE_POOLING.strategy),
    activation: c.oneOf("activation_function", SPLADE_ACTIVATIONS, DEFAULT_SPLADE_POOLING.activation),
  };
}

// ---- the head ----

/** The `sparse_embedding` head: `plan`'s MLM logits pooled SPLADE's way. */
export function spladeHead(plan: MlmHeadPlan, pooling: SpladePooling): Head {
  const vocab = plan.bias.shape[0]!;
  const hidden = plan.transform.inFeatures;
  return {
    name: `splade:${pooling.strategy}`,
    outputs: [{ name: OUTPUT.sparseEmbedding, dims: ["batch", vocab], perToken: false }],
    judge: { kind: "sparse-overlap", output: OUTPUT.sparseEmbedding },
    emit({ nn, ops, g, inputs }, encoder) {
      const t = nn.norm(nn.activation(nn.linear(encoder.hidden, plan.transform), plan.activation), plan.norm); // [B, S, H]
      const keep = ops.unsqueeze(ops.cast(inputs.attentionMask, DataType.BOOL), [2]); // [B, S, 1]
      const max = pooling.strategy === "max";
      // Max: a padded position repeats its row's first token, which the max already sees.
      const tokens = max ? ops.where(keep, t, ops.unsqueeze(nn.firstToken(t), [1])) : t;
      const decoder = nn.weights.tensor(plan.decoder);
      const bias = nn.weights.tensor(plan.bias);
      // Gemm reads the [vocab, hidden] table transposed in place: one copy serves the embedding lookup and the decoder.
      const product = g.op("Gemm", [ops.reshape(tokens, [-1, hidden]), decoder, ...(max ? [] : [bias])], { transB: attr.int(1) }); // [B·S, V]
      const logits = g.op("Reshape", [product, ops.concat([ops.dim(inputs.inputIds, 0), g.constInt64([-1, vocab], [2], "rows_vocab")], 0)]); // [B, S, V]
      const one = ops.scalar(1, "one");
      const log1p = (x: Value) => g.op("Log", [ops.add(x, one)]);
      const activate = (x: Value) => (pooling.activation === "log1p_relu" ? log1p(log1p(ops.relu(x))) : log1p(ops.relu(x)));
      const sparse = max
        ? activate(ops.add(ops.reduceMax(logits, [1], false), bias))
        : ops.reduceSum(ops.mul(activate(logits), ops.cast(keep, DataType.FLOAT)), [1], false);
      return {
        values: { [OUTPUT.sparseEmbedding]: sparse },
        metadata: { [METADATA.head]: `splade:${pooling.strategy}:${pooling.activation}`, [METADATA.sparseVocabulary]: String(vocab) },
      };
    },
    reference({ weights, batch }, encoder) {
      return { [OUTPUT.sparseEmbedding]: spladeReference(encoder.hidden, batch, mlmHeadArrays(weights, plan), pooling) };
    },
  };
}

export interface MlmHeadArrays {
  transform: LinearArrays;
  activation: Activation;
  norm: NormArrays;
  decoder: Float32Array;
  bias: Float32Array;
}

export function mlmHeadArrays(weights: WeightReader, plan: MlmHeadPlan): MlmHeadArrays {
  return {
    transform: weights.linear(plan.transform),
    activation: plan.activation,
    norm: weights.norm(plan.norm),
    decoder: weights.tensor(plan.decoder),
    bias: weights.tensor(plan.bias),
  };
}

/**
 * SpladePooling of the MLM logits, written as sentence-transformers does it: logits × mask,
 * relu, log1p (twice for log1p_relu), then max or sum over the sequence. hidden [B, S, H] → [B, V].
 */
export function spladeReference(
  hidden: Float32Array,
  batch: { batch: number; sequence: number; attentionMask: ArrayLike<number> },
  head: MlmHeadArrays,
  pooling: SpladePooling,
): Float32Array {
  const rows = batch.batch * batch.sequence;
  const vocab = head.bias.length;
  const width = head.transform.inFeatures;
  const t = ref.layerNorm(ref.activation(ref.linear(hidden, rows, head.transform), head.activation), head.norm);
  const logits = ref.linear(t, rows, { weight: head.decoder, bias: head.bias, inFeatures: width, outFeatures: vocab });
  const out = new Float32Array(batch.batch * vocab).fill(pooling.strategy === "max" ? -Infinity : 0);
  for (let r = 0; r < rows; r++) {
    const keep = Number(batch.attentionMask[r]) !== 0 ? 1 : 0;
    const o = Math.floor(r / batch.sequence) * vocab;
    for (let v = 0; v < vocab; v++) {
      let x = Math.log1p(Math.max(0, logits[r * vocab + v]! * keep));
      if (pooling.activation === "log1p_relu") x = Math.log1p(x);
      out[o + v] = pooling.strategy === "max" ? Math.max(out[o + v]!, x) : out[o + v]! + x;
    }
  }
  return out;
}
