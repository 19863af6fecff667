// Sentence pooling: the TypeScript pooling against hand-computed values, the graph's
// sentence_embedding against it (every mode × normalize, both variants, padded batches), and
// the export option end to end (three outputs, dynamic batch, pipeline files for the runtime).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { MAX_POOL_PAD_VALUE, type SentencePooling, l2Normalize, poolTokens } from "../src/heads/pooling.js";
import { POOLING_MODES, readSentencePipeline } from "../src/arch/sentence-transformers.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { DataType } from "../src/graph/ir.js";
import { readModel } from "../src/graph/onnx-file.js";
import { UsageError } from "../src/common/usage.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { VARIANTS } from "./helpers/architectures.js";
import { expectGraphMatchesReference, modelFolder, runCli, runInProcess, syntheticEncoder, tempDir } from "./helpers/index.js";
import { folderFiles } from "../src/common/node-files.js";

const SHAPE = { batch: 3, sequence: 3, hidden: 2 };
// Row 0: three tokens, the last padded. Row 1: one token. Row 2: no tokens at all.
const HIDDEN = Float32Array.of(1, 2, 3, -4, 5, 6, -1, 0, 2, 2, 9, 9, 7, 7, 8, 8, 9, 9);
const MASK = Int32Array.of(1, 1, 0, 1, 0, 0, 0, 0, 0);

describe("poolTokens (sentence-transformers' Pooling + Normalize)", () => {
  const pool = (pooling: SentencePooling["pooling"], normalize = false) =>
    Array.from(poolTokens(HIDDEN, MASK, SHAPE, { pooling, normalize }));

  it("cls takes the first token, padded or not", () => {
    expect(pool("cls")).toEqual([1, 2, -1, 0, 7, 7]);
  });

  it("mean averages the real tokens; a row without tokens is 0 (count clamped at 1e-9)", () => {
    expect(pool("mean")).toEqual([2, -1, -1, 0, 0, 0]);
  });

  it("max ignores padded positions; a row without tokens is the padding value, as sentence-transformers gives", () => {
    expect(pool("max")).toEqual([3, 2, -1, 0, Math.fround(MAX_POOL_PAD_VALUE), Math.fround(MAX_POOL_PAD_VALUE)]);
  });

  it("normalize divides by the L2 norm (floored at 1e-12, so zero stays zero)", () => {
    const mean = pool("mean", true);
    expect(mean[0]).toBeCloseTo(2 / Math.sqrt(5), 6);
    expect(mean[1]).toBeCloseTo(-1 / Math.sqrt(5), 6);
    expect(mean.slice(2)).toEqual([-1, 0, 0, 0]);
    expect(Array.from(l2Normalize(Float32Array.of(3, 4), 2))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });

  it("takes onnxruntime's int64 masks as they are", () => {
    const bigintMask = BigInt64Array.from(MASK, (v) => BigInt(v));
    expect(poolTokens(HIDDEN, bigintMask, SHAPE, { pooling: "mean", normalize: true })).toEqual(
      poolTokens(HIDDEN, MASK, SHAPE, { pooling: "mean", normalize: true }),
    );
  });
});

describe("sentence_embedding in the graph equals pooling computed in TypeScript", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 31 }));
  const batches = [
    randomBatch(encoder.config, { batch: 4, sequence: 11, seed: 1 }),
    randomBatch(encoder.config, { batch: 3, sequence: 6, seed: 2 }),
    randomBatch(encoder.config, { batch: 1, sequence: 1 }),
  ];

  for (const pooling of POOLING_MODES) {
    for (const normalize of [false, true]) {
      const sentence: SentencePooling = { pooling, normalize };
      it(`${pooling}${normalize ? " + normalize" : ""}, both variants, padded batches`, async () => {
        for (const variant of VARIANTS) {
          // All three outputs vs the reference forward (sentence_embedding = poolTokens of its hidden states).
          await expectGraphMatchesReference(encoder, batches, { variant, sentenceEmbedding: sentence });
          // And against poolTokens of the graph's own last_hidden_state: the pooling alone.
          const model = buildEncoderGraph(encoder, { opset: 17, variant, sentenceEmbedding: sentence });
          for (const batch of batches) {
            const out = await runInProcess(model, batch);
            const expected = poolTokens(
              out.lastHiddenState,
              batch.attentionMask,
              { ...batch, hidden: encoder.config.hiddenSize },
              sentence,
            );
            expect(relativeMaxError(out.sentenceEmbedding!, expected), `${variant} ${batch.batch}x${batch.sequence}`).toBeLessThanOrEqual(
              1e-5,
            );
          }
        }
      });
    }
  }

  it("at opsets 13 and 18 (reduction axes as attribute / as input)", async () => {
    for (const opset of [13, 18]) {
      for (const pooling of POOLING_MODES) {
        await expectGraphMatchesReference(encoder, batches.slice(0, 1), {
          variant: "portable",
          opset,
          sentenceEmbedding: { pooling, normalize: true },
        });
      }
    }
  });
});

