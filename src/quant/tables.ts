// The mixed-precision fallback for embedding tables: a table the held-out score cannot afford at
// 8 or 4 bits is stored as float16 (half its float size, ~5e-4 relative rounding, where int8 with
// one scale per hidden channel adds ~1%), each row lookup reading the float16 table and a Cast
// bringing the rows back to float. A short input's pooled vector is little more than a few
// looked-up rows, so this is where short texts lose most (see docs/quantization.md).
import { attr } from "../graph/builder.js";
import { DataType, type Model } from "../graph/ir.js";
import { float16Initializer } from "./float16.js";
import { GraphIndex, NameAllocator, NodeEdits, makeNode, withoutUnusedInitializers } from "./graph-index.js";
import { embeddingTargets } from "./targets.js";

/**
 * `model` with the named embedding tables stored as float16 (so no quantizer sees them as float
 * tables any more). Names that are not row-looked-up float tables are an error: the fallback
 * only asks for tables `embeddingTargets` found.
 */
export function tablesInFloat16(model: Model, tables: ReadonlySet<string>): Model {
  if (tables.size === 0) return model;
  const index = new GraphIndex(model.graph);
  const names = new NameAllocator(index.allNames());
  const edits = new NodeEdits();
  const targets = embeddingTargets(index).filter((t) => tables.has(t.initializer.name));
  const missing = [...tables].filter((name) => !targets.some((t) => t.initializer.name === name));
  if (missing.length > 0) throw new Error(`not embedding tables of this graph: ${missing.join(", ")}`);
  const added = targets.map(({ initializer, readers }) => {
    const half = float16Initializer(initializer, names.fresh(`${initializer.name}_fp16`));
    for (const reader of readers) {
      const rows = reader.outputs[0]!;
      const halfRows = names.fresh(`${rows}_fp16`);
      edits.setInput(reader, 0, half.name);
      edits.setOutput(reader, 0, halfRows);
      edits.insertAfter(reader, makeNode("Cast", names.fresh(`${rows}/Cast_fp32`), [halfRows], [rows], { to: attr.int(DataType.FLOAT) }));
    }
    return half;
  });
  const graph = withoutUnusedInitializers({
    ...model.graph,
    nodes: edits.apply(model.graph.nodes),
    initializers: [...model.graph.initializers, ...added],
  });
  return { ...model, graph };
}
