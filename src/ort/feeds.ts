// Token batches as onnxruntime feeds.
import type { TokenBatch } from "../arch/architecture.js";
import { poolTokens } from "../heads/pooling.js";
import type { FeedTensor, TokenPooling } from "./protocol.js";

export function int64Feed(values: Int32Array, dims: number[]): FeedTensor {
  return { type: "int64", data: BigInt64Array.from(values, (v) => BigInt(v)), dims };
}

/** input_ids, attention_mask and, when the graph takes it, token_type_ids. */
export function batchFeeds(batch: TokenBatch, inputNames: readonly string[]): Record<string, FeedTensor> {
  const dims = [batch.batch, batch.sequence];
  const feeds: Record<string, FeedTensor> = {
    input_ids: int64Feed(batch.inputIds, dims),
    attention_mask: int64Feed(batch.attentionMask, dims),
  };
  if (inputNames.includes("token_type_ids")) {
    feeds.token_type_ids = int64Feed(batch.tokenTypeIds ?? new Int32Array(batch.batch * batch.sequence), dims);
  }
  return feeds;
}

/**
 * Token vectors [batch, sequence, hidden] pooled per row as `pool` says, with the feeds'
 * attention_mask → [batch, hidden]: what a runtime keeps of them, computed where onnxruntime ran.
 */
export function pooledOutput(
  output: { data: Float32Array; dims: number[] },
  feeds: Record<string, FeedTensor>,
  pool: TokenPooling,
): { data: Float32Array; dims: number[] } {
  const [batch, sequence, hidden] = output.dims as [number, number, number];
  const mask = feeds.attention_mask;
  if (output.dims.length !== 3 || !mask) throw new Error(`cannot pool an output of shape [${output.dims.join(", ")}] over its tokens`);
  return { data: poolTokens(output.data, mask.data, { batch, sequence, hidden }, pool), dims: [batch, hidden] };
}
