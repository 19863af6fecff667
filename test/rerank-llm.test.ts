// LLM rerankers: the yes − no head of a causal LM (Qwen3-Reranker, tied embeddings under
// "model.") computed by hand, its graph against the reference on batches padded on either side,
// the export with its prompt template, the Reranker's scores against sigmoid(yes − no) — and the
// official softmax([no, yes])[yes] — from the reference forward of the prompted pair, truncation
// that keeps the suffix, decoder `*ForSequenceClassification` checkpoints, and INT8 fidelity.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import type { GraphInputs, TokenBatch } from "../src/arch/architecture.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { OUTPUT } from "../src/artifact/names.js";
import {
  PromptPairEncoder,
  QWEN3_RERANKER_TEMPLATE,
  RERANK_TEMPLATE_FILE,
  type RerankTemplate,
  parseRerankTemplate,
} from "../src/artifact/rerank-template.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticGemma3, syntheticQwen2, syntheticQwen3, writeDecoderFolder } from "../src/fixtures/decoders.js";
import { writeQwenTokenizerFiles } from "../src/fixtures/decoder-tokenizers.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { readModel } from "../src/graph/onnx-file.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { type CausalRerankSpec, answerTokenHead } from "../src/heads/causal-rerank.js";
import { buildGraph, referenceForward, referenceOutputs } from "../src/heads/graph.js";
import { detectTask, headsFor } from "../src/heads/tasks.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import type { RerankQuantizationReport } from "../src/quant/report.js";
import { padBatch } from "../src/quant/tokenize.js";
import { Reranker } from "../src/runtime/reranker.js";
import { runBlock } from "./helpers/architectures.js";
import { FP32_RELATIVE_TOLERANCE, runCli, tempDir } from "./helpers/index.js";

/**
 * Qwen3-Reranker's tokenizer files (no <|endoftext|> appended, padding on the left), with only the
 * merges that make "yes" and "no" single tokens: every text tokenizes within the tiny model's vocabulary.
 */
const RERANKER_TOKENIZER = { appendEndOfText: false, merges: 0 } as const;
/** The fixture tokenizer's ids of "yes" and "no" (merged tokens right after the 256 bytes). */
const { yesTokenId: YES, noTokenId: NO } = writeQwenTokenizerFiles(tempDir(), RERANKER_TOKENIZER);

