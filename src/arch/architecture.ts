// The contract every architecture template fulfils: parse its config, emit its encoder graph,
// and compute the same encoder in plain TypeScript (the reference forward).
import type { GraphBuilder, Value } from "../graph/builder.js";
import type { Ops } from "../graph/ops.js";
import type { Blocks } from "./blocks.js";
import type { ConfigReader } from "./config.js";
import type { GraphWeights } from "./graph-weights.js";
import type { WeightReader } from "./weight-refs.js";

import type { GraphVariant } from "./graph-variant.js";

export interface EncoderConfig {
  modelType: string;
  hiddenSize: number;
  vocabSize: number;
  /** 0 when the model has no token types (token_type_ids is then never a graph input). */
  typeVocabSize: number;
  /** Longest sequence the model accepts. */
  maxSequence: number;
  /** Token id used for padding (position ids of some models depend on it). */
  padTokenId: number;
}

/** A tokenized batch, row-major [batch, sequence]. */
export interface TokenBatch {
  batch: number;
  sequence: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds?: Int32Array;
}

/** What the exported graph returns (and what the reference computes). */
export interface EncoderOutputs {
  /** [batch, sequence, hidden] */
  lastHiddenState: Float32Array;
  /** [batch, hidden] */
  poolerOutput: Float32Array;
  /** [batch, hidden]: sentence-transformers pooling of lastHiddenState, when asked for. */
  sentenceEmbedding?: Float32Array;
}

/** An encoder's own result: pooled is absent when the model has no pooler (CLS fallback). */
export interface EncoderResult<T> {
  hidden: T;
  pooled?: T;
}

export interface GraphInputs {
  inputIds: Value;
  attentionMask: Value;
  tokenTypeIds?: Value;
}

export interface TemplateContext {
  g: GraphBuilder;
  ops: Ops;
  nn: Blocks;
  weights: GraphWeights;
  variant: GraphVariant;
}

export interface Architecture<C extends EncoderConfig = EncoderConfig> {
  /** Name used in logs and metadata, e.g. "bert". */
  readonly name: string;
  /** config.json model_type values this template handles. */
  readonly modelTypes: readonly string[];
  /**
   * For a model_type several templates share (JinaBERT's configs say "bert"): whether this config
   * is this template's. A template with a predicate that accepts wins over one without; it must
   * not throw, whatever the config holds.
   */
  matches?(config: ConfigReader): boolean;
  /**
   * A decoder-family model (Qwen, Gemma): its embedding is its sentence-transformers pipeline
   * (last-token or mean pooling, Dense, Normalize), always in the graph, and pooler_output is that
   * pipeline's pooling (SPEC); a causal-LM checkpoint must say, or be told, what it is for.
   */
  readonly decoder?: boolean;
  /** Why a float16 file of this model cannot be trusted, when it cannot (the export refuses it up front). */
  readonly float16Refusal?: string;
  /** Prefixes under which task heads wrap the encoder, e.g. "bert." in BertForMaskedLM. */
  readonly checkpointPrefixes: readonly string[];
  parseConfig(config: ConfigReader): C;
  /**
   * A tensor (unprefixed) every checkpoint of this architecture has; it locates the prefix.
   * Default: BERT's word embeddings, "embeddings.word_embeddings.weight".
   */
  anchorTensor?(config: C): string;
  emit(ctx: TemplateContext, config: C, inputs: GraphInputs): EncoderResult<Value>;
  reference(weights: WeightReader, config: C, batch: TokenBatch): EncoderResult<Float32Array>;
}
