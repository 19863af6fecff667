// Static QDQ: QuantizeLinear → DequantizeLinear around the activation inputs of MatMul/Gemm
// (per tensor, ranges from calibration), int8 per-output-channel weights behind a
// DequantizeLinear, and int8 embedding tables. Everything else (LayerNorm, Softmax, GELU, the
// mask arithmetic, the pooler's tanh) stays float.
//
// onnxruntime (CPU) fuses DQ(activation) + DQ(weight) → MatMul into MatMulIntegerToFloat. On
// x86 it first turns int8 activation Q/DQ pairs into uint8 (QDQS8ToU8Transformer), but only
// for a QuantizeLinear with a single consumer — so each consuming edge gets its own Q/DQ pair.
import { DataType, type Initializer, type Model, type Node } from "../graph/ir.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { expandAttention } from "./attention-expansion.js";
import { type ActivationType, type AffineParams, type Range, activationParams } from "./int8.js";
import { GraphIndex, lazyBytes, makeNode } from "./graph-index.js";
import { inferRanks } from "./ranks.js";
import { type Int8Initializers, Int8Rewriter } from "./rewriter.js";
import { type MatMulTarget, maskCarriers, matMulTargets } from "./targets.js";

export interface StaticQuantPlan {
  activationType: ActivationType;
  /** Calibrated range of each activation; a MatMul with an input lacking one stays float. */
  ranges: ReadonlyMap<string, Range>;
  /** MatMul/Gemm node names kept in float (the fidelity fallback). */
  keepFloat?: ReadonlySet<string>;
  /** Also quantize activation × activation MatMuls (attention scores and context). */
  attentionMatMuls: boolean;
  /** Extra metadata_props describing the settings. */
  metadata?: Record<string, string>;
}

export interface QuantizedModel {
  model: Model;
  /** MatMul/Gemm nodes now running in int8. */
  quantized: string[];
  /** Those left in float, with the reason. */
  skipped: Array<{ node: string; reason: string }>;
}

/** The activations a static plan needs ranges for (never a value carrying the additive mask). */
export function activationsToCalibrate(original: Model, attentionMatMuls: boolean): string[] {
  const model = expandAttention(original); // the projections' inputs are tensors of `original` too
  const carriers = maskCarriers(model.graph);
  const names = new Set<string>();
  const index = new GraphIndex(model.graph);
  for (const target of matMulTargets(index)) {
    if (!target.weight && !attentionMatMuls) continue;
    for (const { value } of target.activations) if (!carriers.has(value)) names.add(value);
  }
  return [...names];
}

export function quantizeStatic(original: Model, plan: StaticQuantPlan): QuantizedModel {
  const model = expandAttention(original);
  const rewriter = new Int8Rewriter(model);
  const carriers = maskCarriers(model.graph);
  const quantized: string[] = [];
  const skipped: QuantizedModel["skipped"] = [];
  const params = new Map<string, { scale: string; zeroPoint: string }>();
  const qType = plan.activationType === "int8" ? DataType.INT8 : DataType.UINT8;

  const paramsOf = (value: string, p: AffineParams) => {
    let names = params.get(value);
    if (!names) {
      names = {
        scale: rewriter.floatConstant(`${value}_scale`, [p.scale], []),
        zeroPoint: rewriter.byteConstant(`${value}_zero_point`, qType, [p.zeroPoint], []),
      };
      params.set(value, names);
    }
    return names;
  };

  const ranks = inferRanks(model.graph);
  for (const target of matMulTargets(rewriter.index)) {
    const reason = skipReason(target, plan, carriers);
    if (reason) {
      skipped.push({ node: target.node.name, reason });
      continue;
    }
    const bias = biasOf(rewriter.index, target, ranks);
    for (const { slot, value } of target.activations) {
      const names = paramsOf(value, activationParams(plan.ranges.get(value)!, plan.activationType));
      const q = rewriter.names.fresh(`${value}_QuantizeLinear_Output`);
      const dq = rewriter.names.fresh(`${value}_DequantizeLinear_Output`);
      rewriter.edits.insertBefore(
        target.node,
        makeNode("QuantizeLinear", rewriter.names.fresh(`${value}/QuantizeLinear`), [value, names.scale, names.zeroPoint], [q]),
        makeNode("DequantizeLinear", rewriter.names.fresh(`${value}/DequantizeLinear`), [q, names.scale, names.zeroPoint], [dq]),
      );
      rewriter.edits.setInput(target.node, slot, dq);
    }
    const weight = target.weight && rewriter.dequantizeWeight(target.node, target.weight);
    if (bias && weight) {
      const input = plan.ranges.get(target.activations[0]!.value)!;
      quantizedBias(rewriter, target.node, bias, activationParams(input, plan.activationType).scale, weight);
    }
    quantized.push(target.node.name);
  }
  rewriter.quantizeEmbeddingTables();
  const result = rewriter.finish({
    quantization: "int8_qdq_static",
    quantization_activation_type: plan.activationType,
    ...plan.metadata,
  });
  return { model: result, quantized, skipped };
}

