// The BERT template, proven numerically: every emitted graph run in onnxruntime against the
// TypeScript reference forward of the same weights (relative max error ≤ 1e-4).
import { describe, expect, it } from "vitest";
import type { GraphVariant } from "../src/arch/graph-variant.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { DataType } from "../src/graph/ir.js";
import { decodeModel } from "../src/graph/onnx-reader.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { expectGraphMatchesReference, runInProcess, syntheticEncoder } from "./helpers/index.js";

const VARIANTS: GraphVariant[] = ["primary", "portable"];

describe("BERT graph vs reference forward", () => {
  const tiny = syntheticEncoder(syntheticBert({ seed: 11 }));
  const shapes: Array<[number, number]> = [
    [1, 1],
    [1, 16],
    [2, 7],
    [3, 33],
    [4, 128],
  ];

  for (const variant of VARIANTS) {
    it(`${variant}: batch 1-4, sequence 1-128, padded rows`, async () => {
      const batches = shapes.map(([batch, sequence]) => randomBatch(tiny.config, { batch, sequence }));
      await expectGraphMatchesReference(tiny, batches, { variant });
    });

    for (const opset of [13, 16, 21]) {
      it(`${variant}: opset ${opset}${opset < 17 ? " (LayerNormalization decomposed)" : ""}`, async () => {
        const batches = [randomBatch(tiny.config, { batch: 3, sequence: 12 })];
        await expectGraphMatchesReference(tiny, batches, { variant, opset });
      });
    }

    it(`${variant}: token_type_ids input`, async () => {
      const batches = [randomBatch(tiny.config, { batch: 2, sequence: 10, tokenTypes: true })];
      await expectGraphMatchesReference(tiny, batches, { variant, tokenTypeIds: true });
    });
  }

  it("a wider model (hidden 64, 8 heads, 3 layers) at 4x128", async () => {
    const wide = syntheticEncoder(
      syntheticBert({ seed: 5, layers: 3, hidden: 64, heads: 8, intermediate: 256, maxPositions: 512, vocab: 3000 }),
    );
    const batches = [randomBatch(wide.config, { batch: 4, sequence: 128 }), randomBatch(wide.config, { batch: 1, sequence: 300 })];
    for (const variant of VARIANTS) await expectGraphMatchesReference(wide, batches, { variant });
  });

  const variants: Array<[string, Parameters<typeof syntheticBert>[0], Parameters<typeof syntheticEncoder>[1]?]> = [
    ["BertForMaskedLM checkpoint (bert. prefix, cls.* head, no pooler)", { maskedLmHead: true, seed: 2 }],
    ["legacy LayerNorm gamma/beta names", { legacyNormNames: true, seed: 3 }],
    ["float16 weights", { dtype: "F16", seed: 4 }],
    ["bfloat16 weights", { dtype: "BF16", seed: 6 }],
    ["gelu_new activation", { activation: "gelu_new", seed: 7 }],
    ["relu activation, eps 1e-5", { activation: "relu", layerNormEps: 1e-5, seed: 8 }],
    ["no token types (type_vocab_size 0)", { typeVocab: 0, seed: 9 }],
    ["sharded checkpoint", { seed: 10 }, { shardBytes: 40_000 }],
  ];
  for (const [name, options, write] of variants) {
    it(name, async () => {
      const encoder = syntheticEncoder(syntheticBert(options), write);
      const batches = [randomBatch(encoder.config, { batch: 2, sequence: 9 }), randomBatch(encoder.config, { batch: 1, sequence: 1 })];
      for (const variant of VARIANTS) await expectGraphMatchesReference(encoder, batches, { variant });
    });
  }

  it("CLS fallback: without a pooler, pooler_output is the first token of last_hidden_state", async () => {
    const encoder = syntheticEncoder(syntheticBert({ pooler: false, seed: 12 }));
    const batch = randomBatch(encoder.config, { batch: 3, sequence: 5 });
    const out = await runInProcess(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }), batch);
    const h = encoder.config.hiddenSize;
    for (let b = 0; b < 3; b++) {
      expect(out.poolerOutput.subarray(b * h, (b + 1) * h)).toEqual(out.lastHiddenState.subarray(b * 5 * h, b * 5 * h + h));
    }
    const reference = referenceForward(encoder, batch);
    expect(reference.poolerOutput.subarray(0, h)).toEqual(reference.lastHiddenState.subarray(0, h));
  });

  it("padding does not leak: a row's output is the same alone or padded in a batch", async () => {
    const model = buildEncoderGraph(tiny, { opset: 17, variant: "primary" });
    const batch = randomBatch(tiny.config, { batch: 2, sequence: 12, seed: 3 });
    const length = batch.attentionMask.subarray(12).reduce((a, b) => a + b, 0);
    const alone = {
      batch: 1,
      sequence: length,
      inputIds: batch.inputIds.slice(12, 12 + length),
      attentionMask: batch.attentionMask.slice(12, 12 + length),
    };
    const padded = await runInProcess(model, batch);
    const single = await runInProcess(model, alone);
    const h = tiny.config.hiddenSize;
    const paddedRow = padded.lastHiddenState.subarray(12 * h, (12 + length) * h);
    for (let i = 0; i < paddedRow.length; i++) expect(paddedRow[i]).toBeCloseTo(single.lastHiddenState[i]!, 4);
  });
});

