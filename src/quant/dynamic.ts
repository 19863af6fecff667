// Dynamic int8: weights stored int8 (per output channel), activations quantized at run time.
// Written in standard ONNX ops in the exact shape onnxruntime fuses into one
// DynamicQuantizeMatMul (bias included):
//   DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zp, W_zp) → Cast → Mul(x_scale·W_scale) [→ Add bias]
// Each MatMul gets its own DynamicQuantizeLinear: the fusion requires its three outputs to feed
// exactly one MatMulInteger. No calibration; attention MatMuls stay float.
import { attr } from "../graph/builder.js";
import { DataType, type Model } from "../graph/ir.js";
import { expandAttention } from "./attention-expansion.js";
import { makeNode } from "./graph-index.js";
import { Int8Rewriter } from "./rewriter.js";
import type { QuantizedModel } from "./static-qdq.js";
import { matMulTargets } from "./targets.js";

export interface DynamicQuantPlan {
  keepFloat?: ReadonlySet<string>;
  metadata?: Record<string, string>;
}

export function quantizeDynamic(original: Model, plan: DynamicQuantPlan = {}): QuantizedModel {
  const rewriter = new Int8Rewriter(expandAttention(original));
  const { names, edits } = rewriter;
  const quantized: string[] = [];
  const skipped: QuantizedModel["skipped"] = [];
  for (const target of matMulTargets(rewriter.index)) {
    const { node, weight } = target;
    const reason = plan.keepFloat?.has(node.name)
      ? "kept in float for fidelity"
      : !weight
        ? "activation × activation MatMul (attention) left in float"
        : node.opType !== "MatMul"
          ? `${node.opType} is not rewritten in dynamic mode`
          : undefined;
    if (reason || !weight) {
      skipped.push({ node: node.name, reason: reason ?? "" });
      continue;
    }
    const x = node.inputs[0]!;
    const output = node.outputs[0]!;
    const q = rewriter.int8Of(weight.initializer, weight.channelAxis);
    const fresh = (suffix: string) => names.fresh(`${output}_${suffix}`);
    const [xq, xScale, xZero, product, asFloat, scale] = ["x_quantized", "x_scale", "x_zero_point", "int32", "float", "scale"].map(
      fresh,
    ) as [string, string, string, string, string, string];
    edits.insertBefore(
      node,
      makeNode("DynamicQuantizeLinear", names.fresh(`${node.name}/DynamicQuantizeLinear`), [x], [xq, xScale, xZero]),
      makeNode("MatMulInteger", names.fresh(`${node.name}/MatMulInteger`), [xq, q.values, xZero, q.zeroPoints], [product]),
      makeNode("Cast", names.fresh(`${node.name}/Cast`), [product], [asFloat], { to: attr.int(DataType.FLOAT) }),
      makeNode("Mul", names.fresh(`${node.name}/ScaleProduct`), [xScale, q.scales], [scale]),
      makeNode("Mul", names.fresh(`${node.name}/Rescale`), [asFloat, scale], [output]),
    );
    edits.remove(node);
    quantized.push(node.name);
  }
  rewriter.quantizeEmbeddingTables();
  const result = rewriter.finish({ quantization: "int8_dynamic", ...plan.metadata });
  return { model: result, quantized, skipped };
}
