// Sequence-classification heads (rerankers): each head's reference forward on hand-computed
// tiny cases, the FP32 `logits` graph of every supported model type against that reference
// (both variants, padded batches, token types where the model has them) on synthetic
// checkpoints with the real prefixed tensor names, task detection and its errors.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import type { LinearArrays, NormArrays, WeightReader } from "../src/arch/weight-refs.js";
import { linearRef, normRef } from "../src/arch/weight-refs.js";
import { OUTPUT } from "../src/artifact/names.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { RERANKER_FIXTURES, syntheticReranker } from "../src/fixtures/rerankers.js";
import { readModel } from "../src/graph/onnx-file.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { validateModel } from "../src/graph/validate.js";
import { type ClassifierPlan, classificationHead } from "../src/heads/classification.js";
import { buildGraph, referenceOutputs } from "../src/heads/graph.js";
import { detectTask, headsFor } from "../src/heads/tasks.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { FP32_RELATIVE_TOLERANCE, modelFolder, runCli, syntheticEncoder, tempDir } from "./helpers/index.js";

/** A reader serving the given arrays by linear prefix / norm prefix (the hand-computed cases). */
function arraysReader(linears: Record<string, LinearArrays>, norms: Record<string, NormArrays> = {}): WeightReader {
  return {
    linear: (ref: { prefix: string }) => linears[ref.prefix]!,
    norm: (ref: { prefix: string }) => norms[ref.prefix]!,
  } as unknown as WeightReader;
}

const lin = (weight: number[], bias: number[] | undefined, inFeatures: number, outFeatures: number): LinearArrays => ({
  weight: Float32Array.from(weight),
  ...(bias ? { bias: Float32Array.from(bias) } : {}),
  inFeatures,
  outFeatures,
});

/** One row of two tokens (the second padded when `mask` says so), hidden width 2. */
function tinyBatch(mask: number[]): TokenBatch {
  return { batch: 1, sequence: mask.length, inputIds: new Int32Array(mask.length), attentionMask: Int32Array.from(mask) };
}

function logitsOf(plan: ClassifierPlan, weights: WeightReader, hidden: number[], mask: number[], pooled?: number[]): number[] {
  const head = classificationHead(plan, "test");
  const out = head.reference(
    { weights, batch: tinyBatch(mask) },
    { hidden: Float32Array.from(hidden), ...(pooled ? { pooled: Float32Array.from(pooled) } : {}) },
  );
  return [...out[OUTPUT.logits]!];
}

describe("classification heads: the reference forward, computed by hand", () => {
  const identity = [1, 0, 0, 1];

  it("pooler: tanh(dense(first token)) → classifier, or the encoder's own pooled output", () => {
    const plan: ClassifierPlan = {
      kind: "pooler",
      pooler: linearRef("bert.pooler.dense", 2, 2),
      classifier: linearRef("classifier", 2, 1),
    };
    const weights = arraysReader({ "bert.pooler.dense": lin([2, 0, 0, 2], [0, 0], 2, 2), classifier: lin([1, 0.5], [0.25], 2, 1) });
    // first token [0.5, 0.25] → dense [1, 0.5] → tanh → 0.7615942·1 + 0.4621172·0.5 + 0.25
    expect(logitsOf(plan, weights, [0.5, 0.25, 9, 9], [1, 1])[0]).toBeCloseTo(Math.tanh(1) + 0.5 * Math.tanh(0.5) + 0.25, 6);
    // the encoder's pooler output is used as it is
    expect(logitsOf(plan, weights, [0.5, 0.25, 9, 9], [1, 1], [1, -1])[0]).toBeCloseTo(1 - 0.5 + 0.25, 6);
  });

  it("mlp (RoBERTa / ELECTRA / DistilBERT): first token → dense → tanh | gelu | relu → out", () => {
    const dense = lin(identity, [0.5, 0.5], 2, 2);
    const out = lin([2, 3], [-1], 2, 1);
    const plan = (activation: "tanh" | "gelu" | "relu"): ClassifierPlan => ({
      kind: "mlp",
      dense: linearRef("classifier.dense", 2, 2),
      activation,
      out: linearRef("classifier.out_proj", 2, 1),
    });
    const weights = arraysReader({ "classifier.dense": dense, "classifier.out_proj": out });
    const hidden = [1, -2, 5, 5]; // first token [1, -2] → dense [1.5, -1.5]
    expect(logitsOf(plan("relu"), weights, hidden, [1, 1])[0]).toBeCloseTo(2 * 1.5 - 1, 6);
    expect(logitsOf(plan("tanh"), weights, hidden, [1, 1])[0]).toBeCloseTo(2 * Math.tanh(1.5) + 3 * Math.tanh(-1.5) - 1, 6);
    // gelu(x) = x·Φ(x): Φ(1.5) = 0.9331928, Φ(-1.5) = 0.0668072
    expect(logitsOf(plan("gelu"), weights, hidden, [1, 1])[0]).toBeCloseTo(2 * 1.5 * 0.9331928 + 3 * -1.5 * 0.0668072 - 1, 5);
  });

  it("modernbert: mean over real tokens → dense → act → LayerNorm → classifier (padding left out)", () => {
    const plan: ClassifierPlan = {
      kind: "modernbert",
      pooling: "mean",
      dense: linearRef("head.dense", 2, 2, false),
      activation: "relu",
      norm: normRef("head.norm", 2, 1e-5, false),
      classifier: linearRef("classifier", 2, 1),
    };
    const weights = arraysReader(
      { "head.dense": lin(identity, undefined, 2, 2), classifier: lin([1, 1], [0], 2, 1) },
      { "head.norm": { gamma: Float32Array.from([1, 2]), beta: new Float32Array(2), eps: 1e-5 } },
    );
    // tokens [1, 2], [3, 6] (the third, [100, 0], is padding) → mean [2, 4] → LayerNorm: (±1)/√(1 + 1e-5) · [1, 2]
    const expected = (-1 * 1 + 1 * 2) / Math.sqrt(1 + 1e-5);
    expect(logitsOf(plan, weights, [1, 2, 3, 6, 100, 0], [1, 1, 0])[0]).toBeCloseTo(expected, 6);
    // cls pooling reads the first token only: [1, 2] → LayerNorm (±0.5)/√(0.25 + 1e-5) · [1, 2]
    expect(logitsOf({ ...plan, pooling: "cls" }, weights, [1, 2, 3, 6, 100, 0], [1, 1, 0])[0]).toBeCloseTo(0.5 / Math.sqrt(0.25 + 1e-5), 6);
  });
});

