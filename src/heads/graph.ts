// Encoder + heads → one ONNX model, and the same computation as the reference forward. The
// encoder template emits token vectors (and its pooler); each head adds its outputs on top.
import type { EncoderOutputs, TokenBatch } from "../arch/architecture.js";
import { Blocks } from "../arch/blocks.js";
import { type GraphOptions, type LoadedEncoder, emitEncoderFrame } from "../arch/encoder.js";
import { GraphWeights } from "../arch/graph-weights.js";
import { TensorMemo } from "../arch/weight-refs.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import { DataType, type Model } from "../graph/ir.js";
import type { Head, HeadArrays } from "./head.js";
import { type Task, type TaskSpec, headsFor } from "./tasks.js";
import type { SentencePooling } from "./pooling.js";
import type { VectorOutput } from "./vectors.js";

/** `encoder` with `heads` on top, as one graph; metadata_props record the template, variant and each head's settings. */
export function buildGraph(
  encoder: LoadedEncoder,
  heads: readonly Head[],
  options: GraphOptions,
  task: Task = "feature-extraction",
): Model {
  const frame = emitEncoderFrame(encoder, options);
  const { g, ops } = frame.ctx;
  // Head tensors are named as the checkpoint stores them, outside the encoder's prefix.
  const weights = new GraphWeights(g, encoder.checkpoint, { weights: frame.ctx.weights, prefix: encoder.prefix });
  const nn = new Blocks(ops, weights, options.variant, options.fused);
  const context = { g, ops, nn, variant: options.variant, inputs: frame.inputs };
  const metadata: Record<string, string> = {};
  const names = new Set<string>();
  for (const head of heads) {
    const emission = g.scope(head.name, () => head.emit(context, frame.result));
    for (const output of head.outputs) {
      if (names.has(output.name)) throw new Error(`two heads emit the output ${output.name}`);
      names.add(output.name);
      g.output(emission.values[output.name]!, output.name, output.elemType ?? DataType.FLOAT, output.dims);
    }
    Object.assign(metadata, emission.metadata);
  }
  return g.build(
    {
      [METADATA.architecture]: encoder.architecture.name,
      [METADATA.modelType]: encoder.config.modelType,
      [METADATA.graphVariant]: options.variant,
      [METADATA.task]: task,
      [METADATA.tokenTypes]: frame.inputs.tokenTypeIds ? "input" : "none",
      [METADATA.attentionMemory]: frame.ctx.nn.attentionMemory,
      ...metadata,
      ...options.metadata,
    },
    options.producerVersion ?? "0",
  );
}

/** Weights the reference keeps between the batches of one referenceOutputsOf call (the rest is read again per batch). */
const REFERENCE_MEMO_BYTES = 256 * 2 ** 20;

/**
 * referenceOutputs of each of `batches`, reading each weight once for all of them (up to
 * REFERENCE_MEMO_BYTES; a larger model reads the rest again per batch).
 */
export function referenceOutputsOf(encoder: LoadedEncoder, heads: readonly Head[], batches: readonly TokenBatch[]): HeadArrays[] {
  const memo = new TensorMemo(REFERENCE_MEMO_BYTES);
  const reading = { ...encoder, weights: encoder.weights.memoized(memo), checkpoint: encoder.checkpoint.memoized(memo) };
  return batches.map((batch) => referenceOutputs(reading, heads, batch));
}

/** What the graph of `heads` returns for `batch`, computed in TypeScript, by output name. */
export function referenceOutputs(encoder: LoadedEncoder, heads: readonly Head[], batch: TokenBatch): HeadArrays {
  const result = encoder.architecture.reference(encoder.weights, encoder.config, batch);
  const outputs: HeadArrays = {};
  for (const head of heads) Object.assign(outputs, head.reference({ weights: encoder.checkpoint, batch }, result));
  return outputs;
}

/** The graph of `spec`'s heads. */
export function buildTaskGraph(encoder: LoadedEncoder, spec: TaskSpec, options: GraphOptions): Model {
  return buildGraph(encoder, headsFor(encoder, spec), options, spec.task);
}

/** The embedding graph (feature-extraction): last_hidden_state, pooler_output[, sentence_embedding[, its quantized copy]]. */
export function buildEncoderGraph(
  encoder: LoadedEncoder,
  options: GraphOptions & { sentenceEmbedding?: SentencePooling; vector?: VectorOutput },
): Model {
  const { sentenceEmbedding, vector, ...rest } = options;
  return buildTaskGraph(
    encoder,
    { task: "feature-extraction", ...(sentenceEmbedding ? { sentenceEmbedding } : {}), ...(vector ? { vector } : {}) },
    rest,
  );
}

/** The embedding graph's outputs from the reference forward. */
export function referenceForward(encoder: LoadedEncoder, batch: TokenBatch, sentence?: SentencePooling): EncoderOutputs {
  const out = referenceOutputs(
    encoder,
    headsFor(encoder, { task: "feature-extraction", ...(sentence ? { sentenceEmbedding: sentence } : {}) }),
    batch,
  );
  return {
    lastHiddenState: out[OUTPUT.lastHiddenState]!,
    poolerOutput: out[OUTPUT.poolerOutput]!,
    ...(out[OUTPUT.sentenceEmbedding] ? { sentenceEmbedding: out[OUTPUT.sentenceEmbedding] } : {}),
  };
}
