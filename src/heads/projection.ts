// Small linear maps held as arrays: side-file heads (PyLate and sentence-transformers Dense
// modules, bge-m3's .pt heads) read whole — a few MB at most — and emitted as graph constants.
import type { LinearArrays } from "../arch/weight-refs.js";
import { type ModelFiles, subfolder } from "../common/files.js";
import { openCheckpoint } from "../checkpoint/checkpoint.js";
import { PytorchBinCheckpoint } from "../checkpoint/pytorch-bin.js";
import { WeightError } from "../checkpoint/weights.js";
import type { GraphBuilder, Value } from "../graph/builder.js";
import type { Ops } from "../graph/ops.js";

/**
 * A small linear map read whole from a side file (a PyLate Dense folder, bge-m3's .pt heads) or
 * from the checkpoint: a few MB at most, so it is held as arrays.
 */
export type Projection = LinearArrays & { source: string };

/**
 * A side file's nn.Linear, [out, in] with out read from the file: file `name` of `files`, a
 * .pt/.bin state dict (read by the restricted unpickler) or a folder with model.safetensors /
 * pytorch_model.bin. `stem`: the
 * Linear's name in that state dict ("" for torch.save(linear.state_dict()), "linear" for PyLate's Dense).
 */
export function readProjection(files: ModelFiles, name: string, stem: string, inFeatures: number): Projection {
  const store = /\.(pt|bin)$/.test(name) ? PytorchBinCheckpoint.open(files, name) : openCheckpoint(subfolder(files, name));
  try {
    const key = (part: string) => (stem ? `${stem}.${part}` : part);
    const info = store.info(key("weight"));
    const [outFeatures, width] = info.shape;
    if (info.shape.length !== 2 || width !== inFeatures || !outFeatures) {
      throw new WeightError(
        `${store.source}: tensor "${key("weight")}" has shape [${info.shape.join(", ")}], not [out, ${inFeatures}]; ` +
          `this projection does not belong to an encoder of hidden size ${inFeatures}`,
      );
    }
    const bias = store.has(key("bias")) ? store.finiteFloat32(key("bias")) : undefined;
    if (bias && bias.length !== outFeatures)
      throw new WeightError(`${store.source}: tensor "${key("bias")}" has ${bias.length} values, not ${outFeatures}`);
    return { weight: store.finiteFloat32(key("weight")), ...(bias ? { bias } : {}), inFeatures, outFeatures, source: store.source };
  } finally {
    store.close();
  }
}

/** x [B, S, in] · Wᵀ + b from arrays held in memory. */
export function projectGraph(g: GraphBuilder, ops: Ops, x: Value, p: Projection, hint: string): Value {
  const transposed = new Float32Array(p.weight.length);
  for (let o = 0; o < p.outFeatures; o++)
    for (let i = 0; i < p.inFeatures; i++) transposed[i * p.outFeatures + o] = p.weight[o * p.inFeatures + i]!;
  const product = ops.matMul(x, g.constFloat(transposed, [p.inFeatures, p.outFeatures], `${hint}.weight`));
  return p.bias ? ops.add(product, g.constFloat(p.bias, [p.outFeatures], `${hint}.bias`)) : product;
}
