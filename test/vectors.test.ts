// Quantized vector outputs (--vector int8|binary): sentence-transformers' quantize_embeddings
// definitions on hand-computed values, the graph's outputs exactly equal to those definitions of
// its own sentence_embedding (both variants, padded batches, Matryoshka widths), and the export
// end to end: calibrated ranges in the metadata, the agreement report, the Embedder's typed vectors.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import type { SentencePooling } from "../src/heads/pooling.js";
import { type Int8Ranges, type VectorOutput, int8Ranges, packBinaryVectors, quantizeInt8Vectors } from "../src/heads/vectors.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { VECTOR_REPORT_FILE, type VectorReport } from "../src/export/vector-export.js";
import { definitionComparison } from "../src/export/verify.js";
import { sentenceEmbeddingHead } from "../src/heads/pooling.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { readModel } from "../src/graph/onnx-file.js";
import { Embedder } from "../src/runtime/embedder.js";
import { dotProduct, hammingDistance } from "../src/runtime/vector-distance.js";
import { VARIANTS } from "./helpers/architectures.js";
import { modelFolder, runCli, runInProcess, syntheticEncoder, tempDir } from "./helpers/index.js";

const OFFLINE = { HF_HUB_OFFLINE: "1" };

describe("vector definitions (sentence-transformers quantize_embeddings)", () => {
  it("int8: (x − min) / ((max − min) / 255) − 128, truncated toward zero, clamped outside the range", () => {
    // Dimension 0 over [−1, 1.55] (step 0.01), dimension 1 over [0, 2.55] (step 0.01); dimension 2 never varied (step 1).
    const ranges: Int8Ranges = [
      [-1, 0, 5],
      [1.55, 2.55, 5],
    ];
    const x = Float32Array.of(-1, 0, 5, 1.55, 2.55, 5, 0.005, 1.2849, 6, -3, 9, 4);
    // 0.005 → (1.005 / 0.01) − 128 = −27.5 → −27; 1.2849 → 128.49 − 128 = 0.49 → 0; 6 → 1 − 128; out of range → clamped.
    expect(Array.from(quantizeInt8Vectors(x, 3, ranges))).toEqual([-128, -128, -128, 127, 127, -128, -27, 0, -127, -128, 127, -128]);
    expect(int8Ranges([Float32Array.of(1, -2), Float32Array.of(-3, 4)], 2)).toEqual([
      [-3, -2],
      [1, 4],
    ]);
  });

  it("binary: bit x > 0, the first dimension in the most significant bit, rows padded to whole bytes", () => {
    const x = Float32Array.of(1, -1, 0, 2, 0.5, -0.5, -2, 3, 9, /* row 2 */ -1, -1, -1, -1, -1, -1, -1, -1, 1);
    // Row 1: bits 1,0,0,1,1,0,0,1 | 1 → 0b10011001 = 153, 0b10000000 = 128. Row 2: 0, 128.
    expect(Array.from(packBinaryVectors(x, 9))).toEqual([153, 128, 0, 128]);
  });

  it("distances: dot product of int8 vectors, Hamming distance of packed bits", () => {
    expect(dotProduct(Int8Array.of(1, -2, 3), Int8Array.of(4, 5, -6))).toBe(4 - 10 - 18);
    expect(hammingDistance(Uint8Array.of(0b1011_0000, 255), Uint8Array.of(0b0011_0001, 0))).toBe(2 + 8);
    expect(() => hammingDistance(Uint8Array.of(1), Uint8Array.of(1, 2))).toThrow(RangeError);
  });
});

describe("vector outputs in the graph equal their definitions of the graph's sentence_embedding", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 51 }));
  const batches = [randomBatch(encoder.config, { batch: 4, sequence: 9, seed: 5 }), randomBatch(encoder.config, { batch: 1, sequence: 1 })];
  const hidden = encoder.config.hiddenSize;

  for (const sentence of [
    { pooling: "mean", normalize: true },
    { pooling: "cls", normalize: true, dimensions: 12 },
  ] satisfies SentencePooling[]) {
    it(`${sentence.pooling}${sentence.dimensions ? `, ${sentence.dimensions} dimensions` : ""}: int8 and binary, both variants, padded batches`, async () => {
      const width = sentence.dimensions ?? hidden;
      // Ranges from the float graph's own embeddings of another batch, narrowed so that some values fall outside.
      const float = await runInProcess(
        buildEncoderGraph(encoder, { opset: 17, variant: "primary", sentenceEmbedding: sentence }),
        randomBatch(encoder.config, { batch: 6, sequence: 7, seed: 9 }),
      );
      const rows = Array.from({ length: 6 }, (_, r) => float.sentenceEmbedding!.slice(r * width, (r + 1) * width));
      const [min, max] = int8Ranges(rows, width);
      const ranges: Int8Ranges = [min.map((v) => v * 0.8), max.map((v) => v * 0.8)];
      for (const vector of [{ kind: "int8", ranges }, { kind: "binary" }] satisfies VectorOutput[]) {
        for (const variant of VARIANTS) {
          const model = buildEncoderGraph(encoder, { opset: 17, variant, sentenceEmbedding: sentence, vector });
          for (const batch of batches) {
            const out = await runInProcess(model, batch);
            const name = vector.kind === "int8" ? "sentence_embedding_int8" : "sentence_embedding_binary";
            const tensor = out.raw[name]!;
            expect(tensor.type).toBe(vector.kind === "int8" ? "int8" : "uint8");
            expect(tensor.dims).toEqual([batch.batch, vector.kind === "int8" ? width : Math.ceil(width / 8)]);
            const embedding = out.sentenceEmbedding!;
            const expected = vector.kind === "int8" ? quantizeInt8Vectors(embedding, width, ranges) : packBinaryVectors(embedding, width);
            expect(Array.from(tensor.data as Int8Array | Uint8Array), `${vector.kind} ${variant} ${batch.batch}x${batch.sequence}`).toEqual(
              Array.from(expected),
            );
            const output = sentenceEmbeddingHead(sentence, hidden, vector).outputs[1]!;
            expect(definitionComparison(output, out.raw as never, batch.batch).relativeError).toBe(0);
          }
        }
      }
    });
  }

  it("the verification's check fails on a vector that is not its definition", () => {
    const actual = {
      sentence_embedding: { data: Float32Array.of(1, -1) },
      sentence_embedding_binary: { data: Uint8Array.of(0b0100_0000) },
    };
    const output = sentenceEmbeddingHead({ pooling: "cls", normalize: true }, 2, { kind: "binary" }).outputs[1]!;
    expect(definitionComparison(output, actual, 1)).toEqual({
      output: "sentence_embedding_binary (1 values differ from their definition)",
      relativeError: Infinity,
    });
  });
});

