// The reference forward is the yardstick for every graph, so it is checked against values
// computed by hand: textbook function values, and a one-layer BERT whose weights make the
// answer derivable on paper.
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { referenceForward } from "../src/heads/graph.js";
import * as ref from "../src/arch/reference/math.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { relativeMaxError } from "../src/export/verify.js";
import { runInProcess, syntheticEncoder } from "./helpers/index.js";
import { TensorMemo, WeightReader, tensorRef } from "../src/arch/weight-refs.js";
import type { WeightStore } from "../src/checkpoint/weights.js";
import { verificationBatch, verificationRows } from "../src/export/verify.js";
import { referenceOutputs, referenceOutputsOf } from "../src/heads/graph.js";
import { FEATURE_EXTRACTION, type TaskSpec, headsFor } from "../src/heads/tasks.js";
import {
  syntheticAlbert,
  syntheticBert,
  syntheticJinaBert,
  syntheticModernBert,
  syntheticMpnet,
  syntheticNomicBert,
  syntheticReranker,
} from "../src/fixtures/index.js";
import { syntheticGemma3, syntheticQwen3 } from "../src/fixtures/decoders.js";

const close = (actual: ArrayLike<number>, expected: number[], digits = 6) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};

describe("reference math, textbook values", () => {
  it("erf", () => {
    const cases: Array<[number, number]> = [
      [0, 0],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [-2, -0.9953222650189527],
      [3, 0.9999779095030014],
    ];
    for (const [x, e] of cases) expect(ref.erf(x)).toBeCloseTo(e, 6);
  });

  it("activations", () => {
    const x = Float32Array.of(1, -1, 0, 2);
    close(ref.activation(x, "gelu"), [0.8413447460685429, -0.15865525393145707, 0, 1.9544997361036416]);
    close(ref.activation(x, "gelu_tanh"), [0.8411919906082768, -0.15880800939172324, 0, 1.9545976940871754]);
    close(ref.activation(x, "relu"), [1, 0, 0, 2]);
    close(ref.activation(x, "silu"), [0.7310585786300049, -0.2689414213699951, 0, 1.7615941559557646]);
    close(ref.activation(x, "quick_gelu"), [0.8457957659328212, -0.15420423406717886, 0, 1.9356585741043092]);
  });

  it("layer norm of [1, 2, 3, 4] and [4, 0, 0, 0]", () => {
    const norm = { gamma: Float32Array.of(1, 1, 1, 1), beta: Float32Array.of(0, 0, 0, 0), eps: 0 };
    const y = ref.layerNorm(Float32Array.of(1, 2, 3, 4, 4, 0, 0, 0), norm);
    close(y, [-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865, 1.7320508076, -0.5773502692, -0.5773502692, -0.5773502692]);
    const scaled = ref.layerNorm(Float32Array.of(1, 2, 3, 4), {
      gamma: Float32Array.of(2, 2, 2, 2),
      beta: Float32Array.of(1, 1, 1, 1),
      eps: 0,
    });
    close(scaled, [-1.683281573, 0.105572809, 1.894427191, 3.683281573]);
  });

  it("linear uses nn.Linear's [out, in] layout", () => {
    const w = { weight: Float32Array.of(1, 0, 0, 1, 1, 1), bias: Float32Array.of(0.5, 0, -1), inFeatures: 2, outFeatures: 3 };
    close(ref.linear(Float32Array.of(1, 2, -1, 3), 2, w), [1.5, 2, 2, -0.5, 3, 1]);
  });

  it("attention of two orthogonal tokens, with and without a padded key", () => {
    const identity = { weight: Float32Array.of(1, 0, 0, 1), inFeatures: 2, outFeatures: 2 };
    const w = { query: identity, key: identity, value: identity, output: identity, heads: 1 };
    const x = Float32Array.of(1, 0, 0, 1);
    // scores x·xᵀ/√2 = [[0.7071, 0], [0, 0.7071]] → softmax weights e^0.7071/(e^0.7071+1) = 0.66976
    close(
      ref.selfAttention(x, 1, 2, w, Int32Array.of(1, 1)),
      [0.6697615493266569, 0.3302384506733431, 0.3302384506733431, 0.6697615493266569],
    );
    // the second key is padding: both queries see only the first token
    close(ref.selfAttention(x, 1, 2, w, Int32Array.of(1, 0)), [1, 0, 1, 0]);
  });

  it("two heads attend independently", () => {
    // hidden 2, heads 2 (head size 1): head 0 sees dimension 0, head 1 dimension 1.
    const identity = { weight: Float32Array.of(1, 0, 0, 1), inFeatures: 2, outFeatures: 2 };
    const w = { query: identity, key: identity, value: identity, output: identity, heads: 2 };
    // token 0 = [2, 0], token 1 = [0, 2]. Query 0, head 0: scores [4, 0] → weights [σ(4), 1 − σ(4)]
    // over values [2, 0]; head 1: scores [0, 0] → uniform over [0, 2] = 1. Query 1 mirrors it.
    const y = ref.selfAttention(Float32Array.of(2, 0, 0, 2), 1, 2, w, Int32Array.of(1, 1));
    const p = 1 / (1 + Math.exp(-4));
    close(y, [2 * p, 1, 1, 2 * p], 5);
  });
});

