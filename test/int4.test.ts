// INT4 (--mode int4): the block arithmetic on hand-computed values, the MatMulNBits /
// GatherBlockQuantized graph against the same graph with its weights dequantized in TypeScript
// (exact at accuracy_level 1) and against the reference forward (stated cosine), the 8-bit
// mixed-precision fallback, and the export end to end.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import type { Initializer, Model } from "../src/graph/ir.js";
import { initializerToFloat32 } from "../src/graph/onnx-reader.js";
import { validateModel } from "../src/graph/validate.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { expandAttention } from "../src/quant/attention-expansion.js";
import { cosine } from "../src/quant/fidelity.js";
import { GraphIndex } from "../src/quant/graph-index.js";
import {
  BLOCK_SIZE,
  blockFormat,
  codeAt,
  dequantizeCode,
  dequantizeMatMulWeight,
  quantizeBlocks,
  quantizeMatMulWeight,
  quantizeTable,
} from "../src/quant/int4.js";
import { quantizePerChannel } from "../src/quant/int8.js";
import { Int4Weights, quantizeInt4 } from "../src/quant/matmul-nbits.js";
import { int4MatMulInputs } from "../src/quant/int4-calibration.js";
import { type QuantizationReport, REPORT_FILE } from "../src/quant/report.js";
import { embeddingTargets, matMulTargets } from "../src/quant/targets.js";
import { Embedder } from "../src/runtime/embedder.js";
import { VARIANTS } from "./helpers/architectures.js";
import { modelFolder, runCli, runInProcess, syntheticEncoder, tempDir } from "./helpers/index.js";

const OFFLINE = { HF_HUB_OFFLINE: "1" };

describe("block quantization (MatMulNBits / GatherBlockQuantized layout)", () => {
  it("4 bits: scale = extreme / −8, code = round(x / scale) + 8 clamped to 0…15, low nibble first, short blocks padded with code 8", () => {
    // One row of 34 values: block 0 holds −4 (the extreme: code 0), 2 (2 / 0.5 + 8 = 12), 4 (16, clamped to 15), zeros (8); block 1 holds 1, −0.5.
    const row = [-4, 2, 4, ...new Array(29).fill(0), 1, -0.5];
    const q = quantizeBlocks(1, 34, (_, i) => row[i]!);
    expect(Array.from(q.scales)).toEqual([0.5, -0.125]);
    expect(q.packed.length).toBe(32); // two blocks of 16 bytes
    expect(q.packed[0]).toBe(0 | (12 << 4));
    expect(q.packed[1]).toBe(15 | (8 << 4));
    // Block 1: 1 / −0.125 = −8 → code 0; −0.5 → 4 + 8 = 12; then padding (8, 8).
    expect(q.packed[16]).toBe(0 | (12 << 4));
    expect(q.packed[17]).toBe(8 | (8 << 4));
    expect(dequantizeCode(codeAt(q, 34, 0, 2), q.scales[0]!)).toBe(3.5); // 4 saturates at 7 × 0.5
  });

  it("8 bits: scale = extreme / −128, one code per byte, zero point 128", () => {
    const q = quantizeBlocks(1, 32, (_, i) => (i === 0 ? 2.56 : i === 1 ? -1.28 : 0), blockFormat(8));
    expect(q.scales[0]).toBeCloseTo(-0.02, 7);
    expect(Array.from(q.packed.slice(0, 3))).toEqual([0, 192, 128]);
    expect(dequantizeCode(codeAt(q, 32, 0, 1), q.scales[0]!, 8)).toBeCloseTo(-1.28, 6);
  });

  it("a [K, N] weight is blocked along K per output column; a table along each row", () => {
    const k = 64;
    const n = 3;
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i));
    const q = quantizeMatMulWeight(w, k, n);
    for (const [row, column] of [
      [0, 0],
      [33, 2],
      [63, 1],
    ] as const) {
      const scale = q.scales[column * (k / BLOCK_SIZE) + Math.floor(row / BLOCK_SIZE)]!;
      expect(Math.abs(dequantizeCode(codeAt(q, k, column, row), scale) - w[row * n + column]!)).toBeLessThanOrEqual(
        Math.abs(scale) / 2 + 1e-7,
      );
    }
    const t = quantizeTable(w, n, k);
    expect(t.scales.length).toBe(n * (k / BLOCK_SIZE));
  });
});

/**
 * The float graph `quantizeInt4` rewrites, with every weight it quantizes replaced by its
 * dequantized values (TypeScript): what MatMulNBits and GatherBlockQuantized must compute.
 */