/** A folder laid out as Qwen3-Reranker-0.6B: Qwen3ForCausalLM, "model." prefix, tied embeddings, byte-level BPE tokenizer. */
function qwen3RerankerFolder(seed: number, model: SyntheticModel = syntheticQwen3({ seed, prefix: "model." })): string {
  const dir = writeDecoderFolder(join(tempDir(), "Qwen3-Reranker"), model, undefined, { tokenizer: false });
  writeQwenTokenizerFiles(dir, RERANKER_TOKENIZER);
  return dir;
}
const SPEC: CausalRerankSpec = {
  positive: { token: "yes", id: YES },
  negative: { token: "no", id: NO },
  template: QWEN3_RERANKER_TEMPLATE,
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Row `id` of the fixture's tied embedding table, read from the safetensors tensor as written. */
function embeddingRow(model: SyntheticModel, id: number): Float32Array {
  const table = model.tensors.find((t) => t.name === "model.embed_tokens.weight")!.data as Float32Array;
  const hidden = Number(model.config.hidden_size);
  return table.subarray(id * hidden, (id + 1) * hidden);
}

async function logitsInOrt(bytes: Uint8Array, batch: TokenBatch): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return (await session.run(ortFeeds(batch, session.inputNames)))[OUTPUT.logits]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function withEncoder<T>(dir: string, use: (encoder: LoadedEncoder) => T): T {
  const encoder = loadEncoder(dir);
  let result: T;
  try {
    result = use(encoder);
  } catch (error) {
    encoder.close();
    throw error;
  }
  if (result instanceof Promise) return result.finally(() => encoder.close()) as T;
  encoder.close();
  return result;
}

describe("the yes − no head, by hand", () => {
  it("logit = h_last · (E[yes] − E[no]) at the last real token, padded on the right or the left, in the reference and the graph", async () => {
    const model = syntheticQwen3({ seed: 51, prefix: "model." });
    const dir = qwen3RerankerFolder(51, model);
    const hidden = 32;
    // Two rows of three positions: h[b, t, i] = (t + 1)·(i − 15)/16, the second row negated.
    const h = Float32Array.from({ length: 2 * 3 * hidden }, (_, k) => {
      const [b, t, i] = [Math.floor(k / (3 * hidden)), Math.floor(k / hidden) % 3, k % hidden];
      return ((b === 0 ? 1 : -1) * (t + 1) * (i - 15)) / 16;
    });
    const difference = embeddingRow(model, YES).map((w, i) => w - embeddingRow(model, NO)[i]!);
    const dot = (b: number, t: number) => {
      let sum = 0;
      for (let i = 0; i < hidden; i++) sum += h[(b * 3 + t) * hidden + i]! * difference[i]!;
      return sum;
    };
    const cases = [
      { mask: [1, 1, 0, 1, 1, 1], expected: [dot(0, 1), dot(1, 2)] }, // right-padded: last real positions 1 and 2
      { mask: [0, 1, 1, 0, 0, 1], expected: [dot(0, 2), dot(1, 2)] }, // left-padded: the last position
    ];
    await withEncoder(dir, async (encoder) => {
      const head = answerTokenHead(encoder, SPEC);
      for (const { mask, expected } of cases) {
        const batch: TokenBatch = { batch: 2, sequence: 3, inputIds: new Int32Array(6), attentionMask: Int32Array.from(mask) };
        const reference = head.reference({ weights: encoder.checkpoint, batch }, { hidden: h })[OUTPUT.logits]!;
        expected.forEach((e, row) => expect(reference[row]).toBeCloseTo(e, 5));
        const { data, dims } = await runBlock(
          (nn, { ids, mask: attentionMask }) => {
            const inputs = { inputIds: ids, attentionMask } as GraphInputs;
            const states = nn.ops.g.constFloat(h, [2, 3, hidden], "hidden");
            return head.emit({ g: nn.ops.g, ops: nn.ops, nn, variant: "primary", inputs }, { hidden: states }).values[OUTPUT.logits]!;
          },
          { batch: 2, sequence: 3, attentionMask: mask },
        );
        expect(dims).toEqual([2, 1]);
        expected.forEach((e, row) => expect(data[row]).toBeCloseTo(e, 5));
      }
    });
  });

  it("an untied lm_head.weight is read instead of the embeddings", () => {
    const model = syntheticQwen3({ seed: 52, prefix: "model.", lmHead: true });
    const dir = qwen3RerankerFolder(52, model);
    const lmHead = model.tensors.find((t) => t.name === "lm_head.weight")!.data as Float32Array;
    withEncoder(dir, (encoder) => {
      const h = Float32Array.from({ length: 32 }, (_, i) => i / 32);
      const batch: TokenBatch = { batch: 1, sequence: 1, inputIds: new Int32Array(1), attentionMask: Int32Array.of(1) };
      const logit = answerTokenHead(encoder, SPEC).reference({ weights: encoder.checkpoint, batch }, { hidden: h })[OUTPUT.logits]![0]!;
      let expected = 0;
      for (let i = 0; i < 32; i++) expected += h[i]! * (lmHead[YES * 32 + i]! - lmHead[NO * 32 + i]!);
      expect(logit).toBeCloseTo(expected, 5);
    });
  });
});

describe("prompted pairs (PromptPairEncoder)", () => {
  const dir = tempDir();
  writeQwenTokenizerFiles(dir, RERANKER_TOKENIZER);
  const { tokenizer } = loadTokenizer(dir);
  const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  const prefix = encode(QWEN3_RERANKER_TEMPLATE.prefix);
  const suffix = encode(QWEN3_RERANKER_TEMPLATE.suffix);

  it("prefix + the body tokenized as one text + suffix; cut only at the document's end, never past maxLength", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", " ", "é", "yes", "\n"), maxLength: 60 });
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 120 }), (query, document, extra) => {
        const full = new PromptPairEncoder(tokenizer, 100_000, QWEN3_RERANKER_TEMPLATE).encode(query, document);
        // The shortest limit that fits: the prompt with an empty document, without its trailing space.
        const head = new PromptPairEncoder(tokenizer, 100_000, QWEN3_RERANKER_TEMPLATE).encode(query, "").ids.length - 1;
        const maxLength = head + extra;
        const cut = new PromptPairEncoder(tokenizer, maxLength, QWEN3_RERANKER_TEMPLATE).encode(query, document);
        expect(full.ids).toEqual([
          ...prefix,
          ...encode(`<Instruct>: ${QWEN3_RERANKER_TEMPLATE.instruction}\n<Query>: ${query}\n<Document>: ${document}`),
          ...suffix,
        ]);
        expect(cut.ids.length).toBeLessThanOrEqual(maxLength);
        expect(cut.ids.slice(-suffix.length)).toEqual(suffix);
        expect(cut.ids.slice(0, -suffix.length)).toEqual(full.ids.slice(0, cut.ids.length - suffix.length));
        expect(cut.truncated).toBe(full.ids.length - cut.ids.length);
      }),
      { numRuns: 60 },
    );
  });

  it("templates read back from JSON; a body without its placeholders in order is refused", () => {
    expect(parseRerankTemplate(JSON.parse(JSON.stringify(QWEN3_RERANKER_TEMPLATE)), "m")).toEqual(QWEN3_RERANKER_TEMPLATE);
    expect(() => parseRerankTemplate({ ...QWEN3_RERANKER_TEMPLATE, body: "{query} {instruction} {document}" }, "m")).toThrow(
      /in this order/,
    );
    expect(() => parseRerankTemplate({ ...QWEN3_RERANKER_TEMPLATE, suffix: 3 }, "m")).toThrow(/"suffix" must be a string/);
  });
});

