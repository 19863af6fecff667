// onnxruntime's fused Attention (com.microsoft: the Q/K/V projection, mask and softmax in one
// node, the primary graph's attention) has no QDQ or dynamic int8 form on its CPU provider: a
// DequantizeLinear before it is never fused. The quantizers therefore first split each Attention
// node into its projection MatMul and a MultiHeadAttention over the projected q, k, v (same
// mask, biases and attributes): the projection is then quantized like every other linear map,
// the attention itself stays float as before.
import { CONTRIB_DOMAIN, attr } from "../graph/builder.js";
import { trimOptional } from "../graph/contrib.js";
import { DataType, type Model, type Node } from "../graph/ir.js";
import { GraphIndex, NameAllocator, NodeEdits, makeNode } from "./graph-index.js";

/** Attention's attributes that mean the same on MultiHeadAttention. */
const SHARED_ATTRIBUTES = new Set(["num_heads", "mask_filter_value", "scale", "unidirectional"]);

/** `model` with every self-attention Attention node as MatMul → Split → MultiHeadAttention (`model` itself when it has none). */
export function expandAttention(model: Model): Model {
  const index = new GraphIndex(model.graph);
  const attentions = model.graph.nodes.filter((n) => n.opType === "Attention" && n.domain === CONTRIB_DOMAIN && expandable(index, n));
  if (attentions.length === 0) return model;
  const names = new NameAllocator(index.allNames());
  const edits = new NodeEdits();
  const initializers = [...model.graph.initializers];
  for (const node of attentions) {
    const [input, weight, bias, mask, , attentionBias] = node.inputs.map((name) => name || undefined);
    const widths = qkvWidths(node, index.initializers.get(weight!)!.dims[1]!);
    const fresh = (hint: string) => names.fresh(`${node.name}/${hint}`);
    const sizes = fresh("qkv_sizes");
    initializers.push({
      name: sizes,
      dataType: DataType.INT64,
      dims: [3],
      data: { kind: "bytes", bytes: new Uint8Array(BigInt64Array.from(widths.map(BigInt)).buffer) },
    });
    const projected = fresh("qkv");
    const [q, k, v] = [fresh("query"), fresh("key"), fresh("value")];
    const attributes = Object.fromEntries(Object.entries(node.attributes).filter(([key]) => SHARED_ATTRIBUTES.has(key)));
    const mhaInputs = trimOptional([q, k, v, bias, mask, attentionBias]);
    edits.insertBefore(
      node,
      makeNode("MatMul", fresh("MatMul"), [input!, weight!], [projected]),
      makeNode("Split", fresh("Split"), [projected, sizes], [q, k, v], { axis: attr.int(-1) }),
      makeNode("MultiHeadAttention", fresh("MultiHeadAttention"), mhaInputs, [node.outputs[0]!], attributes, CONTRIB_DOMAIN),
    );
    edits.remove(node);
  }
  return { ...model, graph: { ...model.graph, nodes: edits.apply(model.graph.nodes), initializers } };
}

/** Self-attention with its projection weight an initializer, without past state or a present output. */
function expandable(index: GraphIndex, node: Node): boolean {
  const weight = index.initializers.get(node.inputs[1] ?? "");
  const past = node.inputs[4];
  return weight !== undefined && weight.dims.length === 2 && (past === undefined || past === "") && node.outputs.length === 1;
}

function qkvWidths(node: Node, total: number): [number, number, number] {
  const sizes = node.attributes.qkv_hidden_sizes;
  if (sizes?.kind === "ints" && sizes.value.length === 3) return sizes.value as [number, number, number];
  return [total / 3, total / 3, total / 3];
}