function dequantizedGraph(fp32: Model, eightBit: ReadonlySet<string> = new Set(), weights = new Int4Weights()): Model {
  const model = expandAttention(fp32);
  const index = new GraphIndex(model.graph);
  const replaced = new Map<string, Float32Array>();
  for (const { node, weight } of matMulTargets(index)) {
    if (!weight || node.opType !== "MatMul") continue;
    const [k, n] = weight.initializer.dims as [number, number];
    const q = weights.quantized(node.inputs[0]!, weight.initializer, eightBit.has(node.name) ? 8 : 4);
    // AWQ: the graph computes (x / s)·Q(sW), i.e. x·(Q(sW) / s).
    const restored = dequantizeMatMulWeight(q.blocks, k, n).map((x, i) => x / (q.inputScale?.[Math.floor(i / n)] ?? 1));
    replaced.set(weight.initializer.name, restored);
  }
  for (const { initializer, readers } of embeddingTargets(index)) {
    const [rows, width] = initializer.dims as [number, number];
    const values = initializerToFloat32(initializer);
    if (width % BLOCK_SIZE === 0 && readers.every((r) => r.opType === "Gather")) {
      const q = quantizeTable(values, rows, width);
      replaced.set(
        initializer.name,
        Float32Array.from(values, (_, i) =>
          dequantizeCode(codeAt(q, width, Math.floor(i / width), i % width), q.scales[Math.floor(i / BLOCK_SIZE)]!),
        ),
      );
    } else {
      const q = quantizePerChannel(values, initializer.dims, 1);
      replaced.set(
        initializer.name,
        Float32Array.from(q.values, (v, i) => v * q.scales[i % width]!),
      );
    }
  }
  const initializers = model.graph.initializers.map((init): Initializer => {
    const values = replaced.get(init.name);
    return values ? { ...init, data: { kind: "bytes", bytes: new Uint8Array(values.buffer) } } : init;
  });
  return { ...model, graph: { ...model.graph, initializers } };
}

describe("the INT4 graph", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 71, layers: 2, hidden: 64, heads: 4, intermediate: 128, vocab: 2000 }));
  const batches = [
    randomBatch(encoder.config, { batch: 3, sequence: 10, seed: 8 }),
    randomBatch(encoder.config, { batch: 1, sequence: 1 }),
  ];

  it("equals the float graph with the TypeScript-dequantized weights (accuracy_level 1: 1e-4; level 4 quantizes activations: 3e-2), both variants, padded batches", async () => {
    for (const variant of VARIANTS) {
      const fp32 = buildEncoderGraph(encoder, { opset: 17, variant });
      const expected = dequantizedGraph(fp32);
      for (const [level, tolerance] of [
        [1, 1e-4],
        [4, 3e-2],
      ] as const) {
        const { model, quantized } = quantizeInt4(fp32, { accuracyLevel: level });
        validateModel(model);
        expect(model.graph.nodes.filter((n) => n.opType === "MatMulNBits").length).toBe(quantized.length);
        expect(model.graph.nodes.filter((n) => n.opType === "GatherBlockQuantized").length).toBe(1); // the word embeddings
        for (const batch of batches) {
          const [got, want] = await Promise.all([runInProcess(model, batch), runInProcess(expected, batch)]);
          for (const output of ["lastHiddenState", "poolerOutput"] as const) {
            expect(
              relativeMaxError(got[output], want[output]),
              `${variant} level ${level} ${output} ${batch.batch}x${batch.sequence}`,
            ).toBeLessThanOrEqual(tolerance);
          }
        }
      }
    }
  });

  it("every method and block layout (AWQ's input scale, asymmetric zero points, blocks of 64) equals the float graph with the TypeScript-dequantized weights", async () => {
    const fp32 = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const expanded = expandAttention(fp32);
    // Gram matrices with one loud channel per input, so that AWQ's scales are not all 1.
    const grams = new Map(
      [...int4MatMulInputs(expanded)].map(([input, k]) => [
        input,
        Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? (i === 3 * (k + 1) ? 400 : 1 + (i % 7)) : 0)),
      ]),
    );
    for (const settings of [
      { method: "awq", blockSize: 32, symmetric: true },
      { method: "gptq", blockSize: 32, symmetric: false },
      { method: "awq+gptq", blockSize: 64, symmetric: false },
    ] as const) {
      const weights = new Int4Weights(settings, grams);
      const { model } = quantizeInt4(fp32, { accuracyLevel: 1, weights });
      validateModel(model);
      expect(model.graph.nodes.filter((n) => n.opType === "Mul" && n.name.endsWith("AwqInputScale")).length > 0).toBe(
        settings.method !== "gptq",
      );
      const expected = dequantizedGraph(fp32, new Set(), weights);
      const batch = batches[0]!;
      const [got, want] = await Promise.all([runInProcess(model, batch), runInProcess(expected, batch)]);
      expect(relativeMaxError(got.lastHiddenState, want.lastHiddenState), JSON.stringify(settings)).toBeLessThanOrEqual(1e-4);
    }
  });

  it("stays near the FP32 reference forward (pooled cosine ≥ 0.98 on this 2-layer model), and the 8-bit fallback is nearer", async () => {
    const fp32 = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const four = quantizeInt4(fp32, { accuracyLevel: 4 });
    const names = four.quantized;
    const mixed = quantizeInt4(fp32, { accuracyLevel: 4, eightBit: new Set(names) });
    expect(mixed.model.graph.nodes.filter((n) => n.opType === "MatMulNBits").map((n) => n.attributes.bits)).toEqual(
      names.map(() => ({ kind: "int", value: 8 })),
    );
    const batch = batches[0]!;
    const reference = referenceForward(encoder, batch).poolerOutput;
    const hidden = encoder.config.hiddenSize;
    const worst = async (model: Model) => {
      const pooled = (await runInProcess(model, batch)).poolerOutput;
      return Math.min(
        ...Array.from({ length: batch.batch }, (_, r) =>
          cosine(pooled.slice(r * hidden, (r + 1) * hidden), reference.slice(r * hidden, (r + 1) * hidden)),
        ),
      );
    };
    const [int4, eight] = [await worst(four.model), await worst(mixed.model)];
    expect(int4).toBeGreaterThanOrEqual(0.98);
    expect(int4).toBeLessThan(0.99999); // 4-bit weights do change the output
    expect(eight).toBeGreaterThan(int4);
  });
});

