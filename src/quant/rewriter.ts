// The part of every int8 rewrite that is the same in static and dynamic mode: int8 initializers
// made lazily from float ones (so memory stays one tensor at a time), DequantizeLinear nodes for
// weights and embedding tables, fresh names, and assembling the rewritten model.
import { attr } from "../graph/builder.js";
import { DataType, type Initializer, type Model, type Node, type TensorBytes, elementCount } from "../graph/ir.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { GraphIndex, NameAllocator, NodeEdits, lazyBytes, makeNode, withoutUnusedInitializers } from "./graph-index.js";
import { type PerChannelInt8, axisLayout, quantizePerChannel } from "./int8.js";
import { type EmbeddingTarget, type WeightInput, embeddingTargets } from "./targets.js";

/** Names of the three initializers a DequantizeLinear of a per-channel int8 tensor reads. */
export interface Int8Initializers {
  values: string;
  scales: string;
  zeroPoints: string;
  axis: number;
  /** The scales' values (computed from the weight on first use). */
  scaleValues: () => Float32Array;
}

export class Int8Rewriter {
  readonly index: GraphIndex;
  readonly names: NameAllocator;
  readonly edits = new NodeEdits();
  private readonly added: Initializer[] = [];
  private readonly int8Cache = new Map<string, Int8Initializers>();

  constructor(readonly model: Model) {
    this.index = new GraphIndex(model.graph);
    this.names = new NameAllocator(this.index.allNames());
  }

  /** A float constant added to the graph. */
  floatConstant(hint: string, values: ArrayLike<number>, dims: number[]): string {
    const array = Float32Array.from(values);
    return this.addInitializer(hint, DataType.FLOAT, dims, { kind: "bytes", bytes: new Uint8Array(array.buffer) });
  }

  /** An int8 or uint8 constant added to the graph. */
  byteConstant(hint: string, type: DataType.INT8 | DataType.UINT8, values: ArrayLike<number>, dims: number[]): string {
    const bytes = type === DataType.INT8 ? new Uint8Array(Int8Array.from(values).buffer) : Uint8Array.from(values);
    return this.addInitializer(hint, type, dims, { kind: "bytes", bytes });
  }

  addInitializer(hint: string, dataType: DataType, dims: number[], data: TensorBytes): string {
    const name = this.names.fresh(hint);
    this.added.push({ name, dataType, dims, data });
    return name;
  }

  /** The int8 copy of a float initializer, one scale per index of `axis` (shared by all readers). */
  int8Of(init: Initializer, axis: number): Int8Initializers {
    const key = `${init.name}|${axis}`;
    const cached = this.int8Cache.get(key);
    if (cached) return cached;
    const { channels } = axisLayout(init.dims, axis);
    const lazy = new LazyPerChannel(init, axis);
    const result: Int8Initializers = {
      values: this.addInitializer(
        `${init.name}_quantized`,
        DataType.INT8,
        init.dims,
        lazyBytes(elementCount(init.dims), () => lazy.values()),
      ),
      scales: this.addInitializer(
        `${init.name}_scale`,
        DataType.FLOAT,
        [channels],
        lazyBytes(channels * 4, () => lazy.scaleArray()),
      ),
      zeroPoints: this.byteConstant(`${init.name}_zero_point`, DataType.INT8, new Int8Array(channels), [channels]),
      axis,
      scaleValues: () => lazy.scaleArray(),
    };
    this.int8Cache.set(key, result);
    return result;
  }

  /** Replaces a MatMul/Gemm weight input by DequantizeLinear(int8 weight); returns the int8 names. */
  dequantizeWeight(node: Node, weight: WeightInput): Int8Initializers {
    const q = this.int8Of(weight.initializer, weight.channelAxis);
    const output = this.names.fresh(`${weight.initializer.name}_dequantized`);
    this.edits.insertBefore(node, this.dequantizeNode(q, q.values, output, weight.channelAxis));
    this.edits.setInput(node, weight.slot, output);
    return q;
  }

  /**
   * Stores every embedding table as int8 (one scale per hidden channel) and dequantizes after
   * each row lookup, so only the looked-up rows are ever converted back to float (those
   * `include` accepts: another rewrite may have stored the rest in its own form).
   */
  quantizeEmbeddingTables(include: (target: EmbeddingTarget) => boolean = () => true): EmbeddingTarget[] {
    const targets = embeddingTargets(this.index).filter(include);
    for (const target of targets) {
      const q = this.int8Of(target.initializer, 1);
      for (const reader of target.readers) {
        const rows = reader.outputs[0]!;
        const quantizedRows = this.names.fresh(`${rows}_int8`);
        this.edits.setInput(reader, 0, q.values);
        this.edits.setOutput(reader, 0, quantizedRows);
        this.edits.insertAfter(reader, this.dequantizeNode(q, quantizedRows, rows, -1));
      }
    }
    return targets;
  }

  dequantizeNode(q: Pick<Int8Initializers, "scales" | "zeroPoints">, input: string, output: string, axis: number): Node {
    return makeNode("DequantizeLinear", this.names.fresh(`${output}/DequantizeLinear`), [input, q.scales, q.zeroPoints], [output], {
      axis: attr.int(axis),
    });
  }

  /** The rewritten model: edited nodes, new initializers, unused float ones dropped. */
  finish(metadata: Record<string, string>): Model {
    const graph = withoutUnusedInitializers({
      ...this.model.graph,
      nodes: this.edits.apply(this.model.graph.nodes),
      initializers: [...this.model.graph.initializers, ...this.added],
    });
    return { ...this.model, metadata: { ...this.model.metadata, ...metadata }, graph };
  }
}

/**
 * A tensor quantized on first use and kept: a quarter of its float size, and every INT8 model is
 * written more than once (the fidelity check, then the per-layer probe) — recomputing would
 * read, transpose and quantize the float weights again each time.
 */
class LazyPerChannel {
  private result?: PerChannelInt8;

  constructor(
    private readonly source: Initializer,
    private readonly axis: number,
  ) {}

  values(): Int8Array {
    return this.computed().values;
  }

  scaleArray(): Float32Array {
    return this.computed().scales;
  }

  private computed(): PerChannelInt8 {
    this.result ??= quantizePerChannel(initializerToFloat32(this.source), this.source.dims, this.axis);
    return this.result;
  }
}
