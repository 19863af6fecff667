// The contract of a task head: it takes what the encoder computed (token vectors, the pooler's
// output when the template has one) and the checkpoint's own head weights, and adds graph outputs
// — once as graph nodes, once in plain TypeScript (its reference forward), side by side in the
// head's file. Data flows one way: config → encoder → head → graph outputs.
import type { GraphBuilder, Value } from "../graph/builder.js";
import type { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import type { EncoderConfig, EncoderResult, GraphInputs, TokenBatch } from "../arch/architecture.js";
import type { GraphVariant } from "../arch/graph-variant.js";
import type { Blocks } from "../arch/blocks.js";
import type { WeightReader } from "../arch/weight-refs.js";
import type { RerankTemplate } from "../artifact/rerank-template.js";

/** A graph output dimension: a symbolic name ("batch", "sequence") or a size. */
export type OutputDim = string | number;

export interface HeadOutput {
  /** Graph output name (SPEC: part of the public contract). */
  name: string;
  /** Its dims, "batch" first. */
  dims: OutputDim[];
  /**
   * One row per token ([batch, sequence, …]): verification compares it at real tokens only, as
   * no consumer reads a padded position. Otherwise one row per sequence ([batch, …]).
   */
  perToken: boolean;
  /** Element type (default float). */
  elemType?: DataType;
  /**
   * An output defined exactly by another output of the same graph (a quantized copy):
   * verification checks it against `apply` of the graph's own `of`, value for value, instead of
   * against the reference within a tolerance (rounding at a boundary would flip a code).
   */
  definition?: { of: string; apply(values: Float32Array, rows: number): ArrayLike<number> };
}

/** What a head's graph emission works with. */
export interface HeadGraphContext {
  g: GraphBuilder;
  ops: Ops;
  /**
   * Blocks over the whole checkpoint: head tensors are named as stored ("classifier.weight",
   * "bert.pooler.dense.weight"), not through the encoder's prefix.
   */
  nn: Blocks;
  variant: GraphVariant;
  inputs: GraphInputs;
}

/** What a head's reference forward works with. */
export interface HeadReferenceContext {
  /** The whole checkpoint, names as stored. */
  weights: WeightReader;
  batch: TokenBatch;
}

/** The encoder's outputs as a head receives them. */
export type EncoderValues<T> = EncoderResult<T>;

export interface HeadEmission {
  values: Record<string, Value>;
  metadata?: Record<string, string>;
}

/** Reference outputs by graph output name; [batch, …] row-major, as the graph returns them. */
export type HeadArrays = Record<string, Float32Array>;

/**
 * How a lower-precision copy of a head's outputs is judged against the float graph on held-out
 * inputs (the quantizer holds one implementation per kind and asks the head which applies):
 * - cosine: each text's `output` row, and `tokenOutput` averaged over the text's real tokens;
 * - spearman: `output`'s last column as a relevance score of query/document pairs, ranked per query;
 * - sparse-overlap: a vocabulary-sized `output`, by cosine and the overlap of its top terms;
 * - maxsim: `output` token vectors, by the MaxSim scores of query/document pairs, ranked per query.
 */
export type HeadJudging =
  | { kind: "cosine"; output: string; tokenOutput?: string }
  | { kind: "spearman"; output: string; /** LLM rerankers: pairs prompted as the runtime prompts them. */ template?: RerankTemplate }
  | { kind: "sparse-overlap"; output: string }
  | { kind: "maxsim"; output: string };

export type JudgingKind = HeadJudging["kind"];

export interface Head {
  /** Recorded in the graph's metadata (e.g. "sentence_embedding:mean", "classification:roberta"). */
  readonly name: string;
  readonly outputs: readonly HeadOutput[];
  /** How its outputs are judged once quantized; a head without one is not quantized. */
  readonly judge?: HeadJudging;
  /** The head's graph outputs by name, and the metadata_props it records (the runtime reads them). */
  emit(ctx: HeadGraphContext, encoder: EncoderValues<Value>): HeadEmission;
  /** The same outputs computed in TypeScript from the same weights. */
  reference(ctx: HeadReferenceContext, encoder: EncoderValues<Float32Array>): HeadArrays;
}

/** Everything a head may need to know about the encoder it sits on. */
export interface HeadSite {
  config: EncoderConfig;
  /** The prefix the encoder's tensors carry in the checkpoint ("bert.", "" for a bare encoder). */
  prefix: string;
  /** The whole checkpoint, names as stored. */
  checkpoint: WeightReader;
}

/** How a graph with these heads is judged: the first head's that says (heads are in output order). */
export function judgingOf(heads: readonly Head[]): HeadJudging | undefined {
  return heads.find((head) => head.judge)?.judge;
}