/** A one-layer BERT, hidden 4, where Q = K = 0 makes attention a plain average. */
function handModel(): SyntheticModel {
  const h = 4;
  const zeros = (n: number) => new Float32Array(n);
  const identity = Float32Array.from({ length: h * h }, (_, i) => (i % (h + 1) === 0 ? 1 : 0));
  const t = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: "F32" as const, shape, data });
  const linear = (prefix: string, inF: number, outF: number, weight: Float32Array, bias = zeros(outF)) => [
    t(`${prefix}.weight`, [outF, inF], weight),
    t(`${prefix}.bias`, [outF], bias),
  ];
  const norm = (prefix: string) => [t(`${prefix}.weight`, [h], Float32Array.of(1, 1, 1, 1)), t(`${prefix}.bias`, [h], zeros(h))];
  const l = "encoder.layer.0";
  return {
    config: {
      model_type: "bert",
      hidden_size: h,
      num_attention_heads: 1,
      num_hidden_layers: 1,
      intermediate_size: 2,
      hidden_act: "gelu",
      layer_norm_eps: 1e-12,
      max_position_embeddings: 4,
      type_vocab_size: 1,
      vocab_size: 3,
      pad_token_id: 0,
    },
    tensors: [
      // token 1 = [1, 2, 3, 4], token 2 = [4, 0, 0, 0]; positions and token type add nothing
      t("embeddings.word_embeddings.weight", [3, h], Float32Array.of(0, 0, 0, 0, 1, 2, 3, 4, 4, 0, 0, 0)),
      t("embeddings.position_embeddings.weight", [4, h], zeros(16)),
      t("embeddings.token_type_embeddings.weight", [1, h], zeros(4)),
      ...norm("embeddings.LayerNorm"),
      ...linear(`${l}.attention.self.query`, h, h, zeros(16)),
      ...linear(`${l}.attention.self.key`, h, h, zeros(16)),
      ...linear(`${l}.attention.self.value`, h, h, identity),
      ...linear(`${l}.attention.output.dense`, h, h, identity),
      ...norm(`${l}.attention.output.LayerNorm`),
      // FFN up is zero → gelu(0) = 0 → the block adds only the down bias [0, 0, 0, 0]
      ...linear(`${l}.intermediate.dense`, h, 2, zeros(8)),
      ...linear(`${l}.output.dense`, 2, h, Float32Array.of(5, 5, 5, 5, 5, 5, 5, 5)),
      ...norm(`${l}.output.LayerNorm`),
      ...linear("pooler.dense", h, h, identity),
    ],
  };
}

describe("a one-layer BERT computed by hand", () => {
  const encoder = syntheticEncoder(handModel());
  const a = [-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865]; // LN([1,2,3,4])
  const b = [1.7320508076, -0.5773502692, -0.5773502692, -0.5773502692]; // LN([4,0,0,0])
  const ln = (v: number[]) => {
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    return v.map((x) => (x - mean) / sd);
  };
  const batch: TokenBatch = { batch: 2, sequence: 2, inputIds: Int32Array.of(1, 2, 1, 0), attentionMask: Int32Array.of(1, 1, 1, 0) };
  // Row 0: both tokens unmasked, attention output at every position = mean(a, b).
  const mean = a.map((x, i) => (x + b[i]!) / 2);
  const row0 = [ln(a.map((x, i) => x + mean[i]!)), ln(b.map((x, i) => x + mean[i]!))];
  // Row 1: the second token is padding; both positions attend to token 0 only (value a).
  const padId0 = [0, 0, 0, 0];
  const row1 = [ln(a.map((x, i) => x + a[i]!)), ln(padId0.map((x, i) => x + a[i]!))];

  it("reference: last_hidden_state and pooler_output", () => {
    const out = referenceForward(encoder, batch);
    close(out.lastHiddenState, [...row0[0]!, ...row0[1]!, ...row1[0]!, ...row1[1]!], 4);
    // pooler: tanh(identity · first token)
    close(out.poolerOutput, [...row0[0]!.map(Math.tanh), ...row1[0]!.map(Math.tanh)], 4);
    // row 1, token 0 is LN(2a) = a: the literal values
    close(out.lastHiddenState.subarray(8, 12), a, 4);
    close(out.poolerOutput.subarray(4, 8), a.map(Math.tanh), 4);
  });

  it("both emitted graphs agree with it", async () => {
    const expected = referenceForward(encoder, batch);
    for (const variant of ["primary", "portable"] as const) {
      const actual = await runInProcess(buildEncoderGraph(encoder, { opset: 17, variant }), batch);
      expect(relativeMaxError(actual.lastHiddenState, expected.lastHiddenState)).toBeLessThan(1e-5);
      expect(relativeMaxError(actual.poolerOutput, expected.poolerOutput)).toBeLessThan(1e-5);
    }
  });
});

