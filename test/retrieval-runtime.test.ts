// Retrieval models end to end: exported (FP32, verified) from synthetic folders with the real
// files, then used through SparseEmbedder and MultiVectorEmbedder (and the CLI), whose results
// are checked against the reference forward of the same token batches; ColBERT's markers, [MASK]
// augmentation and punctuation masking; MaxSim by hand.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { OUTPUT } from "../src/artifact/names.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { writeBgeM3Folder, writeColbertFolder, writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { referenceOutputs } from "../src/heads/graph.js";
import { detectTask, headsFor } from "../src/heads/tasks.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { EmbeddingService } from "../src/export/service.js";
import { silentLogger } from "../src/common/log.js";
import { relativeMaxError } from "../src/export/verify.js";
import { Embedder } from "../src/runtime/embedder.js";
import { MultiVectorEmbedder, maxSim } from "../src/runtime/multi-vector-embedder.js";
import { SparseEmbedder, sparseDot, sparsify } from "../src/runtime/sparse-embedder.js";
import { padBatch } from "../src/quant/tokenize.js";
import { readModel } from "../src/graph/onnx-file.js";
import { runCli, tempDir } from "./helpers/index.js";

const vocab = BUNDLED_VOCAB_SIZE; // the bundled bert-base-uncased tokenizer's ids must fit
const OFFLINE = { HF_HUB_OFFLINE: "1" };

async function exportFp32(source: string): Promise<string> {
  const out = join(tempDir(), "export");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
  return out;
}

/** `output` of the reference forward of the model in `source` (its detected task) for one batch. */
function reference(source: string, batch: TokenBatch, output: string): Float32Array {
  const encoder = loadEncoder(source);
  try {
    return referenceOutputs(encoder, headsFor(encoder, { task: detectTask(encoder) }), batch)[output]!;
  } finally {
    encoder.close();
  }
}

/** Rows `positions` of a [1, S, D] array. */
function rowsAt(values: Float32Array, dim: number, positions: number[]): Float32Array[] {
  return positions.map((p) => values.slice(p * dim, (p + 1) * dim));
}