/** Runs a model in this process and returns its logits. */
async function logitsInOrt(
  bytes: Uint8Array,
  batch: TokenBatch,
): Promise<{ data: Float32Array; dims: readonly number[]; inputs: readonly string[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = (await session.run(ortFeeds(batch, session.inputNames)))[OUTPUT.logits]!;
    return { data: out.data as Float32Array, dims: out.dims, inputs: session.inputNames };
  } finally {
    await session.release();
  }
}

describe("reranker graphs vs the reference forward (FP32, both variants)", () => {
  for (const kind of RERANKER_FIXTURES) {
    it(`${kind}: logits of padded batches within 1e-4, token types where the model has them`, async () => {
      const labels = kind === "distilbert" ? 3 : 1;
      const encoder = syntheticEncoder(syntheticReranker(kind, { seed: 7, labels }));
      expect(detectTask(encoder)).toBe("rerank");
      expect(encoder.prefix).not.toBe("");
      const heads = headsFor(encoder, { task: "rerank" });
      const tokenTypes = encoder.config.typeVocabSize > 1;
      const batches = [
        randomBatch(encoder.config, { batch: 3, sequence: 12, tokenTypes }),
        randomBatch(encoder.config, { batch: 1, sequence: 1, tokenTypes }),
      ];
      for (const variant of ["primary", "portable"] as const) {
        const model = buildGraph(encoder, heads, { opset: 17, variant, tokenTypeIds: tokenTypes }, "rerank");
        validateModel(model);
        expect(model.graph.outputs.map((o) => o.name)).toEqual([OUTPUT.logits]);
        const bytes = encodeModel(model);
        for (const batch of batches) {
          const actual = await logitsInOrt(bytes, batch);
          expect(actual.dims).toEqual([batch.batch, labels]);
          expect(actual.inputs.includes("token_type_ids")).toBe(tokenTypes);
          const expected = referenceOutputs(encoder, heads, batch)[OUTPUT.logits]!;
          expect(relativeMaxError(actual.data, expected), `${kind} ${variant} ${batch.batch}x${batch.sequence}`).toBeLessThanOrEqual(
            FP32_RELATIVE_TOLERANCE,
          );
        }
      }
    });
  }

  it("modernbert with classifier_pooling mean, classifier_bias and a non-default activation", async () => {
    const model = syntheticReranker("modernbert", {
      seed: 8,
      labels: 2,
      config: { classifier_pooling: "mean", classifier_bias: true, classifier_activation: "silu" },
    });
    expect(model.tensors.map((t) => t.name)).toContain("head.dense.bias");
    const encoder = syntheticEncoder(model);
    const heads = headsFor(encoder, { task: "rerank" });
    const batch = randomBatch(encoder.config, { batch: 3, sequence: 10 });
    const actual = await logitsInOrt(encodeModel(buildGraph(encoder, heads, { opset: 17, variant: "primary" }, "rerank")), batch);
    expect(relativeMaxError(actual.data, referenceOutputs(encoder, heads, batch)[OUTPUT.logits]!)).toBeLessThanOrEqual(
      FP32_RELATIVE_TOLERANCE,
    );
  });
});

