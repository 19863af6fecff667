// INT4 weights: every activation × weight MatMul becomes onnxruntime's MatMulNBits (4-bit
// blocks of 32 along K, float32 scales, default zero point; 8-bit blocks for the MatMuls the
// fidelity fallback keeps at higher precision), embedding tables read only by
// Gather become GatherBlockQuantized (4-bit blocks along the hidden axis), the other tables
// (positions read by Slice) int8 as in the INT8 modes. Activations stay float: MatMulNBits
// dequantizes, or at accuracy_level 4 quantizes its input to int8 per block itself.
import { CONTRIB_DOMAIN, attr } from "../graph/builder.js";
import { DataType, type Initializer, type Model } from "../graph/ir.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { expandAttention } from "./attention-expansion.js";
import { makeNode } from "./graph-index.js";
import { BLOCK_SIZE, type Block4, type BlockBits, quantizeMatMulWeight, quantizeTable } from "./int4.js";
import { Int8Rewriter } from "./rewriter.js";
import type { QuantizedModel } from "./static-qdq.js";
import { embeddingTargets, matMulTargets } from "./targets.js";

/** MatMulNBits' accuracy_level: 1 computes in float32, 4 quantizes the activations to int8 per block. */
export type AccuracyLevel = 1 | 4;
export const ACCURACY_LEVELS: readonly AccuracyLevel[] = [1, 4];
/** Chosen by measurement (bench/results/formats.txt): see docs/quantization.md. */
export const DEFAULT_ACCURACY_LEVEL: AccuracyLevel = 4;

export interface Int4Plan {
  accuracyLevel: AccuracyLevel;
  /** MatMul nodes stored at 8 bits instead of 4 (the mixed-precision fidelity fallback). */
  eightBit?: ReadonlySet<string>;
  /** MatMul nodes left in float (the fallback's last rung, when 8 bits are not enough). */
  keepFloat?: ReadonlySet<string>;
  metadata?: Record<string, string>;
}

export function quantizeInt4(original: Model, plan: Int4Plan): QuantizedModel {
  const rewriter = new Int8Rewriter(expandAttention(original));
  const { names, edits, index } = rewriter;
  const quantized: string[] = [];
  const skipped: QuantizedModel["skipped"] = [];
  for (const { node, weight } of matMulTargets(index)) {
    const reason = plan.keepFloat?.has(node.name)
      ? "kept in float for fidelity"
      : !weight
        ? "activation × activation MatMul (attention) left in float"
        : node.opType !== "MatMul"
          ? `${node.opType} is not rewritten to MatMulNBits`
          : undefined;
    if (reason || !weight) {
      skipped.push({ node: node.name, reason: reason ?? "" });
      continue;
    }
    const [k, n] = weight.initializer.dims as [number, number];
    const bits: BlockBits = plan.eightBit?.has(node.name) ? 8 : 4;
    const q = new LazyBlocks(weight.initializer, (values) => quantizeMatMulWeight(values, k, n, bits));
    const blocks = Math.ceil(k / BLOCK_SIZE);
    const blob = (BLOCK_SIZE * bits) / 8;
    const name = weight.initializer.name;
    const packed = rewriter.addInitializer(`${name}_int${bits}`, DataType.UINT8, [n, blocks, blob], q.packedBytes(n * blocks * blob));
    const scales = rewriter.addInitializer(`${name}_int${bits}_scale`, DataType.FLOAT, [n, blocks], q.scaleBytes(n * blocks));
    edits.insertBefore(
      node,
      makeNode(
        "MatMulNBits",
        names.fresh(`${node.name}/MatMulNBits`),
        [node.inputs[0]!, packed, scales],
        [node.outputs[0]!],
        {
          K: attr.int(k),
          N: attr.int(n),
          bits: attr.int(bits),
          block_size: attr.int(BLOCK_SIZE),
          accuracy_level: attr.int(plan.accuracyLevel),
        },
        CONTRIB_DOMAIN,
      ),
    );
    edits.remove(node);
    quantized.push(node.name);
  }
  const gathered = new Set<string>();
  for (const { initializer, readers } of embeddingTargets(index)) {
    const [rows, width] = initializer.dims as [number, number];
    if (width % BLOCK_SIZE !== 0 || !readers.every((r) => r.opType === "Gather")) continue;
    const q = new LazyBlocks(initializer, (values) => quantizeTable(values, rows, width));
    const packed = rewriter.addInitializer(
      `${initializer.name}_int4`,
      DataType.UINT8,
      [rows, width / 2],
      q.packedBytes((rows * width) / 2),
    );
    const scales = rewriter.addInitializer(
      `${initializer.name}_int4_scale`,
      DataType.FLOAT,
      [rows, width / BLOCK_SIZE],
      q.scaleBytes((rows * width) / BLOCK_SIZE),
    );
    for (const reader of readers) {
      edits.insertBefore(
        reader,
        makeNode(
          "GatherBlockQuantized",
          names.fresh(`${reader.name}/GatherBlockQuantized`),
          [packed, reader.inputs[1]!, scales],
          [reader.outputs[0]!],
          {
            bits: attr.int(4),
            block_size: attr.int(BLOCK_SIZE),
            gather_axis: attr.int(0),
            quantize_axis: attr.int(1),
          },
          CONTRIB_DOMAIN,
        ),
      );
      edits.remove(reader);
    }
    gathered.add(initializer.name);
  }
  rewriter.quantizeEmbeddingTables((target) => !gathered.has(target.initializer.name));
  const model = rewriter.finish({
    quantization: "int4_matmulnbits",
    int4_block_size: String(BLOCK_SIZE),
    int4_accuracy_level: String(plan.accuracyLevel),
    ...plan.metadata,
  });
  // The portable graph imports no contrib domain of its own.
  const opsetImports = model.opsetImports.some((o) => o.domain === CONTRIB_DOMAIN)
    ? model.opsetImports
    : [...model.opsetImports, { domain: CONTRIB_DOMAIN, version: 1 }];
  return { model: { ...model, opsetImports }, quantized, skipped };
}

/** 4-bit blocks of one initializer, computed on first use and kept (the model is written more than once). */
class LazyBlocks {
  private result?: Block4;

  constructor(
    private readonly source: Initializer,
    private readonly quantize: (values: Float32Array) => Block4,
  ) {}

  packedBytes(length: number) {
    return { kind: "lazy" as const, length, read: () => this.computed().packed };
  }

  scaleBytes(count: number) {
    return {
      kind: "lazy" as const,
      length: count * 4,
      read: () => {
        const { scales } = this.computed();
        return new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
      },
    };
  }

  private computed(): Block4 {
    this.result ??= this.quantize(initializerToFloat32(this.source));
    return this.result;
  }
}