/** Local folders only: the CLI must never reach for the Hub here. */
const OFFLINE = { HF_HUB_OFFLINE: "1" };

describe("export with a sentence_embedding output", () => {
  const bert = syntheticBert({ seed: 32 });
  /** syntheticBert's tiny shape, as parsed (for random batches). */
  const TINY_CONFIG = syntheticEncoder(bert).config;

  it("reads modules.json, emits exactly three outputs with dynamic batch, and writes the pipeline files", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "mean", normalize: true } });
    writeFileSync(join(dir, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: 64, do_lower_case: true }));
    const out = tempDir();
    const path = await new EmbeddingService(dir, { logger: silentLogger }).exportOnnxModel(out, {
      quantized: false,
      sentenceEmbedding: true,
    });
    const model = await readModel(path);
    expect(model.graph.outputs).toEqual([
      { name: "last_hidden_state", elemType: DataType.FLOAT, shape: ["batch", "sequence", 32] },
      { name: "pooler_output", elemType: DataType.FLOAT, shape: ["batch", 32] },
      { name: "sentence_embedding", elemType: DataType.FLOAT, shape: ["batch", 32] },
    ]);
    expect(model.metadata).toMatchObject({ sentence_pooling: "mean", sentence_normalize: "true" });
    for (const file of ["modules.json", "1_Pooling/config.json", "sentence_bert_config.json"]) {
      expect(readFileSync(join(out, file), "utf8")).toBe(readFileSync(join(dir, file), "utf8"));
    }
    expect(readSentencePipeline(folderFiles(out))).toMatchObject({ pooling: "mean", normalize: true, maxSeqLength: 64 });
    const bytes = new Uint8Array(readFileSync(path));
    for (const batch of [randomBatch(TINY_CONFIG, { batch: 3, sequence: 7 }), randomBatch(TINY_CONFIG, { batch: 1, sequence: 4 })]) {
      const run = await runInProcess(bytes, batch);
      const expected = poolTokens(run.lastHiddenState, batch.attentionMask, { ...batch, hidden: 32 }, { pooling: "mean", normalize: true });
      expect(run.sentenceEmbedding!.length).toBe(batch.batch * 32);
      expect(relativeMaxError(run.sentenceEmbedding!, expected)).toBeLessThanOrEqual(1e-5);
    }
  });

  it("CLI --pooling chooses explicitly, and the written pipeline files describe that choice", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "cls", normalize: false } });
    const out = tempDir();
    const run = await runCli(["export", dir, "--output", out, "--fp32", "--pooling", "max", "--quiet"], { env: OFFLINE });
    expect(run.code, run.stderr).toBe(0);
    const path = run.stdout.trim().split("\n").at(-1)!;
    expect((await readModel(path)).graph.outputs.map((o) => o.name)).toEqual(["last_hidden_state", "pooler_output", "sentence_embedding"]);
    expect(readSentencePipeline(folderFiles(out))).toMatchObject({ pooling: "max", normalize: true, unsupportedModules: [] });
  });

  it("CLI --sentence-embedding without modules.json, or --no-normalize without --pooling, fails with one clear line", async () => {
    const dir = modelFolder(bert);
    const missing = await runCli(["export", dir, "--output", tempDir(), "--fp32", "--sentence-embedding", "--quiet"], { env: OFFLINE });
    // The option cannot be met by this model: a usage error (exit 2) naming the flag that can (there is no --normalize).
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /no modules\.json.*choose the pooling explicitly with --pooling \(cls, mean, max, lasttoken; L2-normalized\)/,
    );
    const usage = await runCli(["export", dir, "--output", tempDir(), "--fp32", "--no-normalize"], { env: OFFLINE });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--no-normalize goes with --pooling");
  });

  it("refuses a pipeline with modules it cannot reproduce (LayerNorm after pooling), and a bad explicit pooling", async () => {
    const dir = modelFolder(bert, { sentence: { pooling: "mean", normalize: false } });
    const modules = JSON.parse(readFileSync(join(dir, "modules.json"), "utf8"));
    modules.push({ idx: 2, name: "2", path: "2_LayerNorm", type: "sentence_transformers.models.LayerNorm" });
    writeFileSync(join(dir, "modules.json"), JSON.stringify(modules));
    const service = new EmbeddingService(dir, { logger: silentLogger });
    const out = tempDir();
    await expect(service.exportOnnxModel(out, { quantized: false, sentenceEmbedding: true })).rejects.toThrow(/LayerNorm after pooling/);
    await expect(
      service.exportOnnxModel(out, { quantized: false, sentenceEmbedding: { pooling: "weighted" as "mean", normalize: true } }),
    ).rejects.toThrow(UsageError);
    expect(existsSync(join(out, "model_fp32.onnx"))).toBe(false);
  });
});