describe("the reference of several batches reads each weight once", () => {
  /** A store that counts the float32 reads of each tensor. */
  function counting(store: WeightStore): { store: WeightStore; reads: Map<string, number> } {
    const reads = new Map<string, number>();
    const count = (name: string) => reads.set(name, (reads.get(name) ?? 0) + 1);
    const wrapped: WeightStore = {
      source: store.source,
      names: () => store.names(),
      has: (name) => store.has(name),
      info: (name) => store.info(name),
      float32: (name) => (count(name), store.float32(name)),
      finiteFloat32: (name) => (count(name), store.finiteFloat32(name)),
      float32Bytes: (name) => store.float32Bytes(name),
      close: () => store.close(),
    };
    return { store: wrapped, reads };
  }

  const cases: Array<[string, SyntheticModel, TaskSpec]> = [
    [
      "bert + mean pooling",
      syntheticBert({ seed: 301 }),
      { task: "feature-extraction", sentenceEmbedding: { pooling: "mean", normalize: true } },
    ],
    ["albert", syntheticAlbert({ seed: 302 }), FEATURE_EXTRACTION],
    ["jina_bert", syntheticJinaBert({ seed: 303 }), FEATURE_EXTRACTION],
    ["mpnet", syntheticMpnet({ seed: 304 }), FEATURE_EXTRACTION],
    ["nomic_bert", syntheticNomicBert({ seed: 305 }), FEATURE_EXTRACTION],
    ["modernbert (window)", syntheticModernBert({ seed: 306, layers: 3, localAttention: 4 }), FEATURE_EXTRACTION],
    [
      "qwen3 + last-token pooling",
      syntheticQwen3({ seed: 307 }),
      { task: "feature-extraction", sentenceEmbedding: { pooling: "lasttoken", normalize: true } },
    ],
    [
      "gemma3 ((1 + w) norms) + mean pooling",
      syntheticGemma3({ seed: 308 }),
      { task: "feature-extraction", sentenceEmbedding: { pooling: "mean", normalize: true } },
    ],
    ["roberta reranker (classifier head)", syntheticReranker("roberta", { seed: 309 }), { task: "rerank" }],
  ];

  it.each(cases)("%s: the same numbers as one batch at a time", (_, model, task) => {
    const encoder = syntheticEncoder(model);
    const weights = counting(encoder.weights.store);
    const checkpoint = counting(encoder.checkpoint.store);
    const counted = { ...encoder, weights: new WeightReader(weights.store), checkpoint: new WeightReader(checkpoint.store) };
    const batches = verificationRows(verificationBatch(encoder.config));
    const heads = headsFor(encoder, task);
    const together = referenceOutputsOf(counted, heads, batches);
    const readsTogether = [...weights.reads.values(), ...checkpoint.reads.values()];
    expect(readsTogether.length).toBeGreaterThan(0);
    expect(readsTogether.every((n) => n === 1)).toBe(true);
    expect(together).toEqual(batches.map((batch) => referenceOutputs(encoder, heads, batch)));
  });

  it("reads again what does not fit the memo's budget", () => {
    const encoder = syntheticEncoder(syntheticBert({ seed: 310 }));
    const { store, reads } = counting(encoder.weights.store);
    const memo = new TensorMemo(4 * 32); // room for one 32-value vector
    const reader = new WeightReader(store).memoized(memo);
    const norm = tensorRef("embeddings.LayerNorm.weight", [32]);
    const bias = tensorRef("embeddings.LayerNorm.bias", [32]);
    expect(reader.tensor(norm)).toBe(reader.tensor(norm));
    expect(reader.tensor(bias)).toEqual(reader.tensor(bias));
    expect(reads.get("embeddings.LayerNorm.weight")).toBe(1);
    expect(reads.get("embeddings.LayerNorm.bias")).toBe(2);
  });
});
