// ALBERT: factorized embeddings mapped to hidden_size, one layer group shared by all passes
// (its weights emitted once), the bare `pooler` Linear + tanh, AlbertForMaskedLM's "albert." prefix.
import { describe, expect, it } from "vitest";
import { type AlbertConfig, albert, albertGroupOf } from "../src/arch/albert.js";
import { buildEncoderGraph } from "../src/arch/encoder.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { byteLength } from "../src/graph/ir.js";
import { syntheticAlbert } from "../src/fixtures/albert.js";
import { VARIANTS, expectFp32Export, expectInt8Export, expectPaddingDoesNotLeak, expectSameEncoder, standardBatches } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";

describe("ALBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticAlbert({ seed: 61 }));

  it("reads embedding_size, num_hidden_groups, inner_group_num and gelu_new", () => {
    expect(encoder.architecture.name).toBe("albert");
    expect(encoder.config).toMatchObject({ embeddingSize: 16, hiddenSize: 32, layers: 3, hiddenGroups: 1, innerGroupLayers: 1, activation: "gelu_tanh" });
  });

  for (const variant of VARIANTS) {
    it(`${variant}: 1x1, 2x9, 3x40, 2x128 with padded rows`, async () => {
      await expectGraphMatchesReference(encoder, standardBatches(encoder.config), { variant });
    });
  }

  it("the shared layer is stored once: its weights do not grow with num_hidden_layers", () => {
    const graph = (layers: number) => {
      const { initializers, nodes } = buildEncoderGraph(syntheticEncoder(syntheticAlbert({ seed: 62, layers })), { opset: 17, variant: "primary" }).graph;
      return {
        nodes: nodes.length,
        bytes: initializers.reduce((sum, i) => sum + byteLength(i.data), 0),
        // Initializers from the checkpoint (small per-layer constants like reshape shapes aside).
        weights: initializers.filter((i) => i.name.includes("albert_layer_groups")).map((i) => i.name),
      };
    };
    const two = graph(2);
    const six = graph(6);
    expect(six.nodes).toBeGreaterThan(two.nodes);
    expect(six.weights).toEqual(two.weights);
    expect(six.weights.filter((n) => n.includes("albert_layers.0.ffn_output"))).toHaveLength(2); // weight + bias
    expect(six.bytes - two.bytes).toBeLessThan(1024); // a copy of the shared layer would add 33 KiB
  });

  it("layer groups: passes map to groups as AlbertTransformer's int(i / (layers / groups))", () => {
    const groups = (layers: number, hiddenGroups: number) =>
      Array.from({ length: layers }, (_, i) => albertGroupOf({ layers, hiddenGroups } as AlbertConfig, i));
    expect(groups(12, 1)).toEqual(Array(12).fill(0));
    expect(groups(12, 3)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(groups(3, 2)).toEqual([0, 0, 1]);
  });

  it("two groups of two inner layers over four passes", async () => {
    const grouped = syntheticEncoder(syntheticAlbert({ seed: 63, layers: 4, hiddenGroups: 2, innerGroupNum: 2 }));
    const batches = [randomBatch(grouped.config, { batch: 2, sequence: 9 }), randomBatch(grouped.config, { batch: 3, sequence: 40 })];
    for (const variant of VARIANTS) await expectGraphMatchesReference(grouped, batches, { variant });
  });

  it("padding does not leak; token_type_ids input", async () => {
    await expectPaddingDoesNotLeak(encoder, "portable");
    const batches = [randomBatch(encoder.config, { batch: 2, sequence: 10, tokenTypes: true })];
    await expectGraphMatchesReference(encoder, batches, { variant: "primary", tokenTypeIds: true });
  });

  it("AlbertModel's pooler (bare Linear + tanh) is pooler_output", () => {
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("dense_tanh");
  });

  it("AlbertForMaskedLM checkpoint: albert. prefix, predictions head ignored, CLS fallback", async () => {
    expect(albert.checkpointPrefixes).toEqual(["albert."]);
    const prefixed = syntheticEncoder(syntheticAlbert({ seed: 61, maskedLmHead: true }));
    expectSameEncoder(encoder, prefixed);
    expect(buildEncoderGraph(prefixed, { opset: 17, variant: "primary" }).metadata.pooler).toBe("cls");
    await expectGraphMatchesReference(prefixed, [randomBatch(prefixed.config, { batch: 2, sequence: 9 })], { variant: "primary" });
  });

  it("EmbeddingService.exportOnnxModel FP32 end to end (child-process verification)", async () => {
    await expectFp32Export(syntheticAlbert({ seed: 64 }), "tiny-albert", "albert");
  });

  it("EmbeddingService.exportOnnxModel INT8: cosine ≥ 0.99 with the FP32 reference", async () => {
    await expectInt8Export(syntheticAlbert({ seed: 65, vocab: BUNDLED_VOCAB_SIZE }), "tiny-albert");
  });
});
