// Tensor ranks where they follow from the graph alone (graph input shapes, initializer dims and
// the usual ops), undefined elsewhere. The quantizer needs them to tell a 2-D MatMul (which
// onnxruntime turns into a float Gemm before any QDQ fusion) from a batched one.
import type { Graph, Initializer } from "../graph/ir.js";
import { opPolicy } from "./op-policy.js";

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
    const follows = opPolicy(op).rank;
    if (follows === "first") rank = r0;
    else if (follows === "broadcast") rank = r.every((x) => x !== undefined) ? Math.max(...(r as number[])) : undefined;
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
