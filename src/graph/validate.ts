// Structural validity of a model before it is written: what the ONNX checker would reject and
// onnxruntime would report less clearly.
import { type Model, BYTES_PER_ELEMENT, byteLength, elementCount } from "./ir.js";
import { irVersionForOpset } from "./opset.js";

export class GraphValidationError extends Error {
  constructor(message: string) {
    super(`invalid ONNX graph: ${message}`);
    this.name = "GraphValidationError";
  }
}

export function validateModel(model: Model): void {
  const { graph } = model;
  const fail = (message: string): never => {
    throw new GraphValidationError(message);
  };
  const defaultOpset = model.opsetImports.find((o) => o.domain === "")?.version ?? fail("no default-domain opset import");
  if (model.irVersion !== irVersionForOpset(defaultOpset)) {
    fail(`IR version ${model.irVersion} does not match opset ${defaultOpset} (needs ${irVersionForOpset(defaultOpset)})`);
  }
  const domains = new Set(model.opsetImports.map((o) => o.domain));
  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (name === "") fail(`${what} has an empty name`);
    if (defined.has(name)) fail(`"${name}" is defined twice (${what})`);
    defined.add(name);
  };
  for (const input of graph.inputs) {
    if (!input.shape) fail(`graph input "${input.name}" has no shape`);
    define(input.name, "graph input");
  }
  for (const init of graph.initializers) {
    const expected = elementCount(init.dims) * (BYTES_PER_ELEMENT[init.dataType] ?? NaN);
    if (byteLength(init.data) !== expected) fail(`initializer "${init.name}" holds ${byteLength(init.data)} bytes, dims need ${expected}`);
    define(init.name, "initializer");
  }
  for (const node of graph.nodes) {
    if (!domains.has(node.domain)) fail(`node "${node.name}" uses domain "${node.domain}" without an opset import`);
    for (const input of node.inputs) {
      if (input !== "" && !defined.has(input)) fail(`node "${node.name}" (${node.opType}) reads "${input}" before it is defined`);
    }
    for (const output of node.outputs) define(output, `output of node "${node.name}"`);
  }
  for (const output of graph.outputs) {
    if (!output.shape) fail(`graph output "${output.name}" has no shape`);
    if (!defined.has(output.name)) fail(`graph output "${output.name}" is never computed`);
  }
}