describe("Qwen3-Reranker graph vs reference", () => {
  it.each(["primary", "portable"] as const)(
    "%s: logits [batch, 1] within 1e-4 on batches padded on the right and on the left",
    async (variant) => {
      await withEncoder(qwen3RerankerFolder(53), async (encoder) => {
        const heads = headsFor(encoder, { task: "rerank", answerTokens: SPEC });
        const bytes = encodeModel(buildGraph(encoder, heads, { opset: 17, variant }, "rerank"));
        for (const paddingSide of ["right", "left"] as const) {
          const batch = randomBatch(encoder.config, { batch: 3, sequence: 9, paddingSide, seed: 5 });
          const actual = await logitsInOrt(bytes, batch);
          expect(actual).toHaveLength(3);
          expect(relativeMaxError(actual, referenceOutputs(encoder, heads, batch)[OUTPUT.logits]!)).toBeLessThanOrEqual(
            FP32_RELATIVE_TOLERANCE,
          );
        }
      });
    },
  );
});

/** The official score of one prompted pair from the reference's last hidden state: softmax([no, yes])[yes] over the full LM head's two logits. */
function officialScore(encoder: LoadedEncoder, model: SyntheticModel, ids: number[]): number {
  const batch = padBatch([ids], 0);
  const states = referenceForward(encoder, batch, { pooling: "lasttoken", normalize: false }).lastHiddenState;
  const last = states.subarray((ids.length - 1) * 32, ids.length * 32);
  const logit = (row: Float32Array) => row.reduce((sum, w, i) => sum + w * last[i]!, 0);
  const [yes, no] = [logit(embeddingRow(model, YES)), logit(embeddingRow(model, NO))];
  return Math.exp(yes) / (Math.exp(yes) + Math.exp(no));
}

