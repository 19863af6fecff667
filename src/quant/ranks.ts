// Tensor ranks where they follow from the graph alone (graph input shapes, initializer dims and
// the usual ops), undefined elsewhere. The quantizer needs them to tell a 2-D MatMul (which
// onnxruntime turns into a float Gemm before any QDQ fusion) from a batched one.
import type { Graph, Initializer } from "../graph/ir.js";

const SAME_AS_FIRST = new Set([
  "Cast",
  "Erf",
  "Tanh",
  "Relu",
  "Sigmoid",
  "Sqrt",
  "Neg",
  "Exp",
  "Log",
  "Abs",
  "Softmax",
  "LayerNormalization",
  "Identity",
  "Gelu",
  "FastGelu",
  "BiasGelu",
  "QuantizeLinear",
  "DequantizeLinear",
  "Transpose",
  "Slice",
  "Concat",
  "Split",
  "SkipLayerNormalization",
  "Dropout",
  "Attention",
  "MultiHeadAttention",
  "RotaryEmbedding",
  "QuickGelu",
]);
const BROADCAST = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Less", "Greater", "And", "Or"]);

export function inferRanks(graph: Graph): Map<string, number> {
  const ranks = new Map<string, number>();
  const constants = new Map<string, Initializer>();
  for (const input of graph.inputs) if (input.shape) ranks.set(input.name, input.shape.length);
  for (const init of graph.initializers) {
    ranks.set(init.name, init.dims.length);
    constants.set(init.name, init);
  }
  const constLength = (name: string | undefined) => {
    const init = name ? constants.get(name) : undefined;
    return init && init.dims.length === 1 ? init.dims[0] : undefined;
  };
  for (const node of graph.nodes) {
    const r = node.inputs.map((i) => ranks.get(i));
    const [r0, r1] = r;
    let rank: number | undefined;
    const op = node.opType;
    if (SAME_AS_FIRST.has(op)) rank = r0;
    else if (BROADCAST.has(op)) rank = r.every((x) => x !== undefined) ? Math.max(...(r as number[])) : undefined;
    else if (op === "MatMul") rank = r0 !== undefined && r1 !== undefined && r0 >= 2 && r1 >= 2 ? Math.max(r0, r1) : undefined;
    else if (op === "Gemm") rank = 2;
    else if (op === "Shape") rank = 1;
    else if (op === "Reshape") rank = constLength(node.inputs[1]);
    else if (op === "Gather") rank = r0 !== undefined && r1 !== undefined ? r0 + r1 - 1 : undefined;
    else if (op === "Unsqueeze")
      rank = r0 !== undefined && constLength(node.inputs[1]) !== undefined ? r0 + constLength(node.inputs[1])! : undefined;
    else if (op === "Squeeze")
      rank = r0 !== undefined && constLength(node.inputs[1]) !== undefined ? r0 - constLength(node.inputs[1])! : undefined;
    else if (op.startsWith("Reduce")) {
      const keep = node.attributes.keepdims;
      const axes = node.attributes.axes?.kind === "ints" ? node.attributes.axes.value.length : constLength(node.inputs[1]);
      rank = keep?.kind === "int" && keep.value === 0 ? (r0 !== undefined && axes !== undefined ? r0 - axes : undefined) : r0;
    }
    if (rank !== undefined) for (const output of op === "Split" ? node.outputs : node.outputs.slice(0, 1)) ranks.set(output, rank);
  }
  return ranks;
}
