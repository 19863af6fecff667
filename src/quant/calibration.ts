// Running a float graph over token batches in an isolated onnxruntime worker, with chosen
// intermediate tensors made graph outputs (an augmented copy, written to a temporary file and
// removed afterwards) so the worker can observe them.
import { tempPathFor } from "../common/atomic.js";
import type { TokenBatch } from "../arch/architecture.js";
import { DataType, type Model } from "../graph/ir.js";
import { removeModelFiles, writeModel } from "../graph/onnx-file.js";
import { batchFeeds } from "../ort/feeds.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import type { ObservedTensor, TensorStatistics } from "../observers/tensor-stats.js";

/** `model` with `names` added as float graph outputs (those already outputs stay as they are). */
export function withOutputs(model: Model, names: readonly string[]): Model {
  const present = new Set(model.graph.outputs.map((o) => o.name));
  const added = [...new Set(names)].filter((n) => !present.has(n)).map((name) => ({ name, elemType: DataType.FLOAT }));
  return { ...model, graph: { ...model.graph, outputs: [...model.graph.outputs, ...added] } };
}

/** A hidden temporary model path beside `near` (same file system, so big models need no extra room elsewhere). */
export function temporaryModelPath(near: string, purpose: string): string {
  return tempPathFor(near, purpose, ".onnx");
}

/**
 * Writes `model` (plus `extraOutputs`) to a temporary file, loads it in a worker (`worker`, or a
 * fresh one booted while the file is written), runs `body`, and removes the file (and closes a
 * worker it started) whatever happens.
 */
export async function withTemporarySession<T>(
  model: Model,
  extraOutputs: readonly string[],
  near: string,
  purpose: string,
  body: (session: IsolatedSession) => Promise<T>,
  worker?: IsolatedSession,
  signal?: AbortSignal,
): Promise<T> {
  const path = temporaryModelPath(near, purpose);
  const session = worker ?? IsolatedSession.start();
  try {
    await writeModel(withOutputs(model, extraOutputs), path, { signal });
    await session.load(path);
    return await body(session);
  } finally {
    if (!worker) session.close();
    removeModelFiles(path);
  }
}

/**
 * Observes `tensors` over every batch (in the worker) and returns the statistics gathered since
 * the last reset; `keep` lets them go on accumulating over later batches.
 */
export async function observeBatches(
  session: IsolatedSession,
  batches: readonly TokenBatch[],
  tensors: readonly ObservedTensor[],
  keep = false,
): Promise<Record<string, TensorStatistics>> {
  const spec = { tensors: [...tensors] };
  for (const batch of batches) await session.observe(batchFeeds(batch, session.inputNames), spec);
  return session.collectStatistics(keep);
}
