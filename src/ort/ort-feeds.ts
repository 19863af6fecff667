// Token batches as onnxruntime tensors, for code that runs onnxruntime in its own process
// (feeds.ts stays free of onnxruntime: the exporter only sends feeds to a worker).
import * as ort from "onnxruntime-node";
import type { TokenBatch } from "../arch/architecture.js";
import { batchFeeds } from "./feeds.js";
import type { FeedTensor } from "./protocol.js";
import { ortTensorOf } from "./session-core.js";

function ortTensor(feed: FeedTensor): ort.Tensor {
  return ortTensorOf(ort, feed) as ort.Tensor;
}

/** The graph inputs of `batch` that a session with `inputNames` takes. */
export function ortFeeds(batch: TokenBatch, inputNames: readonly string[]): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(batchFeeds(batch, inputNames)).map(([name, feed]) => [name, ortTensor(feed)]));
}