describe("SPLADE export + SparseEmbedder", () => {
  let source: string;
  let exported: string;
  let sparse: SparseEmbedder;
  beforeAll(async () => {
    source = writeSpladeFolder(join(tempDir(), "splade"), { vocab });
    exported = await exportFp32(source);
    sparse = await SparseEmbedder.load(exported);
  });
  afterAll(() => sparse?.close());

  it("exports one sparse_embedding [batch, vocab] output with the task in its metadata", async () => {
    const model = await readModel(join(exported, "splade_fp32.onnx"));
    expect(model.graph.outputs.map((o) => [o.name, o.shape])).toEqual([[OUTPUT.sparseEmbedding, ["batch", vocab]]]);
    expect(model.metadata).toMatchObject({ task: "sparse", head: "splade:max:relu" });
  });

  it("returns the reference's non-zero weights, ids ascending, for each text", async () => {
    const texts = ["the quick brown fox", "sparse retrieval with learned term weights!", "a"];
    const vectors = await sparse.embed(texts);
    const { tokenizer } = loadTokenizer(exported);
    for (const [i, text] of texts.entries()) {
      const want = sparsify(reference(source, padBatch([tokenizer.encode(text).ids], 0), OUTPUT.sparseEmbedding), 0);
      const got = vectors[i]!;
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      expect(relativeMaxError(got.values, want.values)).toBeLessThanOrEqual(1e-4);
      expect([...got.indices].every((v, k, all) => k === 0 || all[k - 1]! < v)).toBe(true);
    }
  });

  it("topK keeps the k largest weights; threshold drops the small ones; tokens names each id", async () => {
    const all = await sparse.embed("learned sparse vectors");
    const top = await sparse.embed("learned sparse vectors", { topK: 5, tokens: true });
    expect(top.indices.length).toBe(5);
    const fifth = [...all.values].sort((a, b) => b - a)[4]!;
    expect(Math.min(...top.values)).toBe(fifth);
    expect(top.tokens).toHaveLength(5);
    expect(top.tokens!.every((t) => typeof t === "string" && t.length > 0)).toBe(true);
    const cut = await sparse.embed("learned sparse vectors", { threshold: fifth });
    expect(cut.values.every((v) => v > fifth)).toBe(true);
    expect(cut.indices.length).toBe(4);
    expect(sparseDot(all, all)).toBeCloseTo(
      all.values.reduce((s, v) => s + v * v, 0),
      4,
    );
    await expect(sparse.embed("x", { topK: 0 })).rejects.toThrow(/topK must be a positive integer, not 0/);
  });

  it("INT8 (static): judged by held-out sparse-vector cosine and top-64 term overlap; SparseEmbedder runs it", async () => {
    const out = join(tempDir(), "int8");
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { variant: "primary" });
    const report = JSON.parse(readFileSync(join(out, "quantization_report.json"), "utf8")) as {
      fidelity: {
        worstSparseCosine: number;
        threshold: number;
        passed: boolean;
        cosine: { min: number };
        topTerms: { k: number; mean: number };
      };
    };
    expect(report.fidelity).toMatchObject({ threshold: 0.98, passed: true, topTerms: { k: 64 } });
    expect(report.fidelity.worstSparseCosine).toBe(report.fidelity.cosine.min);
    expect(report.fidelity.worstSparseCosine).toBeGreaterThanOrEqual(0.98);
    expect(report.fidelity.topTerms.mean).toBeGreaterThan(0.5);
    const int8 = await SparseEmbedder.load(out, { file: path });
    try {
      const [a] = await int8.embed(["learned sparse vectors for retrieval"]);
      const [b] = await sparse.embed(["learned sparse vectors for retrieval"]);
      const cos = sparseDot(a!, b!) / Math.sqrt(sparseDot(a!, a!) * sparseDot(b!, b!));
      expect(cos).toBeGreaterThan(0.98);
    } finally {
      await int8.close();
    }
  });

  it("Embedder points a sparse folder to SparseEmbedder", async () => {
    await expect(Embedder.load(exported)).rejects.toThrow(
      /is a retrieval model \(outputs sparse_embedding\); load sparse_embedding with SparseEmbedder\.load/,
    );
  });

  it("CLI: embed --sparse --top-k 3 --tokens prints JSON; Embedder-only flags are refused", async () => {
    const run = await runCli(["embed", exported, "--sparse", "--top-k", "3", "--tokens", "hello world"], { env: OFFLINE });
    expect(run.code, run.stderr).toBe(0);
    const [row] = JSON.parse(run.stdout) as Array<{ indices: number[]; values: number[]; tokens: string[] }>;
    expect([row!.indices.length, row!.values.length, row!.tokens.length]).toEqual([3, 3, 3]);
    const bad = await runCli(["embed", exported, "--colbert", "--top-k", "3", "x"], { env: OFFLINE });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--top-k goes with --sparse/)]);
  });
});

