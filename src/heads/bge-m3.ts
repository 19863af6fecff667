// bge-m3 (BAAI/bge-m3, FlagEmbedding's BGEM3FlagModel): one XLM-R encoder, three outputs.
//   dense:   sentence_embedding — the [CLS] vector, L2-normalized (the sentence pooling head).
//   sparse:  sparse_embedding [batch, vocab] — relu(sparse_linear(hidden)) per token, each vocabulary
//            entry the max over the tokens carrying its id, special tokens (cls, eos, pad, unk)
//            and padding at 0 (FlagEmbedding's _sparse_embedding).
//   colbert: token_vectors — colbert_linear on tokens 1…, normalized (token-vectors.ts).
// The two heads are torch.save'd state dicts beside the weights, sparse_linear.pt and
// colbert_linear.pt, read by the restricted unpickler: a pickle naming anything but tensor
// records is refused, never run.
import type { ModelFiles } from "../common/files.js";
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { GraphBuilder, Value } from "../graph/builder.js";
import { attr } from "../graph/builder.js";
import { DataType } from "../graph/ir.js";
import type { Ops } from "../graph/ops.js";
import * as ref from "../arch/reference/math.js";
import type { Head } from "./head.js";
import { type Projection, projectGraph, readProjection } from "./projection.js";

export const BGE_M3_SPARSE_FILE = "sparse_linear.pt";
export const BGE_M3_COLBERT_FILE = "colbert_linear.pt";

/** bge-m3's outputs by their `--outputs` names. */
export const BGE_M3_OUTPUTS = ["dense", "sparse", "colbert"] as const;
export type BgeM3Output = (typeof BGE_M3_OUTPUTS)[number];

/** Whether the folder holds bge-m3's two extra heads. */
export function hasBgeM3Heads(files: ModelFiles): boolean {
  return files.has(BGE_M3_SPARSE_FILE) && files.has(BGE_M3_COLBERT_FILE);
}

/** sparse_linear.pt: Linear(hidden, 1). */
export function readSparseLinear(files: ModelFiles, hidden: number): Projection {
  const projection = readProjection(files, BGE_M3_SPARSE_FILE, "", hidden);
  if (projection.outFeatures !== 1) {
    throw new Error(`${projection.source}: weight has ${projection.outFeatures} rows; bge-m3's sparse head maps each token to one weight`);
  }
  return projection;
}

/** colbert_linear.pt: Linear(hidden, colbert dim). */
export function readColbertLinear(files: ModelFiles, hidden: number): Projection {
  return readProjection(files, BGE_M3_COLBERT_FILE, "", hidden);
}

/**
 * Per-row max over tokens with the same id, scattered into [B, vocab]: weights [B, S] (0 at tokens
 * that must not count). ScatterElements leaves duplicates undefined without a reduction (and
 * reduction="max" needs opset 18), so each token first takes the max over the tokens sharing its
 * id ([B, S, S], small beside attention's [B, heads, S, S]) and duplicates then write one value.
 */
function scatterMaxGraph(g: GraphBuilder, ops: Ops, ids: Value, weights: Value, vocab: number): Value {
  const same = ops.equal(ops.unsqueeze(ids, [2]), ops.unsqueeze(ids, [1])); // [B, S, S]
  const perId = ops.reduceMax(ops.where(same, ops.unsqueeze(weights, [1]), ops.scalar(0, "zero")), [2], false); // [B, S]
  const shape = ops.concat([ops.dim(ids, 0), g.constInt64([vocab], [1], "vocab")], 0);
  const zeros = g.op("Expand", [ops.scalar(0, "zero"), shape]); // [B, vocab]
  return g.op("ScatterElements", [zeros, ids, perId], { axis: attr.int(1) });
}

/** The sparse_embedding head of bge-m3. `droppedIds`: the tokenizer's cls, eos, pad and unk ids. */
export function bgeM3SparseHead(projection: Projection, vocab: number, droppedIds: readonly number[]): Head {
  const dropped = [...new Set(droppedIds)].sort((a, b) => a - b);
  return {
    name: "bge-m3:sparse",
    outputs: [{ name: OUTPUT.sparseEmbedding, dims: ["batch", vocab], perToken: false }],
    judge: { kind: "sparse-overlap", output: OUTPUT.sparseEmbedding },
    emit({ g, ops, inputs }, encoder) {
      const weights = ops.relu(ops.squeeze(projectGraph(g, ops, encoder.hidden, projection, "sparse_linear"), [2])); // [B, S]
      let counted = ops.cast(inputs.attentionMask, DataType.BOOL);
      for (const id of dropped) counted = g.op("And", [counted, ops.not(ops.equal(inputs.inputIds, g.constInt64([id], [], "dropped_id")))]);
      const kept = ops.mul(weights, ops.cast(counted, DataType.FLOAT));
      return {
        values: { [OUTPUT.sparseEmbedding]: scatterMaxGraph(g, ops, inputs.inputIds, kept, vocab) },
        metadata: { [METADATA.sparseVocabulary]: String(vocab), [METADATA.sparseDroppedIds]: dropped.join(",") },
      };
    },
    reference({ batch }, encoder) {
      return { [OUTPUT.sparseEmbedding]: bgeM3SparseReference(encoder.hidden, batch, projection, vocab, dropped) };
    },
  };
}

/** FlagEmbedding's sparse weights in TypeScript: hidden [B, S, H] → [B, vocab]. */
export function bgeM3SparseReference(
  hidden: Float32Array,
  batch: { batch: number; sequence: number; inputIds: ArrayLike<number>; attentionMask: ArrayLike<number> },
  projection: Projection,
  vocab: number,
  droppedIds: readonly number[],
): Float32Array {
  const rows = batch.batch * batch.sequence;
  const weights = ref.linear(hidden, rows, projection);
  const dropped = new Set(droppedIds);
  const out = new Float32Array(batch.batch * vocab);
  for (let r = 0; r < rows; r++) {
    const id = batch.inputIds[r]!;
    if (Number(batch.attentionMask[r]) === 0 || dropped.has(id)) continue;
    const at = Math.floor(r / batch.sequence) * vocab + id;
    out[at] = Math.max(out[at]!, Math.max(0, weights[r]!));
  }
  return out;
}
