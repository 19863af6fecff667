// FP16 (--dtype fp16): the converted graph against the FP32 reference forward within
// FP16_TOLERANCE (both variants, decomposed LayerNorm below opset 17, padded batches), what stays
// float32 (LayerNorm, Softmax, mask, pooled outputs, I/O) and the export end to end (the file
// size on the bge-small shape: format-sizes.test.ts).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { FP16_TOLERANCE } from "../src/export/float16-export.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { DataType, type Model } from "../src/graph/ir.js";
import { readModel } from "../src/graph/onnx-file.js";
import { validateModel } from "../src/graph/validate.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import type { SentencePooling } from "../src/heads/pooling.js";
import { cosine } from "../src/quant/fidelity.js";
import { convertToFloat16 } from "../src/quant/float16.js";
import { Embedder } from "../src/runtime/embedder.js";
import { VARIANTS } from "./helpers/architectures.js";
import { modelFolder, runInProcess, syntheticEncoder, tempDir } from "./helpers/index.js";

/** The element type every value of a converted graph has, from initializers, inputs and Casts (what the converter decides). */
function floatTypes(model: Model): Map<string, DataType> {
  const types = new Map<string, DataType>();
  for (const i of model.graph.initializers) types.set(i.name, i.dataType);
  for (const i of model.graph.inputs) types.set(i.name, i.elemType);
  return types;
}

describe("the FP16 graph against the FP32 reference forward", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 61, layers: 4, hidden: 64, heads: 4, intermediate: 256 }));
  const batches = [
    randomBatch(encoder.config, { batch: 4, sequence: 11, seed: 6 }),
    randomBatch(encoder.config, { batch: 1, sequence: 1 }),
  ];
  const sentence: SentencePooling = { pooling: "mean", normalize: true };

  for (const opset of [17, 14]) {
    it(`both variants at opset ${opset}${opset < 17 ? " (LayerNorm decomposed)" : ""}, padded batches, within ${FP16_TOLERANCE}`, async () => {
      for (const variant of VARIANTS) {
        const fp32 = buildEncoderGraph(encoder, { opset, variant, sentenceEmbedding: sentence });
        const { model, float16Nodes } = convertToFloat16(fp32);
        validateModel(model);
        expect(float16Nodes).toBeGreaterThan(10);
        // Inputs and outputs keep their types.
        expect(model.graph.inputs).toEqual(fp32.graph.inputs);
        expect(model.graph.outputs).toEqual(fp32.graph.outputs);
        const types = floatTypes(model);
        for (const node of model.graph.nodes) {
          // LayerNorm's parameters and the reductions' inputs stay float32; MatMul weights are float16.
          if (node.opType === "LayerNormalization")
            expect(node.inputs.slice(1).map((i) => types.get(i))).toEqual([DataType.FLOAT, DataType.FLOAT]);
          if (node.opType === "MatMul" && types.get(node.inputs[1]!) !== undefined && node.outputs[0]!.includes("layer")) {
            expect(types.get(node.inputs[1]!), node.name).toBe(DataType.FLOAT16);
          }
        }
        for (const batch of batches) {
          const expected = referenceForward(encoder, batch, sentence);
          const actual = await runInProcess(model, batch);
          for (const output of ["lastHiddenState", "poolerOutput", "sentenceEmbedding"] as const) {
            const error = relativeMaxError(actual[output]!, expected[output]!);
            expect(error, `${output} ${variant} ${batch.batch}x${batch.sequence}`).toBeLessThanOrEqual(FP16_TOLERANCE);
            // Not float32 any more: fp16 rounding shows (the test would pass an unconverted graph otherwise).
            if (output === "lastHiddenState") expect(error).toBeGreaterThan(1e-5);
          }
        }
      }
    });
  }

  it("keeps Softmax, the additive mask and the pooled outputs in float32", () => {
    const fp32 = buildEncoderGraph(encoder, { opset: 17, variant: "portable", sentenceEmbedding: sentence });
    const { model } = convertToFloat16(fp32);
    const produced = new Map(model.graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
    // A Softmax reads float32 (its input is not a Cast to float16, nor a float16 node's output).
    for (const softmax of model.graph.nodes.filter((n) => n.opType === "Softmax")) {
      const producer = produced.get(softmax.inputs[0]!)!;
      expect(producer.opType === "Cast" ? producer.attributes.to : { kind: "int", value: DataType.FLOAT }).toEqual({
        kind: "int",
        value: DataType.FLOAT,
      });
    }
    // No float16 constant holds float32's lowest (it would be −Infinity).
    for (const init of model.graph.initializers.filter((i) => i.dataType === DataType.FLOAT16 && i.dims.length === 0)) {
      expect(init.name).not.toMatch(/mask/);
    }
  });
});

describe("FP16 export", () => {
  it("exports <slug>_fp16.onnx verified, without the FP32 intermediate; the Embedder's vectors stay close to FP32's", async () => {
    const dir = modelFolder(
      syntheticBert({ seed: 62, vocab: BUNDLED_VOCAB_SIZE }),
      { sentence: { pooling: "cls", normalize: true } },
      "half",
    );
    const out = tempDir();
    const service = new EmbeddingService(dir, { logger: silentLogger });
    const path = await service.exportOnnxModel(out, { dtype: "fp16", sentenceEmbedding: true });
    expect(path).toBe(join(out, "half_fp16.onnx"));
    expect(readdirSync(out).filter((f) => f.endsWith(".onnx"))).toEqual(["half_fp16.onnx"]);
    expect((await readModel(path)).metadata.precision).toBe("fp16");
    const fp32Dir = tempDir();
    await service.exportOnnxModel(fp32Dir, { quantized: false, sentenceEmbedding: true });
    expect(statSync(path).size / statSync(join(fp32Dir, "half_fp32.onnx")).size).toBeLessThan(0.6);
    const texts = ["half precision", "a longer sentence with several more tokens in it", ""];
    const [half, full] = await Promise.all([Embedder.load(out), Embedder.load(fp32Dir)]);
    try {
      const [a, b] = await Promise.all([half.embed(texts), full.embed(texts)]);
      for (const [i, v] of a.entries()) expect(cosine(v, b[i]!)).toBeGreaterThan(0.999);
    } finally {
      await Promise.all([half.close(), full.close()]);
    }
    await expect(service.exportOnnxModel(tempDir(), { dtype: "fp16", quantized: true })).rejects.toThrow(/does not combine with INT8/);
    expect(existsSync(join(out, "half_fp32.onnx"))).toBe(false);
  });
});