describe("ColBERT export + MultiVectorEmbedder", () => {
  let source: string;
  let exported: string;
  let colbert: MultiVectorEmbedder;
  const dim = 16;
  beforeAll(async () => {
    source = writeColbertFolder(join(tempDir(), "colbert"), { vocab, dim });
    exported = await exportFp32(source);
    colbert = await MultiVectorEmbedder.load(exported);
  });
  afterAll(() => colbert?.close());

  it("a query is [CLS] [unused0] text [SEP] padded with [MASK] to query_maxlen; every position yields the reference's vector", async () => {
    const [vectors] = await colbert.embedQueries(["what is late interaction"]);
    expect(vectors).toHaveLength(32);
    const { tokenizer } = loadTokenizer(exported);
    const text = tokenizer.encode("what is late interaction").ids;
    const ids = [text[0]!, tokenizer.token_to_id("[unused0]")!, ...text.slice(1)];
    const inputIds = Int32Array.from({ length: 32 }, (_, t) => (t < ids.length ? ids[t]! : tokenizer.token_to_id("[MASK]")!));
    const attentionMask = Int32Array.from({ length: 32 }, (_, t) => (t < ids.length ? 1 : 0));
    const expected = rowsAt(reference(source, { batch: 1, sequence: 32, inputIds, attentionMask }, OUTPUT.tokenVectors), dim, [
      ...Array(32).keys(),
    ]);
    vectors!.forEach((v, t) => expect(relativeMaxError(v, expected[t]!), `token ${t}`).toBeLessThanOrEqual(1e-4));
    vectors!.forEach((v) => expect(Math.hypot(...v)).toBeCloseTo(1, 5));
  });

  it("a document is [CLS] [unused1] text [SEP]; its punctuation yields no vector (mask_punctuation)", async () => {
    const [vectors] = await colbert.embedDocuments(["hello, world."]);
    const { tokenizer } = loadTokenizer(exported);
    const text = tokenizer.encode("hello, world.").ids; // [CLS] hello , world . [SEP]
    const ids = [text[0]!, tokenizer.token_to_id("[unused1]")!, ...text.slice(1)];
    const batch = padBatch([ids], 0);
    const all = reference(source, batch, OUTPUT.tokenVectors);
    const kept = ids
      .map((id, t) => [id, t] as const)
      .filter(([id]) => id !== tokenizer.token_to_id(",") && id !== tokenizer.token_to_id("."))
      .map(([, t]) => t);
    expect(kept).toEqual([0, 1, 2, 4, 6]);
    const expected = rowsAt(all, dim, kept);
    expect(vectors).toHaveLength(5);
    vectors!.forEach((v, i) => expect(relativeMaxError(v, expected[i]!)).toBeLessThanOrEqual(1e-4));
  });

  it("INT8 (static): judged by MaxSim Spearman on the held-out query/document pairs; MultiVectorEmbedder runs it", async () => {
    const out = join(tempDir(), "int8");
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { variant: "primary" });
    const report = JSON.parse(readFileSync(join(out, "quantization_report.json"), "utf8")) as {
      fidelity: { maxSimSpearman: number; threshold: number; passed: boolean; pairs: number; spearman: number };
    };
    expect(report.fidelity).toMatchObject({ threshold: 0.98, passed: true, pairs: 192 }); // 12 queries × 16 documents
    expect(report.fidelity.maxSimSpearman).toBe(report.fidelity.spearman);
    expect(report.fidelity.maxSimSpearman).toBeGreaterThanOrEqual(0.98);
    const int8 = await MultiVectorEmbedder.load(out, { file: path });
    try {
      const [vectors] = await int8.embedQueries(["late interaction"]);
      expect(vectors).toHaveLength(32);
    } finally {
      await int8.close();
    }
  });

  it("score is MaxSim summed over the query tokens; the CLI prints token vectors as JSON", async () => {
    const [q] = await colbert.embedQueries(["late interaction"]);
    const [d] = await colbert.embedDocuments(["late interaction scores each token"]);
    expect(colbert.score(q!, d!)).toBeCloseTo(maxSim(q!, d!, "sum"), 6);
    const run = await runCli(["embed", exported, "--colbert", "--query", "late interaction"], { env: OFFLINE });
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as number[][][];
    expect([rows.length, rows[0]!.length, rows[0]![0]!.length]).toEqual([1, 32, dim]);
  });
});

describe("maxSim", () => {
  it("adds (or averages) each query vector's best dot product with the document's", () => {
    const q = [Float32Array.of(1, 0), Float32Array.of(0, 1)];
    const d = [Float32Array.of(0.6, 0.8), Float32Array.of(1, 0)];
    expect(maxSim(q, d)).toBeCloseTo(1.8, 6);
    expect(maxSim(q, d, "mean")).toBeCloseTo(0.9, 6);
    expect(maxSim([], d)).toBe(0);
  });
});

