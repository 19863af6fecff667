// MPNet: RoBERTa-style positions, and the relative position bias (T5-style buckets, shared by
// all layers) computed in the graph from the sequence length and checked against transformers'
// bucket values.
import { describe, expect, it } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { relativeBucketTable, relativePositionBucket } from "../src/arch/mpnet.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticMpnet } from "../src/fixtures/mpnet.js";
import { VARIANTS } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

describe("MPNet relative position buckets", () => {
  it("match MPNetEncoder.relative_position_bucket (32 buckets, max distance 128)", () => {
    // key − query offset → bucket: keys before the query in 0-15, after it in 16-31.
    const expected: Array<[number, number]> = [
      [0, 0],
      [-1, 1],
      [-7, 7],
      [-8, 8],
      [-15, 9],
      [-16, 10],
      [-31, 11],
      [-32, 12],
      [-63, 13],
      [-64, 14],
      [-127, 15],
      [-128, 15],
      [-1000, 15],
      [1, 17],
      [7, 23],
      [8, 24],
      [16, 26],
      [64, 30],
      [127, 31],
      [500, 31],
    ];
    for (const [offset, bucket] of expected) expect(relativePositionBucket(offset), `offset ${offset}`).toBe(bucket);
  });

  it("stop changing beyond max distance, so the graph's clipped table covers every offset", () => {
    const table = relativeBucketTable();
    expect(table).toHaveLength(257);
    for (let offset = -700; offset <= 700; offset++) {
      expect(table[Math.max(-128, Math.min(128, offset)) + 128]).toBe(relativePositionBucket(offset));
    }
  });
});

describe("MPNet graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticMpnet({ seed: 71 }));

  it("parses pad_token_id 1, no token types, 128 tokens for 130 positions", () => {
    expect(encoder.architecture.name).toBe("mpnet");
    expect(encoder.config).toMatchObject({ padTokenId: 1, typeVocabSize: 0, maxSequence: 128, relativeBuckets: 32 });
  });

  it("offsets beyond max distance 128: a 300-token sequence", async () => {
    const long = syntheticEncoder(syntheticMpnet({ seed: 72, maxPositions: 302 }));
    for (const variant of VARIANTS)
      await expectGraphMatchesReference(long, [randomBatch(long.config, { batch: 1, sequence: 300 })], { variant });
  });

  it("the bias table is one initializer, gathered once for all layers", () => {
    const model = buildEncoderGraph(syntheticEncoder(syntheticMpnet({ seed: 73, layers: 4 })), { opset: 17, variant: "primary" });
    expect(model.graph.initializers.filter((i) => i.name.includes("relative_attention_bias"))).toHaveLength(1);
    const biasGathers = model.graph.nodes.filter(
      (n) => n.opType === "Gather" && n.inputs.some((i) => i.includes("relative_attention_bias")),
    );
    expect(biasGathers).toHaveLength(1);
  });

  it("relative_attention_num_buckets above 32 (transformers still buckets into 32)", async () => {
    const wide = syntheticEncoder(syntheticMpnet({ seed: 74, relativeBuckets: 40 }));
    await expectGraphMatchesReference(wide, [randomBatch(wide.config, { batch: 2, sequence: 40 })], { variant: "primary" });
  });
});
