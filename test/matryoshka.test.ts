// Matryoshka dimensions: the truncate-and-renormalize definition on hand-computed values, the
// graph's cut sentence_embedding against the truncated, renormalized reference (both variants,
// padded batches), the advertised dimensions read from the model's files, the export option and
// CLI flag, and Embedder.embed(texts, { dimensions }) at run time.
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { readAdvertisedDimensions } from "../src/arch/matryoshka.js";
import { type SentencePooling, l2Normalize, poolTokens, truncateAndNormalize } from "../src/heads/pooling.js";
import { silentLogger } from "../src/common/log.js";
import { UsageError } from "../src/common/usage.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { readModel } from "../src/graph/onnx-file.js";
import { Embedder } from "../src/runtime/embedder.js";
import { VARIANTS } from "./helpers/architectures.js";
import {
  expectGraphMatchesReference,
  modelFolder,
  recordingLogger,
  runCli,
  runInProcess,
  syntheticEncoder,
  tempDir,
} from "./helpers/index.js";
import { folderFiles } from "../src/common/node-files.js";

const OFFLINE = { HF_HUB_OFFLINE: "1" };

describe("truncateAndNormalize", () => {
  it("keeps the first N values of each row and divides by their L2 norm", () => {
    // Rows [3, 4, 12] and [0, 0, 5]: cut to 2 → [3, 4] / 5 and [0, 0] (norm floored at 1e-12).
    expect(Array.from(truncateAndNormalize(Float32Array.of(3, 4, 12, 0, 0, 5), 3, 2))).toEqual([0.6, 0.8, 0, 0].map(Math.fround));
    expect(() => truncateAndNormalize(Float32Array.of(1, 2), 2, 3)).toThrow(/from 1 to 2/);
  });

  it("poolTokens with dimensions is the truncated, renormalized pooled vector, normalize or not", () => {
    const hidden = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const mask = Int32Array.of(1, 1);
    const shape = { batch: 1, sequence: 2, hidden: 4 };
    const mean = poolTokens(hidden, mask, shape, { pooling: "mean", normalize: false }); // [3, 4, 5, 6]
    for (const normalize of [false, true]) {
      const cut = poolTokens(hidden, mask, shape, { pooling: "mean", normalize, dimensions: 2 });
      expect(Array.from(cut)).toEqual([0.6, 0.8].map(Math.fround));
      expect(cut).toEqual(l2Normalize(mean.slice(0, 2), 2));
    }
  });
});

describe("sentence_embedding cut in the graph equals the truncated, renormalized reference", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 41 }));
  const batches = [randomBatch(encoder.config, { batch: 4, sequence: 9, seed: 3 }), randomBatch(encoder.config, { batch: 1, sequence: 1 })];

  for (const sentence of [
    { pooling: "mean", normalize: true, dimensions: 8 },
    { pooling: "cls", normalize: false, dimensions: 31 },
    { pooling: "max", normalize: true, dimensions: 32 },
  ] satisfies SentencePooling[]) {
    it(`${sentence.pooling}, ${sentence.dimensions} of 32 dimensions, both variants, padded batches`, async () => {
      for (const variant of VARIANTS) {
        await expectGraphMatchesReference(encoder, batches, { variant, sentenceEmbedding: sentence });
        // The same as cutting the full reference vector and renormalizing it.
        const model = buildEncoderGraph(encoder, { opset: 17, variant, sentenceEmbedding: sentence });
        for (const batch of batches) {
          const out = await runInProcess(model, batch);
          const full = referenceForward(encoder, batch, { pooling: sentence.pooling, normalize: false }).sentenceEmbedding!;
          const expected = truncateAndNormalize(full, encoder.config.hiddenSize, sentence.dimensions);
          expect(out.sentenceEmbedding!.length).toBe(batch.batch * sentence.dimensions);
          expect(relativeMaxError(out.sentenceEmbedding!, expected), `${variant} ${batch.batch}x${batch.sequence}`).toBeLessThanOrEqual(
            1e-4,
          );
        }
      }
    });
  }
});

