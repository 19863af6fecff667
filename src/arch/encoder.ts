// The frame around every template: load a model folder (config.json, the weights seen through the
// encoder's checkpoint prefix), declare the graph's inputs (SPEC: input_ids, attention_mask
// [, token_type_ids]) and emit the encoder. Graph outputs come from the heads on top
// (src/heads/graph.ts).
import type { ModelFiles } from "../common/files.js";
import { GraphBuilder } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import { Ops } from "../graph/ops.js";
import type { Architecture, EncoderConfig, EncoderResult, GraphInputs, TemplateContext } from "./architecture.js";
import type { GraphVariant } from "./graph-variant.js";
import type { Value } from "../graph/builder.js";
import { Blocks, type FusedOps } from "./blocks.js";
import { PrefixedStore, encoderView, openCheckpoint } from "../checkpoint/checkpoint.js";
import { ConfigReader } from "./config.js";
import { GraphWeights } from "./graph-weights.js";
import { architectureFor } from "./registry.js";
import { WeightReader } from "./weight-refs.js";

export interface LoadedEncoder {
  /** How messages name the model folder (in Node, its path). */
  dir: string;
  /** The model folder's files (heads read their side files from it). */
  files: ModelFiles;
  architecture: Architecture<EncoderConfig>;
  config: EncoderConfig;
  /** config.json as read (heads parse their own fields from it). */
  configFile: ConfigReader;
  /** The encoder's tensors, names without the checkpoint prefix. */
  weights: WeightReader;
  /** The whole checkpoint, names as stored (task heads live outside the encoder). */
  checkpoint: WeightReader;
  /** The prefix the encoder's tensors carry in the checkpoint ("bert." in BertForMaskedLM, "" for a bare encoder). */
  prefix: string;
  close(): void;
}

/** The anchor tensor of templates that name none: the BERT family's word embeddings. */
const BERT_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight";

/** Reads config.json and opens the weights (headers only) of a Hugging Face model folder. */
export function openEncoder(files: ModelFiles): LoadedEncoder {
  const configFile = ConfigReader.fromFile(files, "config.json");
  const architecture = architectureFor(configFile);
  const config = architecture.parseConfig(configFile);
  const store = openCheckpoint(files);
  try {
    const anchor = architecture.anchorTensor?.(config) ?? BERT_WORD_EMBEDDINGS;
    const view = encoderView(store, anchor, architecture.checkpointPrefixes);
    const prefix = view instanceof PrefixedStore ? view.prefix : "";
    return {
      dir: files.label,
      files,
      architecture,
      config,
      configFile,
      weights: new WeightReader(view),
      checkpoint: new WeightReader(store),
      prefix,
      close: () => store.close(),
    };
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
  /** Extra metadata_props (e.g. the source model id). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

const BATCH = "batch";
const SEQUENCE = "sequence";

/** An encoder emitted into a fresh graph: the builder, its inputs and the template's outputs. */
export interface EncoderFrame {
  ctx: TemplateContext;
  inputs: GraphInputs;
  result: EncoderResult<Value>;
}

export function emitEncoderFrame(encoder: LoadedEncoder, options: GraphOptions): EncoderFrame {
  const { architecture, config } = encoder;
  const g = new GraphBuilder(options.opset, `${architecture.name}_encoder`);
  const ops = new Ops(g);
  const weights = new GraphWeights(g, encoder.weights);
  const ctx = {
    g,
    ops,
    weights,
    nn: new Blocks(ops, weights, options.variant, options.fused, config.maxSequence),
    variant: options.variant,
  };
  const ids: [string, string] = [BATCH, SEQUENCE];
  const inputs: GraphInputs = {
    inputIds: g.input("input_ids", DataType.INT64, ids),
    attentionMask: g.input("attention_mask", DataType.INT64, ids),
    ...(options.tokenTypeIds && config.typeVocabSize > 0 ? { tokenTypeIds: g.input("token_type_ids", DataType.INT64, ids) } : {}),
  };
  return { ctx, inputs, result: architecture.emit(ctx, config, inputs) };
}
