// File sizes of the smaller formats on the bge-small shape (12 layers, hidden 384, vocab 30522),
// each written next to the FP32 graph of the same weights: FP16 ≤ 0.52×, INT4 (every MatMul
// 4-bit, the word embeddings 4-bit, positions int8) ≤ 0.20×. One fixture for both (writing it
// is most of the time).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BGE_SMALL_SHAPE, syntheticBert } from "../src/fixtures/bert.js";
import { modelFileBytes, writeModel } from "../src/graph/onnx-file.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { convertToFloat16 } from "../src/quant/float16.js";
import { DEFAULT_ACCURACY_LEVEL, quantizeInt4 } from "../src/quant/matmul-nbits.js";
import { syntheticEncoder, tempDir } from "./helpers/index.js";

describe("file sizes on the bge-small shape", () => {
  it("FP16 ≤ 0.52× and INT4 ≤ 0.20× of FP32", async () => {
    const encoder = syntheticEncoder(syntheticBert({ ...BGE_SMALL_SHAPE, seed: 7 }));
    const dir = tempDir();
    const fp32 = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const bytes = async (name: string, model: typeof fp32) => {
      await writeModel(model, join(dir, name));
      return modelFileBytes(join(dir, name)).bytes;
    };
    const full = await bytes("fp32.onnx", fp32);
    const half = (await bytes("fp16.onnx", convertToFloat16(fp32).model)) / full;
    const four = (await bytes("int4.onnx", quantizeInt4(fp32, { accuracyLevel: DEFAULT_ACCURACY_LEVEL }).model)) / full;
    expect(half).toBeLessThanOrEqual(0.52);
    expect(half).toBeGreaterThan(0.45); // float16 is 2 bytes: a much smaller file would be missing weights
    expect(four).toBeLessThanOrEqual(0.2);
    expect(four).toBeGreaterThan(0.125); // 4 bits + a float scale per 32 values
  });
});
