// SmoothQuant (Xiao et al. 2022) for activations with outlier channels: BERT-family hidden
// states have a few channels far larger than the rest, and one per-tensor int8 scale sized for
// them leaves the others a handful of levels. Dividing channel j of the activation by
// s_j = max|X_j|^α / max|W_j|^(1−α) and multiplying row j of every consuming weight by s_j
// leaves X·W unchanged and moves the difficulty into the (per-channel quantized) weights.
// The 1/s is folded into the producer's per-channel affine part when the MatMuls are its only
// readers — LayerNorm gamma/beta, RMSNorm's scale (SimplifiedLayerNormalization), a Mul by a
// [channels] constant (the portable RMSNorm's gamma): op-policy.ts names these anchors —;
// otherwise (post-norm residuals read it too) a Mul on the MatMul branch applies it.
import { DataType, type Initializer, type Model, type Node, elementCount } from "../graph/ir.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { GraphIndex, NameAllocator, NodeEdits, lazyBytes, makeNode, withoutUnusedInitializers } from "./graph-index.js";
import { axisLayout } from "./int8.js";
import { type WeightInput, maskCarriers, matMulTargets } from "./targets.js";
import { type SmoothingAnchor, opPolicy } from "./op-policy.js";

export interface SmoothingOptions {
  /** Migration strength: 0 keeps activations as they are, 1 moves all range into weights (default 0.5). */
  alpha: number;
  /** Smooth an activation when its largest channel max exceeds the median channel max this many times (default 10). */
  outlierRatio: number;
}

export const DEFAULT_SMOOTHING: SmoothingOptions = { alpha: 0.5, outlierRatio: 10 };

/** An activation and the weight MatMuls that read it (one scale vector serves them all). */
export interface SmoothingGroup {
  activation: string;
  consumers: Array<{ node: Node; weight: WeightInput }>;
}

export interface SmoothedActivation {
  activation: string;
  /** The tensor the MatMuls now read (the activation itself when folded into its producer). */
  smoothed: string;
  channels: number;
  /** max / median of the channel maxima, before smoothing. */
  outlierRatio: number;
  /** Channels above outlierRatio × median. */
  outlierChannels: number[];
  /** Into which producer 1/s was folded, or "mul": a Mul inserted on the MatMul branch. */
  folded: SmoothingAnchor["label"] | "mul";
}

export interface SmoothingResult {
  model: Model;
  smoothed: SmoothedActivation[];
  /** For each smoothed tensor (by its name in the new model): the per-channel factors 1/s applied. */
  factors: Map<string, Float32Array>;
}

/** Activations read (as the left operand) by MatMuls with a weight, with their readers. */
export function smoothingGroups(model: Model): SmoothingGroup[] {
  const index = new GraphIndex(model.graph);
  const carriers = maskCarriers(model.graph);
  const groups = new Map<string, SmoothingGroup>();
  for (const target of matMulTargets(index)) {
    const activation = target.activations[0];
    if (!target.weight || !activation || activation.slot !== 0 || carriers.has(activation.value)) continue;
    let group = groups.get(activation.value);
    if (!group) groups.set(activation.value, (group = { activation: activation.value, consumers: [] }));
    group.consumers.push({ node: target.node, weight: target.weight });
  }
  return [...groups.values()];
}

/** max / median of per-channel maxima: ≈1–3 for well-behaved activations, ≫ with outlier channels. */
export function outlierRatio(channelAbsMax: Float32Array): number {
  const sorted = Float32Array.from(channelAbsMax).sort();
  const median = sorted[sorted.length >> 1]!;
  const max = sorted[sorted.length - 1]!;
  return median > 0 ? max / median : max > 0 ? Infinity : 1;
}

/** s_j = a_j^α / w_j^(1−α), 1 where either statistic is zero. */
export function smoothingScales(activationAbsMax: Float32Array, weightAbsMax: Float32Array, alpha: number): Float32Array {
  return activationAbsMax.map((a, j) => {
    const w = weightAbsMax[j]!;
    if (!(a > 0) || !(w > 0)) return 1;
    return Math.min(1e4, Math.max(1e-4, a ** alpha / w ** (1 - alpha)));
  });
}

/**
 * Smooths the groups whose activations show outlier channels. `channelAbsMax` comes from
 * calibration. Returns a new model (the input is untouched) and what was smoothed.
 */
