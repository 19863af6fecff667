// Read-only lookups over an IR graph that every quantization pass needs: who produces and who
// consumes each value, which values are float initializers (weights), and fresh unique names.
import { DataType, type Graph, type Initializer, type Node, type TensorBytes } from "../graph/ir.js";

export interface Use {
  node: Node;
  /** Input slot of `node` that reads the value. */
  slot: number;
}

export class GraphIndex {
  readonly initializers = new Map<string, Initializer>();
  readonly producers = new Map<string, Node>();
  readonly consumers = new Map<string, Use[]>();
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: Graph) {
    for (const init of graph.initializers) this.initializers.set(init.name, init);
    for (const node of graph.nodes) {
      for (const output of node.outputs) this.producers.set(output, node);
      node.inputs.forEach((input, slot) => {
        if (input === "") return;
        let uses = this.consumers.get(input);
        if (!uses) this.consumers.set(input, (uses = []));
        uses.push({ node, slot });
      });
    }
    this.graphOutputs = new Set(graph.outputs.map((o) => o.name));
  }

  usesOf(value: string): Use[] {
    return this.consumers.get(value) ?? [];
  }

  /** A float32 initializer: a weight the quantizer may store as int8. */
  floatInitializer(value: string): Initializer | undefined {
    const init = this.initializers.get(value);
    return init?.dataType === DataType.FLOAT ? init : undefined;
  }

  /** Every name in the graph (values, initializers, nodes), for allocating fresh ones. */
  allNames(): Set<string> {
    const names = new Set<string>([...this.initializers.keys(), ...this.producers.keys(), ...this.graph.inputs.map((i) => i.name)]);
    for (const node of this.graph.nodes) names.add(node.name);
    return names;
  }
}

/** Unique names derived from hints, never colliding with the graph's or each other. */
export class NameAllocator {
  private readonly taken: Set<string>;

  constructor(taken: Iterable<string>) {
    this.taken = new Set(taken);
  }

  fresh(hint: string): string {
    let name = hint;
    for (let n = 1; this.taken.has(name); n++) name = `${hint}_${n}`;
    this.taken.add(name);
    return name;
  }
}

/** Initializers no node reads any more (after a rewrite replaced them) are dropped. */
export function withoutUnusedInitializers(graph: Graph): Graph {
  const read = new Set<string>();
  for (const node of graph.nodes) for (const input of node.inputs) read.add(input);
  for (const output of graph.outputs) read.add(output.name);
  return { ...graph, initializers: graph.initializers.filter((init) => read.has(init.name)) };
}

/**
 * Edits to a node list that leave the original nodes untouched (a model is rewritten several
 * times with different settings): new nodes go right before the node that first needs them,
 * and a node's inputs are changed on a copy.
 */
export class NodeEdits {
  private readonly before = new Map<Node, Node[]>();
  private readonly after = new Map<Node, Node[]>();
  private readonly inputs = new Map<Node, string[]>();
  private readonly outputs = new Map<Node, string[]>();
  private readonly removed = new Set<Node>();

  insertBefore(anchor: Node, ...nodes: Node[]): void {
    const list = this.before.get(anchor);
    if (list) list.push(...nodes);
    else this.before.set(anchor, [...nodes]);
  }

  insertAfter(anchor: Node, ...nodes: Node[]): void {
    const list = this.after.get(anchor);
    if (list) list.push(...nodes);
    else this.after.set(anchor, [...nodes]);
  }

  setInput(node: Node, slot: number, value: string): void {
    let inputs = this.inputs.get(node);
    if (!inputs) this.inputs.set(node, (inputs = [...node.inputs]));
    inputs[slot] = value;
  }

  /** `node`'s inputs with the edits so far. */
  inputsOf(node: Node): readonly string[] {
    return this.inputs.get(node) ?? node.inputs;
  }

  setOutput(node: Node, slot: number, value: string): void {
    let outputs = this.outputs.get(node);
    if (!outputs) this.outputs.set(node, (outputs = [...node.outputs]));
    outputs[slot] = value;
  }

  /** Drops `node` (its replacement was inserted before it). */
  remove(node: Node): void {
    this.removed.add(node);
  }

  apply(nodes: readonly Node[]): Node[] {
    return nodes.flatMap((node) => {
      const inputs = this.inputs.get(node);
      const outputs = this.outputs.get(node);
      const edited = inputs || outputs ? { ...node, inputs: inputs ?? node.inputs, outputs: outputs ?? node.outputs } : node;
      return [...(this.before.get(node) ?? []), ...(this.removed.has(node) ? [] : [edited]), ...(this.after.get(node) ?? [])];
    });
  }
}

export function makeNode(
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attributes: Node["attributes"] = {},
  domain = "",
): Node {
  return { opType, domain, name, inputs, outputs, attributes };
}

/** Initializer bytes computed when the writer reaches them (one tensor alive at a time). */
export function lazyBytes(length: number, compute: () => Float32Array | Int32Array | Int8Array): TensorBytes {
  return {
    kind: "lazy",
    length,
    read: () => {
      const values = compute();
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    },
  };
}