describe("Qwen3-Reranker export and the Reranker", () => {
  const model = syntheticQwen3({ seed: 54, prefix: "model." });
  const source = qwen3RerankerFolder(54, model);
  const out = join(tempDir(), "out");
  const query = "what do cats eat";
  const documents = ["cats eat fish and meat", "the train leaves at noon", "yes", ""];

  it("a causal LM without --task is an error naming --task rerank; with it, the export is verified and stores the template", async () => {
    const refused = await runCli(["export", source, "-o", join(tempDir(), "refused"), "--fp32"], { env: {} });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--task rerank/);
    const run = await runCli(["export", source, "-o", out, "--fp32", "--task", "rerank"], { env: {} });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("verified primary graph");
    const onnx = readModel(join(out, "Qwen3-Reranker_fp32.onnx"));
    expect(onnx.graph.outputs.map((o) => [o.name, o.shape])).toEqual([["logits", ["batch", 1]]]);
    expect(JSON.parse(onnx.metadata.rerank_tokens!)).toEqual({
      positive: SPEC.positive,
      negative: SPEC.negative,
      weights: "model.embed_tokens.weight",
    });
    expect(JSON.parse(onnx.metadata.rerank_template!)).toEqual(QWEN3_RERANKER_TEMPLATE);
    expect(JSON.parse(readFileSync(join(out, RERANK_TEMPLATE_FILE), "utf8"))).toEqual(QWEN3_RERANKER_TEMPLATE);
    const manifest = JSON.parse(readFileSync(join(out, "export_manifest.json"), "utf8")) as {
      exports: Array<{ files: Array<{ path: string }> }>;
    };
    expect(manifest.exports[0]!.files.map((f) => f.path)).toContain(RERANK_TEMPLATE_FILE);
  });

  it("scores equal sigmoid(yes − no) of the reference forward on the prompted pairs — the official softmax([no, yes])[yes] — for the default and a given instruction", async () => {
    const reranker = await Reranker.load(out);
    const { tokenizer } = loadTokenizer(source);
    try {
      expect(reranker.instruction).toBe(QWEN3_RERANKER_TEMPLATE.instruction);
      for (const instruction of [undefined, "Find the answer"]) {
        const scores = await reranker.score(query, documents, instruction ? { instruction } : {});
        const prompts = new PromptPairEncoder(tokenizer, reranker.maxLength, QWEN3_RERANKER_TEMPLATE);
        withEncoder(source, (encoder) => {
          const heads = headsFor(encoder, { task: "rerank", answerTokens: SPEC });
          documents.forEach((document, i) => {
            const { ids } = prompts.encode(query, document, instruction);
            const text = tokenizer.decode(ids, { skip_special_tokens: false });
            expect(text).toBe(
              QWEN3_RERANKER_TEMPLATE.prefix +
                `<Instruct>: ${instruction ?? QWEN3_RERANKER_TEMPLATE.instruction}\n<Query>: ${query}\n<Document>: ${document}` +
                QWEN3_RERANKER_TEMPLATE.suffix,
            );
            const logit = referenceOutputs(encoder, heads, padBatch([ids], 0))[OUTPUT.logits]![0]!;
            expect(scores[i]).toBeCloseTo(sigmoid(logit), 5);
            withEncoder(source, (e) => expect(scores[i]).toBeCloseTo(officialScore(e, model, ids), 5));
          });
        });
      }
      const defaulted = await reranker.score(query, documents);
      const instructed = await reranker.score(query, documents, { instruction: "Find the answer" });
      expect(Array.from(defaulted)).not.toEqual(Array.from(instructed));
    } finally {
      await reranker.close();
    }
  });

  it("a long document is cut, never the suffix: the prompt ends with it at maxLength tokens, scored as the reference scores those tokens", async () => {
    const { tokenizer } = loadTokenizer(source);
    const template: RerankTemplate = QWEN3_RERANKER_TEMPLATE;
    const suffix = tokenizer.encode(template.suffix, { add_special_tokens: false }).ids;
    const prefix = tokenizer.encode(template.prefix, { add_special_tokens: false }).ids;
    const head = new PromptPairEncoder(tokenizer, 10_000, template).encode(query, "").ids.length - 1; // without the trailing space
    const maxLength = head + 8;
    const long = "cats ".repeat(40);
    const encoded = new PromptPairEncoder(tokenizer, maxLength, template).encode(query, long);
    expect(encoded.ids).toHaveLength(maxLength);
    expect(encoded.ids.slice(-suffix.length)).toEqual(suffix);
    expect(encoded.ids.slice(0, prefix.length)).toEqual(prefix);
    expect(encoded.truncated).toBeGreaterThan(100);
    const reranker = await Reranker.load(out, { maxLength });
    try {
      const [score] = await reranker.score(query, [long]);
      const logit = withEncoder(
        source,
        (encoder) =>
          referenceOutputs(encoder, headsFor(encoder, { task: "rerank", answerTokens: SPEC }), padBatch([encoded.ids], 0))[
            OUTPUT.logits
          ]![0]!,
      );
      expect(score).toBeCloseTo(sigmoid(logit), 5);
      // A query that leaves no room for the document is an error naming the query.
      await expect(reranker.score("cats ".repeat(40), ["a"])).rejects.toThrow(/shorten the query/);
    } finally {
      await reranker.close();
    }
  });

  it("jazzmine-embed rerank takes --instruction and prints the Reranker's scores for it", async () => {
    const run = await runCli(["rerank", out, "--query", query, "--instruction", "Find the answer", ...documents.slice(0, 2)], { env: {} });
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as Array<{ index: number; score: number }>;
    const reranker = await Reranker.load(out);
    try {
      const scores = await reranker.score(query, documents.slice(0, 2), { instruction: "Find the answer" });
      for (const row of rows) expect(row.score).toBeCloseTo(scores[row.index]!, 6);
    } finally {
      await reranker.close();
    }
  });

  it("--rerank-tokens: a word that is not one token is an error naming it; other tokens change the head", async () => {
    const bad = await runCli(
      ["export", source, "-o", join(tempDir(), "bad"), "--fp32", "--task", "rerank", "--rerank-tokens", "yes,maybe"],
      {
        env: {},
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"maybe" is 5 tokens/);
    const usage = await runCli(["export", source, "-o", join(tempDir(), "bad"), "--fp32", "--task", "rerank", "--rerank-tokens", "yes"], {
      env: {},
    });
    expect(usage.code).toBe(2);
    const swapped = join(tempDir(), "swapped");
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(swapped, {
      quantized: false,
      task: "rerank",
      rerankTokens: ["no", "yes"],
    });
    expect(JSON.parse(readModel(path).metadata.rerank_tokens!).positive).toEqual({ token: "no", id: NO });
  });

  it("INT8 (static) keeps held-out Spearman ≥ 0.98 vs FP32 on the prompted built-in pairs", async () => {
    const int8 = join(tempDir(), "int8");
    // The fixture's tokenizer spends a token per byte: the template alone is ~175 tokens (Qwen's own: ~60).
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(int8, {
      quantized: true,
      task: "rerank",
      maxLength: 512,
    });
    expect(JSON.parse(readModel(path).metadata.rerank_template!)).toEqual(QWEN3_RERANKER_TEMPLATE);
    const report = JSON.parse(readFileSync(join(int8, "quantization_report.json"), "utf8")) as RerankQuantizationReport;
    expect(report.fidelity.passed).toBe(true);
    expect(report.fidelity.spearman).toBeGreaterThanOrEqual(0.98);
    expect(existsSync(join(int8, RERANK_TEMPLATE_FILE))).toBe(true);
  });
});