describe("bge-m3 export: three outputs, both runtimes", () => {
  let source: string;
  let exported: string;
  beforeAll(async () => {
    source = writeBgeM3Folder(join(tempDir(), "bge-m3"), { vocab });
    exported = await exportFp32(source);
  });

  it("SparseEmbedder drops special tokens; MultiVectorEmbedder skips [CLS] and averages MaxSim", async () => {
    const model = await readModel(join(exported, "bge-m3_fp32.onnx"));
    expect(model.graph.outputs.map((o) => o.name)).toEqual([OUTPUT.sentenceEmbedding, OUTPUT.sparseEmbedding, OUTPUT.tokenVectors]);
    const sparse = await SparseEmbedder.load(exported);
    const multi = await MultiVectorEmbedder.load(exported);
    try {
      const { tokenizer } = loadTokenizer(exported);
      const ids = tokenizer.encode("hello world").ids; // [CLS] hello world [SEP]
      const batch = padBatch([ids], 0);
      const vector = await sparse.embed("hello world");
      expect(Array.from(vector.indices)).toEqual(Array.from(sparsify(reference(source, batch, OUTPUT.sparseEmbedding), 0).indices));
      expect(vector.indices.every((id) => id !== ids[0] && id !== ids.at(-1))).toBe(true);
      const [tokens] = await multi.embedDocuments(["hello world"]);
      const expected = rowsAt(reference(source, batch, OUTPUT.tokenVectors), 32, [1, 2, 3]);
      expect(tokens).toHaveLength(3);
      tokens!.forEach((v, i) => expect(relativeMaxError(v, expected[i]!)).toBeLessThanOrEqual(1e-4));
      const [q] = await multi.embedQueries(["hello"]);
      expect(q).toHaveLength(2); // hello, [SEP]
      expect(multi.score(q!, tokens!)).toBeCloseTo(maxSim(q!, tokens!, "mean"), 6);
    } finally {
      await sparse.close();
      await multi.close();
    }
  });

  it("Embedder reads the dense output (sentence_embedding: CLS, normalized) of the full export and of --outputs dense", async () => {
    const denseOnly = join(tempDir(), "dense");
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(denseOnly, { quantized: false, outputs: ["dense"] });
    const { tokenizer } = loadTokenizer(exported);
    const texts = ["hello world", "dense vectors from the graph"];
    for (const dir of [exported, denseOnly]) {
      const embedder = await Embedder.load(dir);
      try {
        expect(embedder.pooling).toBe("cls");
        const vectors = await embedder.embed(texts);
        texts.forEach((text, i) => {
          const want = reference(source, padBatch([tokenizer.encode(text).ids], 0), OUTPUT.sentenceEmbedding);
          expect(relativeMaxError(vectors[i]!, want)).toBeLessThanOrEqual(1e-4);
        });
        // The graph pools; there are no token vectors to pool another way.
        await expect(embedder.embed(texts, { pooling: "mean" })).rejects.toThrow(
          /computes its vectors in the graph \(cls pooling, normalized\)/,
        );
        await expect(embedder.embed(texts, { normalize: false })).rejects.toThrow(/no last_hidden_state to pool another way/);
      } finally {
        await embedder.close();
      }
    }
    await expect(Embedder.load(denseOnly, { pooling: "max" })).rejects.toThrow(
      /pools in its graph \(cls, normalized\).*drop \{ pooling \} max/,
    );
    const cli = await runCli(["embed", denseOnly, "hello", "--pooling", "mean"], { env: OFFLINE });
    expect([cli.code, cli.stderr]).toEqual([1, expect.stringMatching(/drop --pooling mean/)]);
  });

  it("--pooling other than the graph's is refused before anything is written; --optimize is refused up front (exit 2)", async () => {
    const out = join(tempDir(), "pooled");
    const mean = await runCli(["export", source, "-o", out, "--fp32", "--pooling", "mean"], { env: OFFLINE });
    expect([mean.code, mean.stderr]).toEqual([
      2,
      expect.stringMatching(/bge-m3's dense output \(sentence_embedding\) is pooled .* cls and L2-normalized, fixed in its graph/),
    ]);
    const dims = await runCli(["export", source, "-o", out, "--fp32", "--dimensions", "8"], { env: OFFLINE });
    expect(dims.code).toBe(2);
    const optimize = await runCli(["export", source, "-o", out, "--optimize", "size"], { env: OFFLINE });
    expect([optimize.code, optimize.stderr]).toEqual([
      2,
      expect.stringMatching(/optimize judges each candidate .* bge-m3 model has three outputs.*--fp32 or --dtype fp16/),
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it("INT8 export of bge-m3 is refused up front, leaving no folder", async () => {
    const out = join(tempDir(), "int8");
    await expect(new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out)).rejects.toThrow(
      // The library names its option; the CLI says --fp32.
      /INT8 quantization of a bge-m3 model is not supported yet.*export it with \{ quantized: false \}$/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it("CLI: export --outputs dense,sparse keeps those two outputs; an unknown output is a usage error", async () => {
    const out = join(tempDir(), "cli");
    const ok = await runCli(["export", source, "-o", out, "--fp32", "--outputs", "dense,sparse"], { env: OFFLINE });
    expect(ok.code, ok.stderr).toBe(0);
    const model = await readModel(ok.stdout.trim().split("\n").at(-1)!);
    expect(model.graph.outputs.map((o) => o.name)).toEqual([OUTPUT.sentenceEmbedding, OUTPUT.sparseEmbedding]);
    const bad = await runCli(["export", source, "-o", join(tempDir(), "bad"), "--fp32", "--outputs", "dense,lexical"], { env: OFFLINE });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--outputs takes a list of dense, sparse, colbert, not lexical/)]);
  });
});
