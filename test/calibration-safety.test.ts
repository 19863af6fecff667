// Calibration that calibrates nothing is an error: a model whose activations are all non-finite
// on the calibration texts used to "quantize" to its own float graph and report cosine 1.0000.
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { silentLogger } from "../src/common/log.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { DataType } from "../src/graph/ir.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { QuantizationInputError, builtinCalibrationTexts } from "../src/quant/corpus.js";
import { resolveQuantizationOptions } from "../src/quant/options.js";
import { quantizeModel } from "../src/quant/quantize.js";
import { ENCODER_OUTPUTS_JUDGING } from "../src/heads/encoder-outputs.js";
import { modelFolder, tempDir } from "./helpers/index.js";

describe("calibration", () => {
  it("with zero calibrated activations (a NaN word-embedding table) fails naming the first activation; nothing is written", async () => {
    const hidden = 32;
    const source = modelFolder(syntheticBert({ seed: 71, vocab: BUNDLED_VOCAB_SIZE, hidden, layers: 1, maxPositions: 64 }), {}, "nan-bert");
    const encoder = loadEncoder(source);
    const out = tempDir();
    try {
      const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary", tokenTypeIds: false });
      // The weights stand in for a checkpoint whose table is NaN (a load check refuses such a file).
      const table = model.graph.initializers.find(
        (i) => i.dataType === DataType.FLOAT && i.dims[0] === BUNDLED_VOCAB_SIZE && i.dims[1] === hidden,
      )!;
      expect(table, "the word-embedding table").toBeDefined();
      table.data = { kind: "bytes", bytes: new Uint8Array(new Float32Array(BUNDLED_VOCAB_SIZE * hidden).fill(Number.NaN).buffer) };
      const fp32Path = join(out, "nan_fp32.onnx");
      writeFileSync(fp32Path, "");
      const quantizing = quantizeModel({
        model,
        fp32Path,
        outputPath: join(out, "nan_int8_qdq.onnx"),
        tokenizer: loadTokenizer(source).tokenizer,
        padTokenId: encoder.config.padTokenId,
        maxSequence: encoder.config.maxSequence,
        settings: resolveQuantizationOptions({ smoothing: false }),
        calibration: builtinCalibrationTexts(),
        logger: silentLogger,
        judging: ENCODER_OUTPUTS_JUDGING,
      });
      await expect(quantizing).rejects.toThrow(QuantizationInputError);
      await expect(quantizing).rejects.toThrow(
        /^calibration on 303 texts calibrated none of the \d+ activations \(\S+: no finite values observed\); the model computes no finite values there: check its weights for NaN\/Inf$/,
      );
      expect(readdirSync(out)).toEqual(["nan_fp32.onnx"]);
    } finally {
      encoder.close();
    }
  });
});