/**
 * The float bias of a linear layer onnxruntime runs as a Gemm: a Gemm's C, or the Add after a
 * MatMul on a 2-D activation (onnxruntime fuses MatMul + Add into a float Gemm before any QDQ
 * fusion, leaving the weight to be dequantized on every run). Such a bias is stored as int32
 * (scale = activation scale × weight scale) so that onnxruntime fuses the whole layer into QGemm.
 */
interface LinearBias {
  initializer: Initializer;
  /** The Add that applies it after a MatMul (the Gemm's C otherwise). */
  add?: Node;
}

function biasOf(index: GraphIndex, target: MatMulTarget, ranks: ReadonlyMap<string, number>): LinearBias | undefined {
  const { node, weight } = target;
  if (!weight) return undefined;
  const outFeatures = weight.initializer.dims[weight.channelAxis]!;
  const isBias = (name: string | undefined) => {
    const init = name ? index.floatInitializer(name) : undefined;
    return init && init.dims.length === 1 && init.dims[0] === outFeatures ? init : undefined;
  };
  if (node.opType === "Gemm") {
    const initializer = isBias(node.inputs[2]);
    const beta = node.attributes.beta;
    return initializer && (!beta || (beta.kind === "float" && beta.value === 1)) ? { initializer } : undefined;
  }
  const output = node.outputs[0]!;
  const uses = index.usesOf(output);
  if (ranks.get(node.inputs[0]!) !== 2 || uses.length !== 1 || index.graphOutputs.has(output)) return undefined;
  const add = uses[0]!.node;
  if (add.opType !== "Add") return undefined;
  const initializer = isBias(add.inputs[1 - uses[0]!.slot]);
  return initializer ? { initializer, add } : undefined;
}

/** The bias as int32 behind a DequantizeLinear; a MatMul + Add becomes one Gemm. */
function quantizedBias(rewriter: Int8Rewriter, node: Node, bias: LinearBias, activationScale: number, weight: Int8Initializers): void {
  const n = bias.initializer.dims[0]!;
  const scales = () => weight.scaleValues().map((s) => s * activationScale);
  const name = bias.initializer.name;
  const q = {
    scales: rewriter.addInitializer(
      `${name}_scale`,
      DataType.FLOAT,
      [n],
      lazyBytes(n * 4, () => scales()),
    ),
    zeroPoints: rewriter.addInitializer(`${name}_zero_point`, DataType.INT32, [n], { kind: "bytes", bytes: new Uint8Array(n * 4) }),
  };
  const values = rewriter.addInitializer(
    `${name}_quantized`,
    DataType.INT32,
    [n],
    lazyBytes(n * 4, () => {
      const s = scales();
      const b = initializerToFloat32(bias.initializer);
      return Int32Array.from(b, (v, i) => Math.max(-INT32_LIMIT, Math.min(INT32_LIMIT, Math.round(v / s[i]!))));
    }),
  );
  const dequantized = rewriter.names.fresh(`${name}_dequantized`);
  rewriter.edits.insertBefore(node, rewriter.dequantizeNode(q, values, dequantized, 0));
  if (!bias.add) {
    rewriter.edits.setInput(node, 2, dequantized);
    return;
  }
  // MatMul(x, W) + b  →  Gemm(x, W, b), writing the Add's output.
  const [a, w] = rewriter.edits.inputsOf(node) as [string, string];
  rewriter.edits.insertBefore(
    node,
    makeNode("Gemm", rewriter.names.fresh(`${node.name}/Gemm`), [a, w, dequantized], [bias.add.outputs[0]!]),
  );
  rewriter.edits.remove(node);
  rewriter.edits.remove(bias.add);
}

const INT32_LIMIT = 2 ** 31 - 1;

function skipReason(target: MatMulTarget, plan: StaticQuantPlan, carriers: ReadonlySet<string>): string | undefined {
  if (plan.keepFloat?.has(target.node.name)) return "kept in float for fidelity";
  if (!target.weight && !plan.attentionMatMuls) return "activation × activation MatMul (attention) left in float";
  for (const { value } of target.activations) {
    if (carriers.has(value)) return `input ${value} carries the additive attention mask`;
    if (!plan.ranges.has(value)) return `input ${value} has no calibrated range`;
  }
  return undefined;
}
