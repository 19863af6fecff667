// ALBERT: factorized embeddings mapped to hidden_size, one layer group shared by all passes
// (its weights emitted once), the bare `pooler` Linear + tanh, AlbertForMaskedLM's "albert." prefix.
import { describe, expect, it } from "vitest";
import { type AlbertConfig, albertGroupOf } from "../src/arch/albert.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { byteLength } from "../src/graph/ir.js";
import { syntheticAlbert } from "../src/fixtures/albert.js";
import { VARIANTS } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

describe("ALBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticAlbert({ seed: 61 }));

  it("reads embedding_size, num_hidden_groups, inner_group_num and gelu_new", () => {
    expect(encoder.architecture.name).toBe("albert");
    expect(encoder.config).toMatchObject({
      embeddingSize: 16,
      hiddenSize: 32,
      layers: 3,
      hiddenGroups: 1,
      innerGroupLayers: 1,
      activation: "gelu_tanh",
    });
  });

  it("the shared layer is stored once: its weights do not grow with num_hidden_layers", () => {
    const graph = (layers: number) => {
      const { initializers, nodes } = buildEncoderGraph(syntheticEncoder(syntheticAlbert({ seed: 62, layers })), {
        opset: 17,
        variant: "primary",
      }).graph;
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

  it("AlbertModel's pooler (bare Linear + tanh) is pooler_output", () => {
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("dense_tanh");
  });
});