export function applySmoothing(
  model: Model,
  groups: readonly SmoothingGroup[],
  channelAbsMax: ReadonlyMap<string, Float32Array>,
  options: SmoothingOptions,
): SmoothingResult {
  const index = new GraphIndex(model.graph);
  const names = new NameAllocator(index.allNames());
  const edits = new NodeEdits();
  const added: Initializer[] = [];
  const smoothed: SmoothedActivation[] = [];
  const factors = new Map<string, Float32Array>();
  const order = new Map(model.graph.nodes.map((node, i) => [node, i]));

  for (const group of groups) {
    const absMax = channelAbsMax.get(group.activation);
    if (!absMax) continue;
    const ratio = outlierRatio(absMax);
    if (!(ratio >= options.outlierRatio)) continue;
    const weightAbsMax = inputChannelAbsMax(group, absMax.length);
    if (!weightAbsMax) continue;
    const scales = smoothingScales(absMax, weightAbsMax, options.alpha);
    const median = Float32Array.from(absMax).sort()[absMax.length >> 1]!;
    const outlierChannels = [...absMax.keys()].filter((j) => absMax[j]! > options.outlierRatio * median);

    for (const { node, weight } of group.consumers) {
      const scaled = names.fresh(`${weight.initializer.name}_smoothed`);
      added.push(scaledRows(weight.initializer, scaled, 1 - weight.channelAxis, scales));
      edits.setInput(node, weight.slot, scaled);
    }
    const inverse = scales.map((s) => 1 / s);
    const anchor = exclusiveAnchor(index, group, absMax.length);
    if (anchor) {
      for (const slot of anchor.slots) {
        const source = anchor.node.inputs[slot]!;
        const scaledName = names.fresh(`${source}_smoothed`);
        added.push(scaledVector(index.initializers.get(source)!, scaledName, inverse));
        edits.setInput(anchor.node, slot, scaledName);
      }
      smoothed.push({
        activation: group.activation,
        smoothed: group.activation,
        channels: absMax.length,
        outlierRatio: ratio,
        outlierChannels,
        folded: anchor.label,
      });
      factors.set(group.activation, inverse);
      continue;
    }
    const factor = names.fresh(`${group.activation}_smoothing_factor`);
    added.push(floatVector(factor, inverse));
    const output = names.fresh(`${group.activation}_smoothed`);
    const first = group.consumers.map((c) => c.node).sort((a, b) => order.get(a)! - order.get(b)!)[0]!;
    edits.insertBefore(first, makeNode("Mul", names.fresh(`${group.activation}/Smoothing`), [group.activation, factor], [output]));
    for (const { node } of group.consumers) edits.setInput(node, 0, output);
    smoothed.push({
      activation: group.activation,
      smoothed: output,
      channels: absMax.length,
      outlierRatio: ratio,
      outlierChannels,
      folded: "mul",
    });
    factors.set(output, inverse);
  }
  const graph = withoutUnusedInitializers({
    ...model.graph,
    nodes: edits.apply(model.graph.nodes),
    initializers: [...model.graph.initializers, ...added],
  });
  return { model: { ...model, graph }, smoothed, factors };
}

/** max_j over every consumer weight's row j (its input channel j), or undefined on a shape mismatch. */
function inputChannelAbsMax(group: SmoothingGroup, channels: number): Float32Array | undefined {
  const out = new Float32Array(channels);
  for (const { weight } of group.consumers) {
    const { dims } = weight.initializer;
    const inputAxis = 1 - weight.channelAxis;
    if (dims[inputAxis] !== channels) return undefined;
    const values = initializerToFloat32(weight.initializer);
    const { outer, channels: rows, inner } = axisLayout(dims, inputAxis);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < rows; j++) {
        const base = (o * rows + j) * inner;
        for (let k = 0; k < inner; k++) {
          const a = Math.abs(values[base + k]!);
          if (a > out[j]!) out[j] = a;
        }
      }
    }
  }
  return out;
}

/**
 * The per-channel affine producer of the activation (an op-policy smoothing anchor whose scale
 * and shift are [channels] float initializers), when the group's MatMuls are its only readers:
 * the node and the input slots to scale by 1/s.
 */
function exclusiveAnchor(
  index: GraphIndex,
  group: SmoothingGroup,
  channels: number,
): { node: Node; slots: number[]; label: SmoothingAnchor["label"] } | undefined {
  const producer = index.producers.get(group.activation);
  const anchor = producer?.domain === "" ? opPolicy(producer.opType).smoothingAnchor : undefined;
  if (!producer || !anchor || producer.outputs[0] !== group.activation || index.graphOutputs.has(group.activation)) return undefined;
  const perChannel = (slot: number) => {
    const init = index.floatInitializer(producer.inputs[slot] ?? "");
    return init !== undefined && init.dims.length === 1 && init.dims[0] === channels;
  };
  const scaleSlots = anchor.scale === "constant" ? producer.inputs.map((_, slot) => slot).filter(perChannel) : [anchor.scale];
  // A Mul of two constants, or of a tensor by a scalar, is no per-channel scale of the activation.
  if (scaleSlots.length !== 1 || !perChannel(scaleSlots[0]!)) return undefined;
  const slots = [scaleSlots[0]!];
  if (anchor.shift !== undefined && (producer.inputs[anchor.shift] ?? "") !== "") {
    if (!perChannel(anchor.shift)) return undefined;
    slots.push(anchor.shift);
  }
  const readers = new Set(group.consumers.map((c) => c.node));
  const exclusive = index.usesOf(group.activation).every((use) => readers.has(use.node) && use.slot === 0);
  return exclusive ? { node: producer, slots, label: anchor.label } : undefined;
}

/** `source` with index j along `axis` multiplied by scales[j], computed when written. */
function scaledRows(source: Initializer, name: string, axis: number, scales: Float32Array): Initializer {
  const { outer, channels, inner } = axisLayout(source.dims, axis);
  return lazyFloat(name, source.dims, () => {
    const values = initializerToFloat32(source);
    let i = 0;
    for (let o = 0; o < outer; o++) for (let c = 0; c < channels; c++) for (let k = 0; k < inner; k++) values[i++]! *= scales[c]!;
    return values;
  });
}

function scaledVector(source: Initializer, name: string, factors: Float32Array): Initializer {
  return lazyFloat(name, source.dims, () => initializerToFloat32(source).map((v, j) => v * factors[j]!));
}

function floatVector(name: string, values: Float32Array): Initializer {
  return {
    name,
    dataType: DataType.FLOAT,
    dims: [values.length],
    data: { kind: "bytes", bytes: new Uint8Array(Float32Array.from(values).buffer) },
  };
}

function lazyFloat(name: string, dims: number[], compute: () => Float32Array): Initializer {
  return { name, dataType: DataType.FLOAT, dims, data: lazyBytes(elementCount(dims) * 4, compute) };
}
