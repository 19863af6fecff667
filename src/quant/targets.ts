// What in a float graph gets quantized, found generically over the IR (any template, standard
// or contrib ops): MatMul/Gemm nodes, told apart into weight (initializer) and activation
// inputs, and embedding tables read only through row lookups.
import { DataType, type Graph, type Initializer, type Node } from "../graph/ir.js";
import type { GraphIndex } from "./graph-index.js";
import { opPolicy } from "./op-policy.js";

export interface WeightInput {
  slot: number;
  initializer: Initializer;
  /** Axis of the initializer that indexes output channels (one scale each). */
  channelAxis: number;
}

export interface MatMulTarget {
  node: Node;
  /** Activation inputs (quantized per tensor), by slot. */
  activations: Array<{ slot: number; value: string }>;
  weight?: WeightInput;
}

/** A float table read only by row lookups (Gather on axis 0, Slice on axis 0). */
export interface EmbeddingTarget {
  initializer: Initializer;
  readers: Node[];
}

/**
 * MatMul and Gemm nodes the quantizer can rewrite: activation × weight (weight [K, N] on the
 * right) and activation × activation (attention scores and context).
 */
export function matMulTargets(index: GraphIndex): MatMulTarget[] {
  const targets: MatMulTarget[] = [];
  for (const node of index.graph.nodes) {
    if (node.domain !== "") continue;
    const kind = opPolicy(node.opType).quantize;
    const target = kind === "matmul" ? matMulTarget(index, node) : kind === "gemm" ? gemmTarget(index, node) : undefined;
    if (target) targets.push(target);
  }
  return targets;
}

function matMulTarget(index: GraphIndex, node: Node): MatMulTarget | undefined {
  const [a, b] = node.inputs as [string, string];
  if (index.initializers.has(a)) return undefined; // a constant on the left: not a layer this pass knows
  const weight = index.floatInitializer(b);
  if (weight) {
    if (weight.dims.length !== 2) return undefined;
    return { node, activations: [{ slot: 0, value: a }], weight: { slot: 1, initializer: weight, channelAxis: 1 } };
  }
  if (index.initializers.has(b)) return undefined;
  return {
    node,
    activations: [
      { slot: 0, value: a },
      { slot: 1, value: b },
    ],
  };
}

function gemmTarget(index: GraphIndex, node: Node): MatMulTarget | undefined {
  const [a, b] = node.inputs as [string, string];
  const weight = index.floatInitializer(b);
  const transA = node.attributes.transA;
  if (!weight || weight.dims.length !== 2 || index.initializers.has(a) || (transA?.kind === "int" && transA.value !== 0)) return undefined;
  const transB = node.attributes.transB;
  const channelAxis = transB?.kind === "int" && transB.value !== 0 ? 0 : 1;
  return { node, activations: [{ slot: 0, value: a }], weight: { slot: 1, initializer: weight, channelAxis } };
}

/** Tables of at least this many elements are stored as int8 (token-type rows are not worth it). */
export const MIN_TABLE_ELEMENTS = 4096;

/** Float tables whose every reader is a row lookup: stored int8, dequantized after the lookup. */
export function embeddingTargets(index: GraphIndex): EmbeddingTarget[] {
  const targets: EmbeddingTarget[] = [];
  for (const init of index.graph.initializers) {
    if (!index.floatInitializer(init.name) || init.dims.length !== 2 || init.dims[0]! * init.dims[1]! < MIN_TABLE_ELEMENTS) continue;
    const uses = index.usesOf(init.name);
    if (uses.length === 0 || index.graphOutputs.has(init.name)) continue;
    if (uses.every((use) => use.slot === 0 && isRowLookup(index, use.node)))
      targets.push({ initializer: init, readers: uses.map((u) => u.node) });
  }
  return targets;
}

function isRowLookup(index: GraphIndex, node: Node): boolean {
  if (node.domain !== "") return false;
  if (node.opType === "Gather") {
    const axis = node.attributes.axis;
    return !axis || (axis.kind === "int" && axis.value === 0);
  }
  if (node.opType === "Slice") {
    // Slice(data, starts, ends, axes): rows only when axes is the constant [0].
    const axes = node.inputs[3] ? index.initializers.get(node.inputs[3]) : undefined;
    if (!axes || axes.dims.length !== 1 || axes.dims[0] !== 1) return false;
    const bytes = axes.data.kind === "bytes" ? axes.data.bytes : undefined;
    if (!bytes) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return bytes.byteLength === 8 ? view.getBigInt64(0, true) === 0n : bytes.byteLength === 4 && view.getInt32(0, true) === 0;
  }
  return false;
}

/**
 * Values that carry the additive attention mask (float32's lowest on padded keys): anything
 * computed arithmetically from a `*mask*` graph input or from a constant of magnitude ≥
 * 1e30, up to the Softmax that turns it into bounded probabilities. Such a value must never be
 * calibrated: one -3.4e38 would flatten its whole int8 range.
 */
export function maskCarriers(graph: Graph): Set<string> {
  const carriers = new Set<string>();
  for (const input of graph.inputs) if (/mask/i.test(input.name)) carriers.add(input.name);
  for (const init of graph.initializers) if (holdsHugeConstant(init)) carriers.add(init.name);
  for (const node of graph.nodes) {
    if (BOUNDED_OUTPUTS.has(node.opType)) continue;
    const dataSlots = DATA_ONLY_SLOTS[node.opType];
    const carries = node.inputs.some((input, slot) => carriers.has(input) && (dataSlots === undefined || dataSlots.includes(slot)));
    if (carries) for (const output of node.outputs) carriers.add(output);
  }
  return carriers;
}

/**
 * Ops whose outputs never carry the mask's values: Shape and Size read only its shape, Softmax
 * turns it into probabilities, attention kernels (reading it as a key padding mask or attention
 * bias) into convex mixtures of values.
 */
const BOUNDED_OUTPUTS = new Set(["Softmax", "Shape", "Size", "MultiHeadAttention", "Attention"]);

/** Ops whose other inputs are indices, shapes or conditions: only these slots carry values. */
const DATA_ONLY_SLOTS: Record<string, number[]> = {
  Gather: [0],
  GatherElements: [0],
  Slice: [0],
  Reshape: [0],
  Expand: [0],
  Tile: [0],
  Unsqueeze: [0],
  Squeeze: [0],
  Pad: [0, 2],
  Where: [1, 2],
};

function holdsHugeConstant(init: Initializer): boolean {
  if (init.data.kind !== "bytes" || init.dataType !== DataType.FLOAT || init.data.bytes.byteLength > 64) return false;
  const bytes = init.data.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 4 <= bytes.byteLength; i += 4) if (Math.abs(view.getFloat32(i, true)) >= 1e30) return true;
  return false;
}