describe("task detection", () => {
  /** A BERT checkpoint saved by `className` with extra top-level tensors. */
  function bertWithHead(className: string, extra: string[]): string {
    const base = syntheticBert({ seed: 3 });
    const tensors = [
      ...base.tensors.map((t) => ({ ...t, name: `bert.${t.name}` })),
      ...extra.map((name) => {
        const shape = name.endsWith(".bias") ? [2] : [2, 32];
        return { name, dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
      }),
    ];
    return modelFolder({ config: { ...base.config, architectures: [className] }, tensors });
  }

  it("*Model and *ForMaskedLM are feature-extraction, *ForSequenceClassification is rerank", () => {
    const bare = loadEncoder(modelFolder(syntheticBert({ seed: 1 })));
    const masked = loadEncoder(modelFolder(syntheticBert({ seed: 1, maskedLmHead: true })));
    const reranker = loadEncoder(modelFolder(syntheticReranker("roberta")));
    expect([detectTask(bare), detectTask(masked), detectTask(reranker)]).toEqual(["feature-extraction", "feature-extraction", "rerank"]);
    for (const e of [bare, masked, reranker]) e.close();
  });

  it("a token-classification or question-answering head is an error naming its tensors", () => {
    const token = loadEncoder(bertWithHead("BertForTokenClassification", ["classifier.weight", "classifier.bias"]));
    expect(() => detectTask(token)).toThrow(
      /BertForTokenClassification has a token-classification head \(tensors classifier\.weight, classifier\.bias\) that this tool does not export.*--task feature-extraction/,
    );
    const qa = loadEncoder(bertWithHead("BertForQuestionAnswering", ["qa_outputs.weight", "qa_outputs.bias"]));
    expect(() => detectTask(qa)).toThrow(/question-answering head \(tensors qa_outputs\.weight, qa_outputs\.bias\)/);
    token.close();
    qa.close();
  });

  it("forcing rerank (or sparse) on an encoder without that head names the missing tensors", () => {
    const bare = loadEncoder(modelFolder(syntheticBert({ seed: 1, pooler: false })));
    expect(() => headsFor(bare, { task: "rerank" })).toThrow(
      /has no pooler\.dense\.weight, pooler\.dense\.bias, classifier\.weight, classifier\.bias: a bert reranker/,
    );
    expect(() => headsFor(bare, { task: "sparse" })).toThrow(/has no cls\.predictions\.transform\.dense\.weight.*: a SPLADE model/);
    expect(() => headsFor(bare, { task: "rerank", sentenceEmbedding: { pooling: "cls", normalize: true } })).toThrow(
      /belongs to the feature-extraction task/,
    );
    bare.close();
  });
});

describe("exporting a reranker", () => {
  it("BERT: one logits output, token_type_ids detected from the checkpoint, metadata says so; --task feature-extraction keeps the encoder outputs", async () => {
    const source = modelFolder(syntheticReranker("bert", { seed: 11 }), {}, "bert-reranker");
    const out = tempDir();
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    expect(path).toBe(join(out, "bert-reranker_fp32.onnx"));
    const model = readModel(path);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(["logits"]);
    expect(model.graph.inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(model.metadata).toMatchObject({ task: "rerank", token_types: "input", num_labels: "1", head: "bert:pooler" });
    const plain = readModel(
      await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(tempDir(), {
        quantized: false,
        task: "feature-extraction",
      }),
    );
    expect(plain.graph.outputs.map((o) => o.name)).toEqual(["last_hidden_state", "pooler_output"]);
  }, 30_000);

  it("RoBERTa: no token types (type_vocab_size 1), so no token_type_ids input", async () => {
    const source = modelFolder(syntheticReranker("xlm-roberta", { seed: 12 }));
    const model = readModel(await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(tempDir(), { quantized: false }));
    expect(model.graph.inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask"]);
    expect(model.metadata).toMatchObject({ task: "rerank", token_types: "none", head: "roberta:mlp" });
  }, 30_000);
});

describe("jazzmine-embed export --task", () => {
  it("exports a reranker with the same flags as an embedding model; a bad --task is a usage error", async () => {
    const source = modelFolder(syntheticReranker("electra", { seed: 13 }), {}, "electra-reranker");
    const out = tempDir();
    const ok = await runCli(["export", source, "-o", out, "--fp32", "--task", "rerank", "--quiet"], { env: {} });
    expect(ok.code).toBe(0);
    expect(readModel(ok.stdout.trim().split("\n").at(-1)!).graph.outputs.map((o) => o.name)).toEqual(["logits"]);
    const bad = await runCli(["export", source, "-o", tempDir(), "--fp32", "--task", "ner"], { env: {} });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--task must be one of feature-extraction, rerank, sparse, colbert, bge-m3, not ner/);
  }, 30_000);
});
