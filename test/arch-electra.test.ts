// ELECTRA discriminators as encoders: embedding_size-wide embeddings projected to hidden_size
// (embeddings_project), no pooler (CLS fallback), ElectraForPreTraining's "electra." prefix.
import { describe, expect, it } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticElectra } from "../src/fixtures/electra.js";
import { VARIANTS } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

describe("ELECTRA graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticElectra({ seed: 51 }));

  it("reads embedding_size apart from hidden_size", () => {
    expect(encoder.architecture.name).toBe("electra");
    expect(encoder.config).toMatchObject({ embeddingSize: 16, hiddenSize: 32, typeVocabSize: 2 });
  });

  it("projects the embeddings once, has no pooler (CLS fallback)", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    expect(model.graph.initializers.filter((i) => i.name.startsWith("embeddings_project")).map((i) => i.dims)).toEqual([[16, 32], [32]]);
    expect(model.metadata.pooler).toBe("cls");
  });

  it("embedding_size equal to hidden_size: no projection in checkpoint or graph", async () => {
    const square = syntheticEncoder(syntheticElectra({ seed: 52, embedding: 32 }));
    expect(square.weights.has("embeddings_project.weight")).toBe(false);
    for (const variant of VARIANTS)
      await expectGraphMatchesReference(square, [randomBatch(square.config, { batch: 2, sequence: 9 })], { variant });
  });
});
