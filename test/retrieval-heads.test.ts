// The retrieval graphs against their TypeScript reference forwards (relative max error ≤ 1e-4,
// both variants, padded batches): SPLADE on BERT and DistilBERT MLM heads (max and sum pooling,
// relu and log1p_relu, tied and untied decoders), ColBERT's token vectors (HF_ColBERT, PyLate
// Dense), bge-m3's three outputs; task detection from the folder's files; the refusals.
import { execFileSync } from "node:child_process";
import { rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import type { GraphVariant } from "../src/arch/graph-variant.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { OUTPUT } from "../src/artifact/names.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { spladeModel, writeBgeM3Folder, writeColbertFolder, writePylateFolder, writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { validateModel } from "../src/graph/validate.js";
import { ExportError } from "../src/common/errors.js";
import { buildTaskGraph, referenceOutputs } from "../src/heads/graph.js";
import { type TaskSpec, detectTask, headsFor } from "../src/heads/tasks.js";
import { relativeMaxError } from "../src/export/verify.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { FP32_RELATIVE_TOLERANCE, tempDir } from "./helpers/index.js";

const VARIANTS: GraphVariant[] = ["primary", "portable"];

function open(write: (dir: string) => string): LoadedEncoder {
  const encoder = loadEncoder(write(join(tempDir(), "model")));
  afterAll(() => encoder.close());
  return encoder;
}

function batchesFor(encoder: LoadedEncoder): TokenBatch[] {
  return [
    randomBatch(encoder.config, { batch: 3, sequence: 9, seed: 3 }),
    randomBatch(encoder.config, { batch: 4, sequence: 5, seed: 4 }),
    randomBatch(encoder.config, { batch: 1, sequence: 1 }),
  ];
}

/** Every output of `spec`'s graph vs the reference, on each batch; returns the worst error. */
async function expectTaskMatches(encoder: LoadedEncoder, spec: TaskSpec, variant: GraphVariant, opset = 17): Promise<number> {
  const heads = headsFor(encoder, spec);
  const model = buildTaskGraph(encoder, spec, { opset, variant });
  validateModel(model);
  const session = await ort.InferenceSession.create(encodeModel(model));
  let worst = 0;
  try {
    for (const batch of batchesFor(encoder)) {
      const actual = await session.run(ortFeeds(batch, session.inputNames));
      const expected = referenceOutputs(encoder, heads, batch);
      for (const output of heads.flatMap((h) => h.outputs)) {
        const got = actual[output.name]!.data as Float32Array;
        const error = relativeMaxError(got, expected[output.name]!);
        worst = Math.max(worst, error);
        expect(error, `${output.name} at ${batch.batch}x${batch.sequence} (${variant}, opset ${opset})`).toBeLessThanOrEqual(
          FP32_RELATIVE_TOLERANCE,
        );
      }
    }
  } finally {
    await session.release();
  }
  return worst;
}

describe("SPLADE: sparse_embedding of the masked-LM head", () => {
  const bertMax = open((dir) => writeSpladeFolder(dir));

  it("is detected from the SparseEncoder's modules.json; [batch, vocab] output", () => {
    expect(detectTask(bertMax)).toBe("sparse");
    const model = buildTaskGraph(bertMax, { task: "sparse" }, { opset: 17, variant: "primary" });
    expect(model.graph.outputs).toEqual([{ name: OUTPUT.sparseEmbedding, elemType: 1, shape: ["batch", 1000] }]);
    expect(model.metadata).toMatchObject({ task: "sparse", head: "splade:max:relu", sparse_vocabulary: "1000" });
  });

  it("BERT, max over relu (SPLADE v2+), tied decoder: both variants match the reference", async () => {
    for (const variant of VARIANTS) await expectTaskMatches(bertMax, { task: "sparse" }, variant);
  });

  it("BERT, sum over log1p_relu, untied decoder, at opsets 13 and 21", async () => {
    const encoder = open((dir) =>
      writeSpladeFolder(dir, { pooling: { strategy: "sum", activation: "log1p_relu" }, untiedDecoder: true, seed: 9 }),
    );
    expect(headsFor(encoder, { task: "sparse" })[0]!.name).toBe("splade:sum");
    for (const opset of [13, 21]) await expectTaskMatches(encoder, { task: "sparse" }, "portable", opset);
  });

  it("DistilBERT's vocab_transform / vocab_layer_norm / vocab_projector head", async () => {
    const encoder = open((dir) => writeSpladeFolder(dir, { distilbert: true, pooling: { strategy: "max", activation: "log1p_relu" } }));
    expect(detectTask(encoder)).toBe("sparse");
    for (const variant of VARIANTS) await expectTaskMatches(encoder, { task: "sparse" }, variant);
  });

  it("the decoder shares the word-embedding initializer: the table is stored once", () => {
    const model = buildTaskGraph(bertMax, { task: "sparse" }, { opset: 17, variant: "primary" });
    const tables = model.graph.initializers.filter((i) => i.dims.length === 2 && i.dims[0] === 1000);
    expect(tables.map((t) => t.dims)).toEqual([[1000, 32]]);
  });

  it("--task sparse on a BertForMaskedLM folder without SparseEncoder files uses SPLADE's max/relu", async () => {
    const encoder = open((dir) => writeSpladeFolder(dir, { pooling: false }));
    expect(detectTask(encoder)).toBe("feature-extraction");
    await expectTaskMatches(encoder, { task: "sparse" }, "primary");
  });

  it("refuses a SparseEncoder with modules this tool does not export, naming them", () => {
    const dir = writeSpladeFolder(join(tempDir(), "router"));
    writeFileSync(
      join(dir, "modules.json"),
      JSON.stringify([
        { idx: 0, name: "0", path: "", type: "sentence_transformers.sparse_encoder.models.MLMTransformer" },
        { idx: 1, name: "1", path: "1_SpladePooling", type: "sentence_transformers.sparse_encoder.models.SpladePooling" },
        { idx: 2, name: "2", path: "2_SparseStaticEmbedding", type: "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding" },
      ]),
    );
    const encoder = loadEncoder(dir);
    try {
      expect(() => detectTask(encoder)).toThrow(
        /modules\.json: a SparseEncoder of MLMTransformer → SpladePooling → SparseStaticEmbedding.*not sentence_transformers\.sparse_encoder\.models\.SparseStaticEmbedding/,
      );
    } finally {
      encoder.close();
    }
  });

  it("refuses --task sparse where the MLM head is missing or the template has none, naming what is missing", () => {
    const roberta = open((dir) => writeModelFolder(dir, syntheticRoberta()));
    expect(() => headsFor(roberta, { task: "sparse" })).toThrow(ExportError);
    expect(() => headsFor(roberta, { task: "sparse" })).toThrow(/sparse \(SPLADE\) head on roberta is not supported/);
    const model = spladeModel();
    const headless = open((dir) => writeModelFolder(dir, { ...model, tensors: model.tensors.filter((t) => !t.name.startsWith("cls.")) }));
    expect(() => headsFor(headless, { task: "sparse" })).toThrow(
      /has no cls\.predictions\.transform\.dense\.weight, .*cls\.predictions\.bias: a SPLADE model/,
    );
  });
});

describe("ColBERT: token_vectors", () => {
  it("HF_ColBERT (bert.* + linear.weight, artifact.metadata): detected, both variants match", async () => {
    const encoder = open((dir) => writeColbertFolder(dir, { dim: 24 }));
    expect(detectTask(encoder)).toBe("colbert");
    const model = buildTaskGraph(encoder, { task: "colbert" }, { opset: 17, variant: "primary" });
    expect(model.graph.outputs).toEqual([{ name: OUTPUT.tokenVectors, elemType: 1, shape: ["batch", "sequence", 24] }]);
    expect(JSON.parse(model.metadata.colbert_settings!)).toMatchObject({
      queryMarker: "[unused0]",
      documentMarker: "[unused1]",
      queryLength: 32,
      queryExpansion: true,
    });
    for (const variant of VARIANTS) await expectTaskMatches(encoder, { task: "colbert" }, variant);
  });

  it("HF_ColBERT without artifact.metadata is still detected (architectures) and takes colbert-ai's defaults", () => {
    const encoder = open((dir) => writeColbertFolder(dir, { metadata: false }));
    expect(detectTask(encoder)).toBe("colbert");
    const model = buildTaskGraph(encoder, { task: "colbert" }, { opset: 17, variant: "portable" });
    expect(JSON.parse(model.metadata.colbert_settings!)).toMatchObject({
      queryLength: 32,
      documentLength: 180,
      skiplist: expect.arrayContaining([".", ","]),
    });
  });

  it("PyLate (Dense module folder with a bias): detected, settings from config_sentence_transformers.json, both variants match", async () => {
    const encoder = open((dir) =>
      writePylateFolder(dir, { dim: 12, bias: true, settings: { query_length: 16, attend_to_expansion_tokens: true } }),
    );
    expect(detectTask(encoder)).toBe("colbert");
    const model = buildTaskGraph(encoder, { task: "colbert" }, { opset: 17, variant: "primary" });
    expect(JSON.parse(model.metadata.colbert_settings!)).toMatchObject({
      queryLength: 16,
      attendToExpansion: true,
      skiplist: ["!", ",", ".", "?"],
    });
    for (const variant of VARIANTS) await expectTaskMatches(encoder, { task: "colbert" }, variant);
  });

  it("--task colbert on a plain encoder is refused, saying where a projection would be", () => {
    const encoder = open((dir) => writeModelFolder(dir, syntheticRoberta()));
    expect(() => headsFor(encoder, { task: "colbert" })).toThrow(
      /no ColBERT projection found — colbert-ai's linear\.weight.*PyLate Dense.*colbert_linear\.pt/,
    );
  });
});

describe("bge-m3: sentence_embedding, sparse_embedding and token_vectors in one graph", () => {
  const encoder = open((dir) => writeBgeM3Folder(dir));

  it("is detected from sparse_linear.pt + colbert_linear.pt; all three outputs by default", () => {
    expect(detectTask(encoder)).toBe("bge-m3");
    const model = buildTaskGraph(encoder, { task: "bge-m3" }, { opset: 17, variant: "primary" });
    expect(model.graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      [OUTPUT.sentenceEmbedding, ["batch", 32]],
      [OUTPUT.sparseEmbedding, ["batch", 1000]],
      [OUTPUT.tokenVectors, ["batch", "sequence", 32]],
    ]);
    // config.json's bos/pad/eos (0, 1, 2) and the tokenizer's [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102.
    expect(model.metadata.sparse_dropped_ids).toBe("0,1,2,100,101,102");
  });

  it("all three outputs match the reference in both variants", async () => {
    for (const variant of VARIANTS) await expectTaskMatches(encoder, { task: "bge-m3" }, variant);
  });

  it("outputs select a subset; sparse / colbert tasks on a bge-m3 folder use its .pt heads", async () => {
    const model = buildTaskGraph(encoder, { task: "bge-m3", outputs: ["sparse", "colbert"] }, { opset: 17, variant: "portable" });
    expect(model.graph.outputs.map((o) => o.name)).toEqual([OUTPUT.sparseEmbedding, OUTPUT.tokenVectors]);
    expect(headsFor(encoder, { task: "sparse" }).map((h) => h.name)).toEqual(["bge-m3:sparse"]);
    await expectTaskMatches(encoder, { task: "colbert" }, "primary", 13);
    expect(() => headsFor(encoder, { task: "bge-m3", outputs: ["dense", "lexical" as never] })).toThrow(
      /bge-m3 outputs must be some of dense, sparse, colbert, not lexical/,
    );
  });

  it("a tokenizer.json that is a FIFO or oversized is refused unread, naming it (an ExportError, not a raw file error)", () => {
    const folder = writeBgeM3Folder(join(tempDir(), "model"));
    const tokenizer = join(folder, "tokenizer.json");
    const refusal = (task: TaskSpec) => {
      const encoder = loadEncoder(folder);
      try {
        headsFor(encoder, task);
      } catch (error) {
        return error;
      } finally {
        encoder.close();
      }
      throw new Error("headsFor did not refuse");
    };
    rmSync(tokenizer);
    execFileSync("mkfifo", [tokenizer]);
    const fifo = refusal({ task: "sparse" });
    expect(fifo).toBeInstanceOf(ExportError);
    expect((fifo as Error).message).toMatch(
      /tokenizer\.json is a FIFO \(named pipe\), not a regular file; replace it with the model's real file$/,
    );
    rmSync(tokenizer);
    writeFileSync(tokenizer, "");
    truncateSync(tokenizer, 2 ** 30); // sparse: no disk used
    const huge = refusal({ task: "bge-m3" });
    expect(huge).toBeInstanceOf(ExportError);
    expect((huge as Error).message).toMatch(
      /tokenizer\.json is 1073741824 bytes, more than the 536870912 such a file may have; replace it/,
    );
  });
});
