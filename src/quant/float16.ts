// FP32 graph → FP16 graph. The hidden-state stream of the encoder (embedding lookups, the
// linear maps, attention, activations, residual adds) is computed in float16 with float16
// weights; what overflows or loses too much in float16 stays float32, with Casts at the borders:
// - LayerNormalization (and its fused/decomposed forms: reductions, Pow, Sqrt), Softmax (the ops
//   op-policy.ts marks float32InFp16);
// - everything that carries the additive attention mask (float32's lowest is -Infinity in fp16);
// - position computations (rotary angles at position 500 have no fractional digits left in
//   fp16; ALiBi distances), which never read the hidden stream;
// - everything computed only for the outputs after last_hidden_state (pooler, sentence
//   pooling and normalization, vector outputs);
// - graph inputs and outputs, so callers need no change.
// On onnxruntime's x86 CPU provider most float16 kernels are missing (measured: MatMul, Add,
// Mul, Gelu, Attention…): it inserts Casts to float32 around them at load time, so the file is
// half the size but the CPU runs float32 arithmetic on fp16-rounded values, usually slower.
import { attr } from "../graph/builder.js";
import { DataType, type Initializer, type Model, type Node, elementCount } from "../graph/ir.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { float32ArrayToFloat16 } from "../common/float16.js";
import { GraphIndex, NameAllocator, makeNode, withoutUnusedInitializers } from "./graph-index.js";
import { maskCarriers } from "./targets.js";
import { opPolicy } from "./op-policy.js";

/** Comparisons and logic: boolean outputs whatever the inputs. */
const BOOLEAN_OUTPUT = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "IsNaN", "IsInf"]);

export interface Float16Conversion {
  model: Model;
  /** Nodes computing in float16. */
  float16Nodes: number;
  /** Nodes reading or writing float tensors left in float32. */
  float32Nodes: number;
  /** Initializers stored as float16. */
  float16Initializers: number;
}

export function convertToFloat16(model: Model, metadata: Record<string, string> = {}): Float16Conversion {
  const graph = model.graph;
  const index = new GraphIndex(graph);
  const names = new NameAllocator(index.allNames());
  const carriers = maskCarriers(graph);
  const firstOutput = graph.outputs[0]?.name;
  const encoder = firstOutput ? ancestorsOf(index, firstOutput) : new Set<Node>();

  // The type of every tensor of the float32 graph.
  const types = new Map<string, DataType>();
  for (const input of graph.inputs) types.set(input.name, input.elemType);
  for (const init of graph.initializers) types.set(init.name, init.dataType);
  // Values on the hidden stream: an embedding-table lookup and everything computed from one.
  const stream = new Set<string>();
  // The float tensors computed in float16 in the converted graph.
  const halfValues = new Set<string>();
  const halfInitializers = new Map<string, string>(); // float32 initializer → its float16 copy
  const casts = new Map<string, string>(); // `${value}|${type}` → cast value
  const nodes: Node[] = [];
  let float16Nodes = 0;
  let float32Nodes = 0;

  const isFloat = (value: string) => types.get(value) === DataType.FLOAT;
  const castTo = (value: string, half: boolean): string => {
    const init = index.initializers.get(value);
    if (init) return half ? halfCopy(init) : value;
    if (halfValues.has(value) === half) return value;
    const suffix = half ? "fp16" : "fp32";
    const key = `${value}|${suffix}`;
    let cast = casts.get(key);
    if (!cast) {
      cast = names.fresh(`${value}_${suffix}`);
      nodes.push(
        makeNode("Cast", names.fresh(`${value}/Cast_${suffix}`), [value], [cast], {
          to: attr.int(half ? DataType.FLOAT16 : DataType.FLOAT),
        }),
      );
      casts.set(key, cast);
    }
    return cast;
  };
  const halfCopy = (init: Initializer): string => {
    let name = halfInitializers.get(init.name);
    if (!name) halfInitializers.set(init.name, (name = names.fresh(`${init.name}_fp16`)));
    return name;
  };

  for (const node of graph.nodes) {
    const outputType = outputTypeOf(node, types);
    for (const output of node.outputs) if (outputType !== undefined) types.set(output, outputType);
    const floatSlots = node.inputs.flatMap((input, slot) => (input !== "" && isFloat(input) ? [slot] : []));
    const floatOut = outputType === DataType.FLOAT;
    const lookup = (node.opType === "Gather" || node.opType === "Slice") && index.floatInitializer(node.inputs[0]!) !== undefined;
    const onStream = lookup || node.inputs.some((i) => stream.has(i));
    if (onStream) for (const output of node.outputs) stream.add(output);
    if (floatSlots.length === 0 && !floatOut) {
      nodes.push(node);
      continue;
    }
    const half =
      onStream &&
      encoder.has(node) &&
      !opPolicy(node.opType).float32InFp16 &&
      !node.outputs.some((o) => carriers.has(o) || index.graphOutputs.has(o)) &&
      !floatSlots.some((slot) => carriers.has(node.inputs[slot]!));
    if (half) float16Nodes++;
    else float32Nodes++;
    if (node.opType === "Cast") {
      // Cast reads any type; a cast to float on the fp16 stream casts to float16 instead.
      nodes.push(half && floatOut ? { ...node, attributes: { ...node.attributes, to: attr.int(DataType.FLOAT16) } } : node);
    } else {
      const inputs = [...node.inputs];
      for (const slot of floatSlots) inputs[slot] = castTo(inputs[slot]!, half);
      nodes.push({ ...node, inputs });
    }
    if (floatOut && half) for (const output of node.outputs) halfValues.add(output);
  }

  const added = [...halfInitializers].map(([source, name]) => float16Initializer(index.initializers.get(source)!, name));
  const converted = withoutUnusedInitializers({
    ...graph,
    nodes,
    initializers: [...graph.initializers, ...added],
    // Float annotations may be float16 now; onnxruntime infers them again.
    valueInfo: graph.valueInfo.filter((v) => v.elemType !== DataType.FLOAT),
  });
  return {
    model: { ...model, metadata: { ...model.metadata, ...metadata }, graph: converted },
    float16Nodes,
    float32Nodes,
    float16Initializers: added.length,
  };
}

/** The element type of a node's outputs, from its inputs' (undefined: not known). */
function outputTypeOf(node: Node, types: ReadonlyMap<string, DataType>): DataType | undefined {
  if (node.opType === "Cast") return (node.attributes.to as { value: number } | undefined)?.value;
  if (["Shape", "Size", "ArgMax", "ArgMin", "NonZero"].includes(node.opType)) return DataType.INT64;
  if (BOOLEAN_OUTPUT.has(node.opType)) return DataType.BOOL;
  return types.get(node.inputs[node.opType === "Where" ? 1 : 0] ?? "");
}

/** A float16 copy of a float32 initializer, converted when the writer reaches it. */
export function float16Initializer(source: Initializer, name: string): Initializer {
  const count = elementCount(source.dims);
  return {
    name,
    dataType: DataType.FLOAT16,
    dims: [...source.dims],
    data: {
      kind: "lazy",
      length: count * 2,
      read: () => new Uint8Array(float32ArrayToFloat16(initializerToFloat32(source)).buffer),
    },
  };
}

/** Every node `value` depends on. */
function ancestorsOf(index: GraphIndex, value: string): Set<Node> {
  const seen = new Set<Node>();
  const pending = [value];
  while (pending.length > 0) {
    const producer = index.producers.get(pending.pop()!);
    if (!producer || seen.has(producer)) continue;
    seen.add(producer);
    for (const input of producer.inputs) if (input !== "") pending.push(input);
  }
  return seen;
}