describe("export --vector", () => {
  const bert = syntheticBert({ seed: 52, vocab: BUNDLED_VOCAB_SIZE });
  const calibrationTexts = Array.from(
    { length: 24 },
    (_, i) => `calibration sentence number ${i} about ${["cats", "rivers", "engines", "songs"][i % 4]}`,
  );

  it("int8: ranges calibrated on the calibration texts in the metadata, the agreement report, Embedder.embedInt8", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "mean", normalize: true } });
    const out = tempDir();
    const path = await new EmbeddingService(dir, { logger: silentLogger }).exportOnnxModel(out, {
      quantized: false,
      vector: "int8",
      calibrationTexts,
    });
    const model = await readModel(path);
    expect(model.graph.outputs.map((o) => o.name)).toEqual([
      "last_hidden_state",
      "pooler_output",
      "sentence_embedding",
      "sentence_embedding_int8",
    ]);
    const ranges = JSON.parse(model.metadata.sentence_embedding_int8_ranges!) as Int8Ranges;
    expect(model.metadata.vector).toBe("int8");

    const embedder = await Embedder.load(out);
    try {
      // The ranges are the per-dimension min and max of the model's float vectors of the calibration texts.
      expect(ranges).toEqual(int8Ranges(await embedder.embed(calibrationTexts), 32));
      const texts = ["a query about cats", "rivers run to the sea", ""];
      const floats = await embedder.embed(texts);
      const int8 = await embedder.embedInt8(texts);
      expect(int8[0]).toBeInstanceOf(Int8Array);
      for (const [i, v] of int8.entries()) expect(Array.from(v)).toEqual(Array.from(quantizeInt8Vectors(floats[i]!, 32, ranges)));
      await expect(embedder.embedBinary(texts)).rejects.toThrow(/no sentence_embedding_binary output; export it with --vector binary/);
    } finally {
      await embedder.close();
    }
    const report = JSON.parse(readFileSync(join(out, VECTOR_REPORT_FILE), "utf8")) as VectorReport;
    expect(report).toMatchObject({ vector: "int8", output: "sentence_embedding_int8", distance: "dot", neighbourAgreement: { k: 10 } });
    expect(report.heldOutTexts).toBeGreaterThan(50);
    expect(report.neighbourAgreement.value).toBeGreaterThan(0);
    expect(report.neighbourAgreement.value).toBeLessThanOrEqual(1);
  });

  it("binary through the CLI on top of INT8 static: the vector output survives quantization, Embedder.embedBinary", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "cls", normalize: true } });
    const out = tempDir();
    const texts = join(tempDir(), "texts.txt");
    writeFileSync(texts, calibrationTexts.join("\n"));
    const run = await runCli(["export", dir, "--output", out, "--vector", "binary", "--calibration", texts, "--quiet"], { env: OFFLINE });
    expect(run.code, run.stderr).toBe(0);
    const path = run.stdout.trim().split("\n").at(-1)!;
    expect(path).toMatch(/_int8_qdq\.onnx$/);
    expect(existsSync(join(out, VECTOR_REPORT_FILE))).toBe(true);
    const embedder = await Embedder.load(out);
    try {
      const [float] = await embedder.embed(["bits of a sentence"]);
      const [bits] = await embedder.embedBinary(["bits of a sentence"]);
      expect(bits).toBeInstanceOf(Uint8Array);
      expect(Array.from(bits!)).toEqual(Array.from(packBinaryVectors(float!, 32)));
      // embed --output --vector binary streams the same bits into a .npy of '|u1' rows (4 bytes: 32 bits).
      const npy = join(tempDir(), "bits.npy");
      const streamed = await runCli(["embed", out, "--input", texts, "-o", npy, "--vector", "binary", "-q"], { env: OFFLINE });
      expect(streamed.code, streamed.stderr).toBe(0);
      const bytes = readFileSync(npy);
      const dataStart = 10 + bytes.readUInt16LE(8);
      expect(bytes.subarray(10, dataStart).toString("latin1")).toContain(
        `{'descr': '|u1', 'fortran_order': False, 'shape': (${calibrationTexts.length}, 4), }`,
      );
      const expected = await embedder.embedBinary(calibrationTexts);
      expect(Array.from(bytes.subarray(dataStart))).toEqual(expected.flatMap((row) => Array.from(row)));
    } finally {
      await embedder.close();
    }
    const usage = await runCli(["export", dir, "--output", tempDir(), "--vector", "int4"], { env: OFFLINE });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--vector must be one of int8, binary");
  });
});
