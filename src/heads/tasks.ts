// Which task a checkpoint is for, and the heads that compute it. The task comes from config.json's
// `architectures` (`*ForSequenceClassification` → rerank; `*Model`, `*ForMaskedLM`,
// `*ForPreTraining` → feature-extraction, the head dropped as before) and can be forced. A head
// this tool does not export (token classification, question answering, …) is an error naming its
// tensors, never a silent drop to a plain encoder.
import type { LoadedEncoder } from "../arch/encoder.js";
import type { ConfigReader } from "../arch/config.js";
import { WeightError } from "../checkpoint/weights.js";
import { ExportError } from "../common/errors.js";
import { UsageError } from "../common/usage.js";
import { classificationHead, classifierPlan, planTensors } from "./classification.js";
import { encoderOutputsHead, lastHiddenStateHead } from "./encoder-outputs.js";
import { readSentencePipeline } from "../arch/sentence-transformers.js";
import type { BgeM3Output } from "./bge-m3.js";
import { type CausalRerankSpec, answerTokenHead } from "./causal-rerank.js";
import { type Head, type HeadJudging, judgingOf } from "./head.js";
import { BGE_M3_DENSE_POOLING, bgeM3Heads, colbertHead, detectRetrievalTask, sparseHead } from "./retrieval.js";
import { type SentencePooling, sentenceEmbeddingHead } from "./pooling.js";
import type { VectorOutput } from "./vectors.js";

export const TASKS = ["feature-extraction", "rerank", "sparse", "colbert", "bge-m3"] as const;
export type Task = (typeof TASKS)[number];

/** What an export computes, in a form that crosses process boundaries (the reference worker rebuilds the heads from it). */
export interface TaskSpec {
  task: Task;
  /** feature-extraction: add sentence_embedding, pooled this way. */
  sentenceEmbedding?: SentencePooling;
  /** feature-extraction with sentenceEmbedding: add its quantized copy. */
  vector?: VectorOutput;
  /** bge-m3: which of its outputs the graph has (default all: dense, sparse, colbert). */
  outputs?: BgeM3Output[];
  /** rerank on a causal LM (Qwen3-Reranker): the answer tokens and the prompt. */
  answerTokens?: CausalRerankSpec;
}

/** Tasks whose heads exist; the others are reserved names. */
const IMPLEMENTED: readonly Task[] = ["feature-extraction", "rerank", "sparse", "colbert", "bge-m3"];

/** `architectures` suffixes whose head is dropped on purpose: the encoder is the product. */
const ENCODER_SUFFIXES = ["Model", "ForMaskedLM", "ForPreTraining"];
/** Heads that are neither an encoder nor a reranker, by their class name's suffix. */
const UNSUPPORTED_HEADS: ReadonlyArray<[suffix: string, kind: string]> = [
  ["ForTokenClassification", "token-classification"],
  ["ForQuestionAnswering", "question-answering"],
  ["ForMultipleChoice", "multiple-choice"],
  ["ForNextSentencePrediction", "next-sentence-prediction"],
  ["ForCausalLM", "causal language-model"],
];
/** Tensor stems that sit outside the encoder in task checkpoints saved without a prefix. */
const HEAD_STEMS = ["classifier.", "qa_outputs.", "pre_classifier.", "score.", "head.", "cls.", "lm_head."];
const LISTED_TENSORS = 6;

/** The config's architectures list (strings only). */
function architecturesOf(c: ConfigReader): string[] {
  const value = c.raw("architectures");
  return Array.isArray(value) ? value.filter((a): a is string => typeof a === "string") : [];
}

/** Tensors of the checkpoint outside the encoder: the head's. */
export function headTensors(encoder: LoadedEncoder): string[] {
  const names = encoder.checkpoint.store.names();
  return encoder.prefix
    ? names.filter((n) => !n.startsWith(encoder.prefix))
    : names.filter((n) => HEAD_STEMS.some((stem) => n.startsWith(stem)));
}

function listTensors(names: string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, LISTED_TENSORS).join(", ");
  return names.length > LISTED_TENSORS ? `${shown} and ${names.length - LISTED_TENSORS} more` : shown;
}

/**
 * The task config.json's `architectures` names, or the retrieval files beside the weights say
 * (heads/retrieval.ts); an unsupported head is a ConfigError naming its tensors.
 */
export function detectTask(encoder: LoadedEncoder): Task {
  const c = encoder.configFile;
  const architectures = architecturesOf(c);
  if (architectures.some((a) => a.endsWith("ForSequenceClassification"))) return "rerank";
  if (encoder.architecture.decoder) return detectDecoderTask(encoder, architectures);
  const retrieval = detectRetrievalTask(encoder);
  if (retrieval) return retrieval;
  for (const a of architectures) {
    const unsupported = UNSUPPORTED_HEADS.find(([suffix]) => a.endsWith(suffix));
    if (unsupported) {
      throw c.fail(
        `${a} has a ${unsupported[1]} head (tensors ${listTensors(headTensors(encoder))}) that this tool does not export; ` +
          `supported tasks: feature-extraction, rerank (*ForSequenceClassification), sparse (SPLADE), colbert, bge-m3. Pass --task feature-extraction to export the encoder without it`,
      );
    }
  }
  const unknown = architectures.find((a) => !ENCODER_SUFFIXES.some((suffix) => a.endsWith(suffix)));
  if (unknown) {
    throw c.fail(
      `architectures names ${unknown}, a head this tool does not know (tensors outside the encoder: ${listTensors(headTensors(encoder))}); ` +
        `pass --task feature-extraction to export the encoder alone, --task rerank if it is a sequence classifier, --task sparse or --task colbert for a retrieval head`,
    );
  }
  return "feature-extraction";
}

