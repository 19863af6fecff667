// Token batches as onnxruntime feeds.
import type { TokenBatch } from "../arch/architecture.js";
import type { FeedTensor } from "./protocol.js";

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