describe.each([
  {
    title: "Qwen3ForSequenceClassification",
    model: () => syntheticQwen3({ seed: 61, prefix: "model.", scoreLabels: 1, architectures: ["Qwen3ForSequenceClassification"] }),
  },
  {
    title: "Qwen2ForSequenceClassification",
    model: () =>
      syntheticQwen2({
        seed: 62,
        prefix: "model.",
        scoreLabels: 2,
        architectures: ["Qwen2ForSequenceClassification"],
        bidirectional: false,
      }),
  },
  {
    title: "Gemma3TextForSequenceClassification",
    model: () =>
      syntheticGemma3({
        seed: 63,
        prefix: "model.",
        scoreLabels: 3,
        architectures: ["Gemma3TextForSequenceClassification"],
        bidirectional: false,
      }),
  },
])("$title", ({ model }) => {
  it("is a reranker: score(last real token) within 1e-4 of the reference on batches padded on either side", async () => {
    const m = model();
    const labels = (m.tensors.find((t) => t.name === "score.weight")!.shape as number[])[0]!;
    const dir = writeDecoderFolder(join(tempDir(), "classifier"), m, undefined, { tokenizer: false });
    await withEncoder(dir, async (encoder) => {
      expect(detectTask(encoder)).toBe("rerank");
      const heads = headsFor(encoder, { task: "rerank" });
      const bytes = encodeModel(buildGraph(encoder, heads, { opset: 17, variant: "primary" }, "rerank"));
      for (const paddingSide of ["right", "left"] as const) {
        const batch = randomBatch(encoder.config, { batch: 3, sequence: 9, paddingSide, seed: 6 });
        const actual = await logitsInOrt(bytes, batch);
        expect(actual).toHaveLength(3 * labels);
        expect(relativeMaxError(actual, referenceOutputs(encoder, heads, batch)[OUTPUT.logits]!)).toBeLessThanOrEqual(
          FP32_RELATIVE_TOLERANCE,
        );
      }
    });
  });
});

describe("Qwen3ForSequenceClassification as published", () => {
  it("exports without flags to logits [batch, num_labels], verified (both padding sides)", async () => {
    const model = syntheticQwen3({ seed: 64, prefix: "model.", scoreLabels: 1, architectures: ["Qwen3ForSequenceClassification"] });
    const dir = writeDecoderFolder(join(tempDir(), "Qwen3-seq-cls"), model, undefined, { tokenizer: false });
    writeQwenTokenizerFiles(dir, RERANKER_TOKENIZER);
    const out = join(tempDir(), "out");
    const run = await runCli(["export", dir, "-o", out, "--fp32"], { env: {} });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("verified primary graph");
    const onnx = readModel(join(out, "Qwen3-seq-cls_fp32.onnx"));
    expect(onnx.graph.outputs.map((o) => [o.name, o.shape])).toEqual([["logits", ["batch", 1]]]);
    expect(onnx.metadata.head).toBe("qwen3:lasttoken");
    expect(existsSync(join(out, RERANK_TEMPLATE_FILE))).toBe(false);
  });
});