/**
 * A decoder is an embedder when its folder has a sentence-transformers pipeline (Qwen3-Embedding's
 * config still says Qwen3ForCausalLM) or its class is the bare model; a causal LM with neither
 * says nothing of what it is for.
 */
function detectDecoderTask(encoder: LoadedEncoder, architectures: string[]): Task {
  if (readSentencePipeline(encoder.files)) return "feature-extraction";
  if (architectures.length > 0 && architectures.every((a) => a.endsWith("Model"))) return "feature-extraction";
  throw encoder.configFile.fail(
    `${architectures.join(", ") || "this model"} is a causal language model and its folder has no sentence-transformers files saying what it is for; ` +
      `pass --task feature-extraction to export it as an embedder (last-token pooling unless --pooling says otherwise) or --task rerank for a yes/no reranker (Qwen3-Reranker)`,
  );
}

/**
 * A decoder reranked by its language-model head (two answer tokens), not a `*ForSequenceClassification`
 * checkpoint with its own score head.
 */
export function isCausalReranker(encoder: LoadedEncoder): boolean {
  return encoder.architecture.decoder === true && !architecturesOf(encoder.configFile).some((a) => a.endsWith("ForSequenceClassification"));
}

/** The heads of `spec` on `encoder`, their tensors checked to exist. */
export function headsFor(encoder: LoadedEncoder, spec: TaskSpec): Head[] {
  if (!IMPLEMENTED.includes(spec.task)) {
    throw new ExportError(`task "${spec.task}" is reserved but not supported yet; supported tasks: ${IMPLEMENTED.join(", ")}`);
  }
  if (spec.outputs && spec.task !== "bge-m3")
    throw new ExportError(`choosing outputs (${spec.outputs.join(", ")}) is for bge-m3 folders, not the ${spec.task} task`);
  if (spec.task === "sparse") return [sparseHead(encoder)];
  if (spec.task === "colbert") return [colbertHead(encoder)];
  if (spec.task === "bge-m3") {
    const { sentenceEmbedding: asked, vector } = spec;
    const fixed = BGE_M3_DENSE_POOLING;
    if (vector || (asked && (asked.pooling !== fixed.pooling || asked.normalize !== fixed.normalize || asked.dimensions !== undefined))) {
      throw new UsageError(
        (name) =>
          `bge-m3's dense output (sentence_embedding) is pooled as the model was trained, ${fixed.pooling} and L2-normalized, fixed in its graph; ` +
          `drop ${name("sentenceEmbedding.pooling")}, ${name("dimensions")} and ${name("vector")}`,
      );
    }
    return bgeM3Heads(encoder, spec.outputs);
  }
  if (spec.task !== "feature-extraction" && spec.sentenceEmbedding) {
    throw new ExportError(`a sentence_embedding output belongs to the feature-extraction task, not ${spec.task}; drop the pooling option`);
  }
  const { config } = encoder;
  if (spec.task === "feature-extraction") {
    if (spec.vector && !spec.sentenceEmbedding)
      throw new ExportError("a quantized vector output is computed from sentence_embedding; add a pooling");
    if (encoder.architecture.decoder) {
      if (!spec.sentenceEmbedding)
        throw new ExportError(`a ${encoder.architecture.name} embedder needs its sentence pooling (sentenceEmbedding)`);
      return [
        lastHiddenStateHead(config.hiddenSize),
        sentenceEmbeddingHead(spec.sentenceEmbedding, config.hiddenSize, spec.vector, { poolerOutput: true }),
      ];
    }
    return [
      encoderOutputsHead(config.hiddenSize),
      ...(spec.sentenceEmbedding ? [sentenceEmbeddingHead(spec.sentenceEmbedding, config.hiddenSize, spec.vector)] : []),
    ];
  }
  if (spec.answerTokens && spec.task !== "rerank") throw new ExportError(`answer tokens belong to the rerank task, not ${spec.task}`);
  if (isCausalReranker(encoder)) {
    if (!spec.answerTokens)
      throw new ExportError(
        `a ${encoder.architecture.name} causal LM reranks by two answer tokens of its vocabulary (answerTokens); none were given`,
      );
    return [answerTokenHead(encoder, spec.answerTokens)];
  }
  const plan = classifierPlan(encoder.architecture.name, encoder.configFile, {
    config,
    prefix: encoder.prefix,
    checkpoint: encoder.checkpoint,
  });
  const missing = planTensors(plan).filter((name) => !encoder.checkpoint.has(name));
  if (missing.length > 0) {
    throw new WeightError(
      `${encoder.checkpoint.store.source} has no ${missing.join(", ")}: a ${encoder.architecture.name} reranker (sequence classification) needs them; ` +
        `the checkpoint's tensors outside the encoder are: ${listTensors(headTensors(encoder))}`,
    );
  }
  return [classificationHead(plan, encoder.architecture.name)];
}

/** The embedding export as it has always been: last_hidden_state and pooler_output. */
export const FEATURE_EXTRACTION: TaskSpec = { task: "feature-extraction" };

/** How a quantized graph of `spec` is judged: its heads' judging (an error when no head has one). */
export function taskJudging(encoder: LoadedEncoder, spec: TaskSpec): HeadJudging {
  const judging = judgingOf(headsFor(encoder, spec));
  if (!judging)
    throw new ExportError(`the ${spec.task} task's outputs have no fidelity judge: export it with { quantized: false } (CLI: --fp32)`);
  return judging;
}
