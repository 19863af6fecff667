// DistilBERT: its own weight names and config keys, no token types, no pooler (CLS fallback),
// fixed sinusoidal positions when sinusoidal_pos_embds is set and the checkpoint lacks the table.
import { describe, expect, it } from "vitest";
import { sinusoidalPositionTable } from "../src/arch/distilbert.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticDistilBert } from "../src/fixtures/distilbert.js";
import { VARIANTS, expectSameEncoder } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

describe("DistilBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticDistilBert({ seed: 41 }));

  it("reads dim / n_heads / n_layers / hidden_dim, eps 1e-12, no token types", () => {
    expect(encoder.architecture.name).toBe("distilbert");
    expect(encoder.config).toMatchObject({
      hiddenSize: 32,
      heads: 4,
      layers: 2,
      intermediateSize: 64,
      typeVocabSize: 0,
      layerNormEps: 1e-12,
    });
  });

  it("has no pooler (CLS fallback) and no token_type_ids input even when asked", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary", tokenTypeIds: true });
    expect(model.graph.inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask"]);
    expect(model.metadata.pooler).toBe("cls");
  });

  it("relu activation", async () => {
    const relu = syntheticEncoder(syntheticDistilBert({ seed: 42, activation: "relu" }));
    for (const variant of VARIANTS)
      await expectGraphMatchesReference(relu, [randomBatch(relu.config, { batch: 2, sequence: 9 })], { variant });
  });

  it("sinusoidal_pos_embds: transformers' sin/cos table", () => {
    const dim = 6;
    const table = sinusoidalPositionTable(4, dim);
    expect(Array.from(table.subarray(0, dim))).toEqual([0, 1, 0, 1, 0, 1]);
    const p = 3;
    const expected = [0, 0, 1, 1, 2, 2].map((k, j) => (j % 2 ? Math.cos : Math.sin)(p / 10000 ** ((2 * k) / dim)));
    expect(Array.from(table.subarray(p * dim, (p + 1) * dim))).toEqual(expected.map(Math.fround));
  });

  it("sinusoidal_pos_embds without a stored table: computed, in graph and reference alike", async () => {
    const computed = syntheticEncoder(syntheticDistilBert({ seed: 43, sinusoidalPositions: true, omitPositionTable: true }));
    expect(computed.weights.has("embeddings.position_embeddings.weight")).toBe(false);
    const batches = [randomBatch(computed.config, { batch: 3, sequence: 40 }), randomBatch(computed.config, { batch: 1, sequence: 128 })];
    for (const variant of VARIANTS) await expectGraphMatchesReference(computed, batches, { variant });
  });

  it("sinusoidal_pos_embds with a stored table: the stored table wins, as when transformers loads it", () => {
    expectSameEncoder(encoder, syntheticEncoder(syntheticDistilBert({ seed: 41, sinusoidalPositions: true })));
  });

  it("without sinusoidal_pos_embds a missing position table is a clear error", () => {
    const missing = syntheticEncoder(syntheticDistilBert({ seed: 44, omitPositionTable: true }));
    expect(() => buildEncoderGraph(missing, { opset: 17, variant: "primary" })).toThrow(/embeddings\.position_embeddings\.weight/);
  });
});
