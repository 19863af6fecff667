// ELECTRA discriminators as encoders: embedding_size-wide embeddings projected to hidden_size
// (embeddings_project), no pooler (CLS fallback), ElectraForPreTraining's "electra." prefix.
import { describe, expect, it } from "vitest";
import { electra } from "../src/arch/electra.js";
import { buildEncoderGraph } from "../src/arch/encoder.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticElectra } from "../src/fixtures/electra.js";
import { VARIANTS, expectFp32Export, expectInt8Export, expectPaddingDoesNotLeak, expectSameEncoder, standardBatches } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";

describe("ELECTRA graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticElectra({ seed: 51 }));

  it("reads embedding_size apart from hidden_size", () => {
    expect(encoder.architecture.name).toBe("electra");
    expect(encoder.config).toMatchObject({ embeddingSize: 16, hiddenSize: 32, typeVocabSize: 2 });
  });

  for (const variant of VARIANTS) {
    it(`${variant}: 1x1, 2x9, 3x40, 2x128 with padded rows`, async () => {
      await expectGraphMatchesReference(encoder, standardBatches(encoder.config), { variant });
    });
  }

  it("projects the embeddings once, has no pooler (CLS fallback)", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    expect(model.graph.initializers.filter((i) => i.name.startsWith("embeddings_project")).map((i) => i.dims)).toEqual([[16, 32], [32]]);
    expect(model.metadata.pooler).toBe("cls");
  });

  it("padding does not leak; token_type_ids input", async () => {
    await expectPaddingDoesNotLeak(encoder, "primary");
    const batches = [randomBatch(encoder.config, { batch: 2, sequence: 10, tokenTypes: true })];
    await expectGraphMatchesReference(encoder, batches, { variant: "portable", tokenTypeIds: true });
  });

  it("embedding_size equal to hidden_size: no projection in checkpoint or graph", async () => {
    const square = syntheticEncoder(syntheticElectra({ seed: 52, embedding: 32 }));
    expect(square.weights.has("embeddings_project.weight")).toBe(false);
    for (const variant of VARIANTS) await expectGraphMatchesReference(square, [randomBatch(square.config, { batch: 2, sequence: 9 })], { variant });
  });

  it("ElectraForPreTraining discriminator checkpoint: electra. prefix, discriminator head ignored", async () => {
    expect(electra.checkpointPrefixes).toEqual(["electra."]);
    const prefixed = syntheticEncoder(syntheticElectra({ seed: 51, discriminatorHead: true }));
    expectSameEncoder(encoder, prefixed);
    await expectGraphMatchesReference(prefixed, [randomBatch(prefixed.config, { batch: 3, sequence: 40 })], { variant: "primary" });
  });

  it("EmbeddingService.exportOnnxModel FP32 end to end (child-process verification)", async () => {
    await expectFp32Export(syntheticElectra({ seed: 53 }), "tiny-electra", "electra");
  });

  it("EmbeddingService.exportOnnxModel INT8: cosine ≥ 0.99 with the FP32 reference", async () => {
    await expectInt8Export(syntheticElectra({ seed: 54, vocab: BUNDLED_VOCAB_SIZE }), "tiny-electra");
  });
});
