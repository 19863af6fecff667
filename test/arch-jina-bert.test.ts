// JinaBERT v2: a "bert" config routed by position_embedding_type "alibi", symmetric ALiBi biases
// computed in the graph for any length (checked against the paper's slopes), GEGLU / ReGLU
// feed-forwards with the gate in the first half of gated_layers.
import { describe, expect, it } from "vitest";
import { ConfigReader } from "../src/arch/config.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { jinaBert } from "../src/arch/jina-bert.js";
import { alibiSlopes } from "../src/arch/positions.js";
import * as ref from "../src/arch/reference/math.js";
import { architectureFor } from "../src/arch/registry.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticJinaBert } from "../src/fixtures/jina-bert.js";
import { runBlock, transcription } from "./helpers/architectures.js";
import { expectGraphMatchesReference, modelFolder, syntheticEncoder } from "./helpers/index.js";

describe("ALiBi", () => {
  it("slopes: 2^(-8i/n) for n a power of two; 12 heads interleave those of 8 and 16", () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
    expect(Array.from(alibiSlopes(4))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256]);
    const twelve = [...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i), ...[0.5, 1.5, 2.5, 3.5].map((i) => 2 ** -i)];
    Array.from(alibiSlopes(12)).forEach((slope, h) => expect(slope).toBeCloseTo(twelve[h]!, 7));
  });

  it("the graph's bias is −slope·|i − j| per head, symmetric, [1, heads, S, S] for the input's length", async () => {
    const slopes = alibiSlopes(4);
    const { data, dims } = await runBlock((nn, { ids }) => nn.alibiBias(ids, slopes), { batch: 2, sequence: 5 });
    expect(dims).toEqual([1, 4, 5, 5]);
    const reference = ref.alibiScoreBias(slopes);
    for (let h = 0; h < 4; h++) {
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 5; j++) {
          expect(data[(h * 5 + i) * 5 + j]).toBe(-slopes[h]! * Math.abs(i - j));
          expect(reference(0, h, i, j)).toBe(data[(h * 5 + i) * 5 + j]);
        }
      }
    }
  });
});

describe("JinaBERT routing and config", () => {
  const config = (changes: Record<string, unknown>) =>
    ConfigReader.fromText(JSON.stringify({ ...syntheticJinaBert().config, ...changes }), "jina/config.json");

  it('model_type "bert" with position_embedding_type "alibi" is JinaBERT; "absolute" stays BERT', () => {
    expect(architectureFor(config({})).name).toBe("jina_bert");
    expect(architectureFor(config({ position_embedding_type: "absolute" })).name).toBe("bert");
    expect(architectureFor(config({ position_embedding_type: undefined })).name).toBe("bert");
  });

  it("feed_forward_type picks the MLP; anything else is a clear error", () => {
    expect(jinaBert.parseConfig(config({}))).toMatchObject({ feedForward: "geglu", typeVocabSize: 2, maxSequence: 128 });
    expect(() => jinaBert.parseConfig(config({ feed_forward_type: "swiglu" }))).toThrow(
      'jina/config.json: "feed_forward_type" is "swiglu"; supported values are "original", "geglu", "reglu"',
    );
  });

  it("query/key LayerNorm checkpoints (jina-bert-v2-qk-post-norm) are refused by name", () => {
    const model = syntheticJinaBert();
    const extra = {
      name: "encoder.layer.0.attention.self.layer_norm_q.weight",
      dtype: "F32" as const,
      shape: [32],
      data: new Float32Array(32),
    };
    const encoder = loadEncoder(modelFolder({ ...model, tensors: [...model.tensors, extra] }));
    try {
      expect(() => buildEncoderGraph(encoder, { opset: 17, variant: "primary" })).toThrow(
        /layer_norm_q\): the jina-bert-v2-qk-post-norm variant .* is not supported yet/,
      );
    } finally {
      encoder.close();
    }
  });
});

describe("JinaBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticJinaBert({ seed: 91 }));

  it("keeps JinaBertModel's pooler", () => {
    expect(encoder.architecture.name).toBe("jina_bert");
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("dense_tanh");
  });

  it("one layer equals a line-by-line transcription of jina-bert-implementation's JinaBertModel forward", () => {
    const [s, eps] = [6, 1e-12];
    const t = transcription(syntheticJinaBert({ seed: 96, layers: 1 }), s, 4);
    // JinaBertEmbeddings with alibi: words + token type 0, LayerNorm.
    const x = t.tokenEmbeddings("embeddings.LayerNorm", eps);
    // JinaBertSelfAttention: softmax(qkᵀ/√d + mask + alibi), alibi = slopes · −|j − i|, slopes of 4 heads 1/4, 1/16, 1/64, 1/256.
    const slopes = [1 / 4, 1 / 16, 1 / 64, 1 / 256];
    const [q, k, v] = ["query", "key", "value"].map((p) => t.linear(x, `encoder.layer.0.attention.self.${p}`));
    const context = t.attend(q!, k!, v!, { scoreBias: (_b, h, i, j) => slopes[h]! * -Math.abs(j - i) });
    const a = t.norm(
      ref.add(t.linear(context, "encoder.layer.0.attention.output.dense"), x),
      "encoder.layer.0.attention.output.LayerNorm",
      eps,
    );
    // JinaBertGLUMLP: gated = first half, non_gated = second; wo(gelu(gated) · non_gated); layernorm(+ residual).
    const [gated, nonGated] = ref.splitColumns(t.linear(a, "encoder.layer.0.mlp.gated_layers"), s, 2);
    const mlp = t.linear(ref.mul(ref.activation(gated!, "gelu"), nonGated!), "encoder.layer.0.mlp.wo");
    const hidden = t.norm(ref.add(mlp, a), "encoder.layer.0.mlp.layernorm", eps);
    // JinaBertPooler (BertPooler): tanh(dense(first token)).
    t.expectReference(hidden, ref.tanh(t.linear(hidden.subarray(0, 32), "pooler.dense", 1)));
  });

  it("the bias is built once for all layers", () => {
    const model = buildEncoderGraph(syntheticEncoder(syntheticJinaBert({ seed: 92, layers: 4 })), { opset: 17, variant: "primary" });
    expect(model.graph.initializers.filter((i) => i.name.includes("alibi_slopes"))).toHaveLength(1);
    expect(model.graph.nodes.filter((n) => n.opType === "Abs")).toHaveLength(1);
  });

  it("ReGLU and the original BERT MLP", async () => {
    for (const feedForward of ["reglu", "original"] as const) {
      const other = syntheticEncoder(syntheticJinaBert({ seed: 93, feedForward }));
      await expectGraphMatchesReference(other, [randomBatch(other.config, { batch: 3, sequence: 40 })], { variant: "portable" });
    }
  });
});
