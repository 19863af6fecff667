// What the INT4 methods that read calibration need (int4-methods.ts): the Gram matrix XᵀX of
// every MatMul input over the calibration batches. The float graph computes it itself (Reshape
// to rows, Transpose, MatMul: onnxruntime's GEMM, not a JavaScript loop over every token), and
// the worker only sums the [K, K] results batch by batch.
import type { TokenBatch } from "../arch/architecture.js";
import type { Logger } from "../common/log.js";
import { attr } from "../graph/builder.js";
import { DataType, type Initializer, type Model, type Node } from "../graph/ir.js";
import type { IsolatedSession } from "../ort/isolated-session.js";
import { observeBatches, withTemporarySession } from "./calibration.js";
import { QuantizationInputError } from "./corpus.js";
import { GraphIndex, NameAllocator, makeNode } from "./graph-index.js";
import { needsCalibration } from "./int4-methods.js";
import { Int4Weights, type Int4WeightSettings } from "./matmul-nbits.js";
import { matMulTargets } from "./targets.js";

/** The inputs of the MatMuls quantizeInt4 rewrites, with their width K. */
export function int4MatMulInputs(model: Model): Map<string, number> {
  const inputs = new Map<string, number>();
  for (const { node, weight } of matMulTargets(new GraphIndex(model.graph))) {
    if (weight && node.opType === "MatMul") inputs.set(node.inputs[0]!, weight.initializer.dims[0]!);
  }
  return inputs;
}

/** `model` computing XᵀX of each named input X (its rows: every axis but the last) as an extra value; the names of those values by input. */
export function withInputGrams(model: Model, inputs: ReadonlyMap<string, number>): { model: Model; grams: Map<string, string> } {
  const names = new NameAllocator(new GraphIndex(model.graph).allNames());
  const nodes: Node[] = [];
  const initializers: Initializer[] = [];
  const grams = new Map<string, string>();
  for (const [input, k] of inputs) {
    const shape = names.fresh(`${input}_rows_shape`);
    initializers.push({
      name: shape,
      dataType: DataType.INT64,
      dims: [2],
      data: { kind: "bytes", bytes: new Uint8Array(BigInt64Array.from([-1n, BigInt(k)]).buffer) },
    });
    const rows = names.fresh(`${input}_rows`);
    const transposed = names.fresh(`${input}_rows_transposed`);
    const gram = names.fresh(`${input}_gram`);
    nodes.push(
      makeNode("Reshape", names.fresh(`${rows}/Reshape`), [input, shape], [rows]),
      makeNode("Transpose", names.fresh(`${transposed}/Transpose`), [rows], [transposed], { perm: attr.ints([1, 0]) }),
      makeNode("MatMul", names.fresh(`${gram}/MatMul`), [transposed, rows], [gram]),
    );
    grams.set(input, gram);
  }
  const graph = { ...model.graph, nodes: [...model.graph.nodes, ...nodes], initializers: [...model.graph.initializers, ...initializers] };
  return { model: { ...model, graph }, grams };
}

/** XᵀX of every int4 MatMul input over `batches` (summed over every token, padding included), by input name. */
export async function collectInputGrams(
  model: Model,
  batches: readonly TokenBatch[],
  near: string,
  worker?: IsolatedSession,
  signal?: AbortSignal,
): Promise<Map<string, Float32Array>> {
  const { model: augmented, grams } = withInputGrams(model, int4MatMulInputs(model));
  const outputs = [...grams.values()];
  const statistics = await withTemporarySession(
    augmented,
    outputs,
    near,
    "int4-calibration",
    (session) =>
      observeBatches(
        session,
        batches,
        outputs.map((name) => ({ name, observer: "minmax", sum: true })),
      ),
    worker,
    signal,
  );
  const result = new Map<string, Float32Array>();
  for (const [input, gram] of grams) {
    const stats = statistics[gram];
    if (!stats?.sum || stats.observer.nonFinite > 0)
      throw new QuantizationInputError(
        `calibration computed no finite statistics for the MatMul input ${input}: check the weights for NaN/Inf`,
      );
    result.set(input, stats.sum);
  }
  return result;
}

/** The INT4 weight quantizer of `settings`, calibrated on `batches` when its method needs it. */
export async function calibratedInt4Weights(
  model: Model,
  settings: Int4WeightSettings,
  batches: readonly TokenBatch[],
  near: string,
  logger: Logger,
  worker?: IsolatedSession,
  signal?: AbortSignal,
): Promise<Int4Weights> {
  if (!needsCalibration(settings.method)) return new Int4Weights(settings);
  const started = performance.now();
  const grams = await collectInputGrams(model, batches, near, worker, signal);
  logger.info(
    `int4 ${settings.method}: Gram matrices of ${grams.size} MatMul inputs over ${batches.length} calibration batches in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return new Int4Weights(settings, grams);
}
