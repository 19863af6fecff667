// The frame around every template: load a model folder, declare the graph's inputs and
// outputs (SPEC: input_ids, attention_mask[, token_type_ids] → last_hidden_state,
// pooler_output), and apply the CLS fallback in both the graph and the reference.
import { METADATA, OUTPUT } from "../artifact/names.js";
import { join } from "node:path";
import { GraphBuilder, type Value } from "../graph/builder.js";
import { DataType, type Model } from "../graph/ir.js";
import { Ops } from "../graph/ops.js";
import type { Architecture, EncoderConfig, EncoderOutputs, GraphInputs, GraphVariant, TokenBatch } from "./architecture.js";
import { Blocks, type FusedOps } from "./blocks.js";
import { encoderView, openCheckpoint } from "../checkpoint/checkpoint.js";
import { ConfigReader } from "./config.js";
import { GraphWeights } from "./graph-weights.js";
import { SENTENCE_EMBEDDING_OUTPUT, type SentencePooling, poolGraph, poolTokens, sentenceWidth } from "./pooling.js";
import * as ref from "./reference/math.js";
import { architectureFor } from "./registry.js";
import { WeightReader } from "./weight-refs.js";

export interface LoadedEncoder {
  /** Model folder. */
  dir: string;
  architecture: Architecture<EncoderConfig>;
  config: EncoderConfig;
  weights: WeightReader;
  close(): void;
}

/** The anchor tensor of templates that name none: the BERT family's word embeddings. */
const BERT_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight";

/** Reads config.json and opens the weights (headers only) of a Hugging Face model folder. */
export function loadEncoder(dir: string): LoadedEncoder {
  const configFile = ConfigReader.fromFile(join(dir, "config.json"));
  const architecture = architectureFor(configFile);
  const config = architecture.parseConfig(configFile);
  const store = openCheckpoint(dir);
  try {
    const anchor = architecture.anchorTensor?.(config) ?? BERT_WORD_EMBEDDINGS;
    const view = encoderView(store, anchor, architecture.checkpointPrefixes);
    return { dir, architecture, config, weights: new WeightReader(view), close: () => store.close() };
  } catch (error) {
    store.close();
    throw error;
  }
}

export interface GraphOptions {
  opset: number;
  variant: GraphVariant;
  /** Contrib ops the primary graph leaves out (all used by default; for measurements). */
  fused?: Partial<FusedOps>;
  /** Adds a token_type_ids input (only for models with token types). */
  tokenTypeIds?: boolean;
  /** Adds a third output, sentence_embedding [batch, hidden or dimensions], pooled in the graph. */
  sentenceEmbedding?: SentencePooling;
  /** Extra metadata_props (e.g. the source model id). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

const BATCH = "batch";
const SEQUENCE = "sequence";

export function buildEncoderGraph(encoder: LoadedEncoder, options: GraphOptions): Model {
  const { architecture, config } = encoder;
  const g = new GraphBuilder(options.opset, `${architecture.name}_encoder`);
  const ops = new Ops(g);
  const weights = new GraphWeights(g, encoder.weights);
  const ctx = { g, ops, weights, nn: new Blocks(ops, weights, options.variant, options.fused), variant: options.variant };
  const ids: [string, string] = [BATCH, SEQUENCE];
  const inputs: GraphInputs = {
    inputIds: g.input("input_ids", DataType.INT64, ids),
    attentionMask: g.input("attention_mask", DataType.INT64, ids),
    ...(options.tokenTypeIds && config.typeVocabSize > 0 ? { tokenTypeIds: g.input("token_type_ids", DataType.INT64, ids) } : {}),
  };
  const result = architecture.emit(ctx, config, inputs);
  const pooled: Value = result.pooled ?? ctx.nn.firstToken(result.hidden);
  g.output(result.hidden, OUTPUT.lastHiddenState, DataType.FLOAT, [BATCH, SEQUENCE, config.hiddenSize]);
  g.output(pooled, OUTPUT.poolerOutput, DataType.FLOAT, [BATCH, config.hiddenSize]);
  const sentence = options.sentenceEmbedding;
  if (sentence) {
    const embedding = poolGraph(ctx.nn, result.hidden, inputs.attentionMask, sentence);
    g.output(embedding, SENTENCE_EMBEDDING_OUTPUT, DataType.FLOAT, [BATCH, sentenceWidth(sentence, config.hiddenSize)]);
  }
  return g.build(
    {
      [METADATA.architecture]: architecture.name,
      [METADATA.modelType]: config.modelType,
      [METADATA.graphVariant]: options.variant,
      [METADATA.pooler]: result.pooled ? "dense_tanh" : "cls",
      ...(sentence ? { [METADATA.sentencePooling]: sentence.pooling, [METADATA.sentenceNormalize]: String(sentence.normalize) } : {}),
      ...(sentence?.dimensions !== undefined ? { [METADATA.sentenceDimensions]: String(sentence.dimensions) } : {}),
      ...options.metadata,
    },
    options.producerVersion ?? "0",
  );
}

/** The reference forward with the same CLS fallback (and sentence pooling) as the graph. */
export function referenceForward(encoder: LoadedEncoder, batch: TokenBatch, sentence?: SentencePooling): EncoderOutputs {
  const result = encoder.architecture.reference(encoder.weights, encoder.config, batch);
  const shape = { batch: batch.batch, sequence: batch.sequence, hidden: encoder.config.hiddenSize };
  return {
    lastHiddenState: result.hidden,
    poolerOutput: result.pooled ?? ref.firstToken(result.hidden, batch.batch, batch.sequence),
    ...(sentence ? { sentenceEmbedding: poolTokens(result.hidden, batch.attentionMask, shape, sentence) } : {}),
  };
}