describe("graph contract (SPEC)", () => {
  const encoder = syntheticEncoder(syntheticBert({ seed: 13 }));

  it("declares int64 inputs and float outputs with dynamic batch/sequence, IR version of the opset, metadata", () => {
    const model = decodeModel(
      encodeModel(buildEncoderGraph(encoder, { opset: 17, variant: "primary", metadata: { source_model: "x/y" } })),
    );
    expect(model.irVersion).toBe(8);
    expect(model.opsetImports).toContainEqual({ domain: "", version: 17 });
    expect(model.graph.inputs).toEqual([
      { name: "input_ids", elemType: DataType.INT64, shape: ["batch", "sequence"] },
      { name: "attention_mask", elemType: DataType.INT64, shape: ["batch", "sequence"] },
    ]);
    expect(model.graph.outputs).toEqual([
      { name: "last_hidden_state", elemType: DataType.FLOAT, shape: ["batch", "sequence", 32] },
      { name: "pooler_output", elemType: DataType.FLOAT, shape: ["batch", 32] },
    ]);
    expect(model.producerName).toBe("@jazzmine/embedding");
    expect(model.metadata).toMatchObject({
      architecture: "bert",
      model_type: "bert",
      graph_variant: "primary",
      source_model: "x/y",
      pooler: "dense_tanh",
    });
  });

  it("adds token_type_ids only when asked, and IR 10 at opset 21", () => {
    const model = buildEncoderGraph(encoder, { opset: 21, variant: "portable", tokenTypeIds: true });
    expect(model.graph.inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(model.irVersion).toBe(10);
  });

  it("folds token type 0 into the position table: no token-type table without the input", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const names = model.graph.initializers.map((i) => i.name);
    expect(names.some((n) => n.includes("token_type_embeddings"))).toBe(false);
    expect(names.some((n) => n.includes("positions+token_type0"))).toBe(true);
  });

  it("primary attends in one Attention node per layer, its Q/K/V packed; portable spells attention out with three projections", () => {
    const count = (variant: GraphVariant, op: string) =>
      buildEncoderGraph(encoder, { opset: 17, variant }).graph.nodes.filter((n) => n.opType === op).length;
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const attention = model.graph.nodes.filter((n) => n.opType === "Attention");
    expect(attention).toHaveLength(2);
    const hidden = encoder.config.hiddenSize;
    expect(model.graph.initializers.find((i) => i.name === attention[0]!.inputs[1])!.dims).toEqual([hidden, 3 * hidden]);
    // per layer: output, FFN up + down (primary); plus attention scores + context and Q/K/V (portable); plus the pooler
    expect(count("primary", "MatMul")).toBe(2 * 3 + 1);
    expect(count("portable", "MatMul")).toBe(2 * (3 + 2 + 3) + 1);
    expect(count("portable", "Attention")).toBe(0);
  });
});