describe("export --mode int4", () => {
  it("writes <slug>_int4.onnx with the fidelity report; the fallback keeps MatMuls at 8 bits; the Embedder loads it", async () => {
    const dir = modelFolder(syntheticBert({ seed: 72, vocab: BUNDLED_VOCAB_SIZE }), {}, "four");
    const out = tempDir();
    const calibration = join(tempDir(), "texts.txt");
    writeFileSync(calibration, Array.from({ length: 20 }, (_, i) => `held back text ${i}`).join("\n"));
    const run = await runCli(
      [
        "export",
        dir,
        "--output",
        out,
        "--mode",
        "int4",
        "--int4-method",
        "rtn",
        "--calibration",
        calibration,
        "--fidelity-threshold",
        "0.995",
        "--quiet",
      ],
      { env: OFFLINE },
    );
    expect(run.code, run.stderr).toBe(0);
    const path = run.stdout.trim().split("\n").at(-1)!;
    expect(path).toBe(join(out, "four_int4.onnx"));
    const report = JSON.parse(readFileSync(join(out, REPORT_FILE), "utf8")) as QuantizationReport;
    expect(report.mode).toBe("int4");
    expect(report.settings.weights).toMatch(/4-bit.*MatMulNBits, accuracy_level 4/);
    // 0.995 is beyond round-to-nearest 4-bit weights here (0.982): the fallback kept parts at higher precision until it held.
    expect(report.settings.int4Method).toMatch(/^rtn:/);
    const { keptAt8Bits, keptInFloat, tablesInFloat16, floatActivations } = report.fallback;
    expect(keptAt8Bits!.length + keptInFloat.length + tablesInFloat16.length + Number(floatActivations)).toBeGreaterThan(0);
    expect(report.fidelity.worstCosine).toBeGreaterThanOrEqual(0.995);
    expect(report.sizes.quantizedBytes).toBeLessThan(report.sizes.fp32Bytes * 0.5);
    const embedder = await Embedder.load(out);
    try {
      const [vector] = await embedder.embed(["four bits"]);
      expect(vector!.length).toBe(32);
    } finally {
      await embedder.close();
    }
    const service = new EmbeddingService(dir, { logger: silentLogger });
    await expect(service.exportOnnxModel(tempDir(), { mode: "int4", accuracyLevel: 2 as 1 })).rejects.toThrow(
      /accuracyLevel must be one of 1, 4/,
    );
    const usage = await runCli(["export", dir, "--output", tempDir(), "--mode", "int4", "--int4-method", "hqq"], { env: OFFLINE });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--int4-method must be one of rtn, awq, gptq, awq\+gptq, not hqq/);

    // The default method (GPTQ on the calibration Hessians) on the same weights at the default
    // threshold: every MatMul at 4 bits, nearer FP32 than round-to-nearest's first attempt.
    const gptqOut = tempDir();
    await service.exportOnnxModel(gptqOut, { mode: "int4", calibrationFile: calibration });
    const gptq = JSON.parse(readFileSync(join(gptqOut, REPORT_FILE), "utf8")) as QuantizationReport;
    expect(gptq.settings.int4Method).toMatch(/^gptq:/);
    expect(gptq.fallback.keptInFloat).toEqual([]);
    expect(gptq.fidelity.worstCosine).toBeGreaterThanOrEqual(0.98);
    expect(gptq.fallback.attempts[0]!.worstCosine).toBeGreaterThan(report.fallback.attempts[0]!.worstCosine);
  });
});
