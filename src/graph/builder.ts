// A small typed graph builder: unique names, scoped node names, initializers, graph I/O.
// It records; it does not optimize. Op-specific helpers live in ops.ts.
import {
  type Attribute,
  DataType,
  type Dim,
  type Graph,
  type Initializer,
  type Model,
  type Node,
  type TensorBytes,
  type ValueInfo,
  byteLength,
  elementCount,
  BYTES_PER_ELEMENT,
} from "./ir.js";
import { irVersionForOpset } from "./opset.js";

/** A tensor in the graph under construction, referred to by its unique name. */
export type Value = string;

export const CONTRIB_DOMAIN = "com.microsoft";

export const attr = {
  int: (value: number): Attribute => ({ kind: "int", value }),
  float: (value: number): Attribute => ({ kind: "float", value }),
  string: (value: string): Attribute => ({ kind: "string", value }),
  ints: (value: number[]): Attribute => ({ kind: "ints", value }),
  floats: (value: number[]): Attribute => ({ kind: "floats", value }),
};

export interface NodeOptions {
  domain?: string;
  /** Number of outputs (default 1). */
  outputs?: number;
  /** Explicit output names, e.g. a graph output. */
  outputNames?: string[];
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly valueInfo: ValueInfo[] = [];
  private readonly taken = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly domains = new Set<string>();
  private counter = 0;

  constructor(
    /** Opset of the default ONNX domain. */
    readonly opset: number,
    readonly graphName = "main",
  ) {}

  /** Runs `body` with node and value names prefixed by `name` (e.g. "layer.3/attention"). */
  scope<T>(name: string, body: () => T): T {
    this.scopes.push(name);
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  input(name: string, elemType: DataType, shape: Dim[]): Value {
    this.claim(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  /** Declares `value` as a graph output named `name` (an Identity renames it when needed). */
  output(value: Value, name: string, elemType: DataType, shape: Dim[]): void {
    if (value !== name) this.node("Identity", [value], {}, { outputNames: [name] });
    this.outputs.push({ name, elemType, shape });
  }

  /** Adds a shape/type annotation for an intermediate value. */
  annotate(name: Value, elemType: DataType, shape?: Dim[]): void {
    this.valueInfo.push(shape ? { name, elemType, shape } : { name, elemType });
  }

  initializer(hint: string, dataType: DataType, dims: number[], data: TensorBytes): Value {
    const expected = elementCount(dims) * (BYTES_PER_ELEMENT[dataType] ?? NaN);
    if (byteLength(data) !== expected) {
      throw new Error(`initializer ${hint}: ${byteLength(data)} bytes for dims [${dims}] (expected ${expected})`);
    }
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims, data });
    return name;
  }

  constFloat(values: ArrayLike<number>, dims: number[] = [values.length], hint = "const"): Value {
    const array = Float32Array.from(values);
    return this.initializer(hint, DataType.FLOAT, dims, { kind: "bytes", bytes: new Uint8Array(array.buffer) });
  }

  constInt64(values: ArrayLike<number>, dims: number[] = [values.length], hint = "const"): Value {
    const array = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    return this.initializer(hint, DataType.INT64, dims, { kind: "bytes", bytes: new Uint8Array(array.buffer) });
  }

  /** Appends a node and returns its output names. */
  node(opType: string, inputs: Value[], attributes: Record<string, Attribute> = {}, options: NodeOptions = {}): Value[] {
    const domain = options.domain ?? "";
    if (domain !== "") this.domains.add(domain);
    const name = this.fresh(opType);
    const outputs =
      options.outputNames?.map((n) => this.claim(n)) ??
      Array.from({ length: options.outputs ?? 1 }, (_, i) => this.fresh(`${opType}_out${i}`));
    this.nodes.push({ opType, domain, name, inputs, outputs, attributes });
    return outputs;
  }

  /** A single-output node. */
  op(opType: string, inputs: Value[], attributes: Record<string, Attribute> = {}, domain = ""): Value {
    return this.node(opType, inputs, attributes, { domain })[0]!;
  }

  build(metadata: Record<string, string>, producerVersion: string): Model {
    const graph: Graph = {
      name: this.graphName,
      nodes: [...this.nodes],
      initializers: [...this.initializers],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      valueInfo: [...this.valueInfo],
    };
    return {
      irVersion: irVersionForOpset(this.opset),
      opsetImports: [{ domain: "", version: this.opset }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      producerName: "@jazzmine/embedding",
      producerVersion,
      metadata: { ...metadata },
      graph,
    };
  }

  private fresh(hint: string): string {
    const base = [...this.scopes, hint].join("/");
    let name = base;
    while (this.taken.has(name)) name = `${base}_${++this.counter}`;
    return this.claim(name);
  }

  private claim(name: string): string {
    if (this.taken.has(name)) throw new Error(`graph value name "${name}" is used twice`);
    this.taken.add(name);
    return name;
  }
}
