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
import { lazyBytes, makeNode } from "./graph-index.js";
import { BLOCK_SIZE, type BlockBits, type BlockFormat, blockFormat, quantizeTable } from "./int4.js";
import { type Int4Method, type Int4Weight, quantizeWeightWith, usesInputScale } from "./int4-methods.js";
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
  /** How MatMul weights become blocks (default ROUND_TO_NEAREST). */
  weights?: Int4Weights;
}

/** The block layout of MatMul weights and the method that fills it. */
export interface Int4WeightSettings {
  method: Int4Method;
  blockSize: number;
  symmetric: boolean;
}

/** What needs no calibration: round-to-nearest, symmetric blocks of 32 (quantizeInt4 without `weights`). */
export const ROUND_TO_NEAREST: Int4WeightSettings = { method: "rtn", blockSize: BLOCK_SIZE, symmetric: true };

/** GPTQ, symmetric blocks of 32: chosen by measurement (bench/results/int4-methods.txt). */
export const DEFAULT_INT4_WEIGHTS: Int4WeightSettings = { method: "gptq", blockSize: BLOCK_SIZE, symmetric: true };

/**
 * MatMul weights quantized by one method, each computed once (the fallback rewrites the model
 * several times) from the calibration Gram matrices of the MatMul inputs (by input name).
 */
export class Int4Weights {
  private readonly done = new Map<string, Int4Weight>();

  constructor(
    readonly settings: Int4WeightSettings = ROUND_TO_NEAREST,
    private readonly grams: ReadonlyMap<string, Float32Array> = new Map(),
  ) {}

  format(bits: BlockBits): BlockFormat {
    return blockFormat(bits, this.settings.blockSize, this.settings.symmetric);
  }

  quantized(input: string, weight: Initializer, bits: BlockBits): Int4Weight {
    const key = `${weight.name}|${bits}`;
    let result = this.done.get(key);
    if (!result) {
      const [k, n] = weight.dims as [number, number];
      const gram = this.grams.get(input);
      result = quantizeWeightWith(this.settings.method, initializerToFloat32(weight), k, n, this.format(bits), gram);
      this.done.set(key, result);
    }
    return result;
  }
}

export function quantizeInt4(original: Model, plan: Int4Plan): QuantizedModel {
  const rewriter = new Int8Rewriter(expandAttention(original));
  const { names, edits, index } = rewriter;
  const quantized: string[] = [];
  const skipped: QuantizedModel["skipped"] = [];
  const weights = plan.weights ?? new Int4Weights();
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
    const format = weights.format(bits);
    const input = node.inputs[0]!;
    const q = () => weights.quantized(input, weight.initializer, bits);
    const blocks = Math.ceil(k / format.blockSize);
    const blob = (format.blockSize * bits) / 8;
    const name = weight.initializer.name;
    const packed = rewriter.addInitializer(`${name}_int${bits}`, DataType.UINT8, [n, blocks, blob], {
      kind: "lazy",
      length: n * blocks * blob,
      read: () => q().blocks.packed,
    });
    const scales = rewriter.addInitializer(
      `${name}_int${bits}_scale`,
      DataType.FLOAT,
      [n, blocks],
      lazyBytes(n * blocks * 4, () => q().blocks.scales),
    );
    const zeroBytes = Math.ceil((blocks * bits) / 8);
    const zeroPoints = format.symmetric
      ? []
      : [
          rewriter.addInitializer(`${name}_int${bits}_zero_point`, DataType.UINT8, [n * zeroBytes], {
            kind: "lazy",
            length: n * zeroBytes,
            read: () => q().blocks.zeroPoints!,
          }),
        ];
    let activation = input;
    if (usesInputScale(weights.settings.method)) {
      // AWQ: x·W = (x / s)·(sW); the reciprocal is multiplied in.
      const reciprocal = rewriter.addInitializer(
        `${name}_input_scale`,
        DataType.FLOAT,
        [k],
        lazyBytes(k * 4, () => q().inputScale!.map((s) => 1 / s)),
      );
      activation = names.fresh(`${input}_awq_scaled`);
      edits.insertBefore(node, makeNode("Mul", names.fresh(`${node.name}/AwqInputScale`), [input, reciprocal], [activation]));
    }
    edits.insertBefore(
      node,
      makeNode(
        "MatMulNBits",
        names.fresh(`${node.name}/MatMulNBits`),
        [activation, packed, scales, ...zeroPoints],
        [node.outputs[0]!],
        {
          K: attr.int(k),
          N: attr.int(n),
          bits: attr.int(bits),
          block_size: attr.int(format.blockSize),
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
    const q = once(() => quantizeTable(initializerToFloat32(initializer), rows, width));
    const packed = rewriter.addInitializer(`${initializer.name}_int4`, DataType.UINT8, [rows, width / 2], {
      kind: "lazy",
      length: (rows * width) / 2,
      read: () => q().packed,
    });
    const scales = rewriter.addInitializer(
      `${initializer.name}_int4_scale`,
      DataType.FLOAT,
      [rows, width / BLOCK_SIZE],
      lazyBytes((rows * width * 4) / BLOCK_SIZE, () => q().scales),
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
    int4_method: weights.settings.method,
    int4_block_size: String(weights.settings.blockSize),
    int4_symmetric: String(weights.settings.symmetric),
    int4_accuracy_level: String(plan.accuracyLevel),
    ...plan.metadata,
  });
  // The portable graph imports no contrib domain of its own.
  const opsetImports = model.opsetImports.some((o) => o.domain === CONTRIB_DOMAIN)
    ? model.opsetImports
    : [...model.opsetImports, { domain: CONTRIB_DOMAIN, version: 1 }];
  return { model: { ...model, opsetImports }, quantized, skipped };
}

/** `compute` run on first call and kept (the model is written more than once). */
function once<T>(compute: () => T): () => T {
  let result: { value: T } | undefined;
  return () => (result ??= { value: compute() }).value;
}