describe("advertised dimensions", () => {
  it("are read from config.json, config_sentence_transformers.json or the model card, in that order", () => {
    const dir = tempDir();
    expect(readAdvertisedDimensions(folderFiles(dir))).toBeUndefined();
    writeFileSync(
      join(dir, "README.md"),
      'loss:\n```json\n{"loss": "MultipleNegativesRankingLoss", "matryoshka_dims": [768, 512, 256, 128, 64]}\n```\n',
    );
    expect(readAdvertisedDimensions(folderFiles(dir))).toEqual({ dimensions: [64, 128, 256, 512, 768], source: "README.md" });
    writeFileSync(join(dir, "config_sentence_transformers.json"), JSON.stringify({ truncate_dim: 256 }));
    expect(readAdvertisedDimensions(folderFiles(dir))).toEqual({ dimensions: [256], source: "config_sentence_transformers.json" });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ matryoshka_dimensions: [32, 64, 1024] }));
    expect(readAdvertisedDimensions(folderFiles(dir))).toEqual({ dimensions: [32, 64, 1024], source: "config.json" });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ matryoshka_dimensions: [0, "x"] }));
    expect(readAdvertisedDimensions(folderFiles(dir))?.source).toBe("config_sentence_transformers.json");
  });
});

describe("export --dimensions and Embedder { dimensions }", () => {
  const bert = syntheticBert({ seed: 42, vocab: BUNDLED_VOCAB_SIZE });

  it("exports a cut sentence_embedding (modules.json pooling), records it, and the Embedder returns it", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "mean", normalize: true } });
    writeFileSync(join(dir, "config_sentence_transformers.json"), JSON.stringify({ matryoshka_dimensions: [8, 16] }));
    const out = tempDir();
    const logger = recordingLogger();
    const path = await new EmbeddingService(dir, { logger }).exportOnnxModel(out, { quantized: false, dimensions: 12 });
    expect(logger.lines.join("\n")).toMatch(/12 dimensions is not among those config_sentence_transformers\.json advertises \(8, 16\)/);
    const model = await readModel(path);
    expect(model.graph.outputs.at(-1)).toMatchObject({ name: "sentence_embedding", shape: ["batch", 12] });
    expect(model.metadata).toMatchObject({ sentence_pooling: "mean", sentence_dimensions: "12", matryoshka_dimensions: "8,16" });

    const embedder = await Embedder.load(out);
    try {
      const texts = ["a first text", "and a second, longer one with more words", ""];
      const cut = await embedder.embed(texts);
      expect(cut.map((v) => v.length)).toEqual([12, 12, 12]);
      // Pooled here from last_hidden_state, then cut: the same vectors.
      const full = await embedder.embed(texts, { pooling: "mean", normalize: false, dimensions: 32 });
      expect(full[0]!.length).toBe(32);
      for (const [i, vector] of cut.entries())
        expect(relativeMaxError(vector, truncateAndNormalize(full[i]!, 32, 12))).toBeLessThanOrEqual(1e-5);
      // Fewer dimensions than the graph's: cut further at run time.
      const four = await embedder.embed(texts, { dimensions: 4 });
      for (const [i, vector] of four.entries())
        expect(relativeMaxError(vector, truncateAndNormalize(cut[i]!, 12, 4))).toBeLessThanOrEqual(1e-6);
      await expect(embedder.embed(texts, { dimensions: 0 })).rejects.toThrow(/positive integer/);
      await expect(embedder.embed(texts, { pooling: "cls", dimensions: 64 })).rejects.toThrow(/exceeds the 32 dimensions/);
    } finally {
      await embedder.close();
    }
  });

  it("refuses dimensions outside 1..hidden before writing anything; the CLI says which flag", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "cls", normalize: true } });
    const out = tempDir();
    await expect(
      new EmbeddingService(dir, { logger: silentLogger }).exportOnnxModel(out, { quantized: false, dimensions: 33 }),
    ).rejects.toThrow(UsageError);
    expect(readdirSync(out)).toEqual([]);
    const run = await runCli(["export", dir, "--output", tempDir(), "--fp32", "--dimensions", "x"], { env: OFFLINE });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--dimensions must be an integer");
    const ok = await runCli(["export", dir, "--output", out, "--fp32", "--dimensions", "16", "--quiet"], { env: OFFLINE });
    expect(ok.code, ok.stderr).toBe(0);
    const embedded = await runCli(["embed", out, "hello", "--dimensions", "8", "--json", "--quiet"], { env: OFFLINE });
    expect(embedded.code, embedded.stderr).toBe(0);
    expect(JSON.parse(embedded.stdout).dimensions).toBe(8);
  });
});
