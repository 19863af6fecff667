// ModernBERT: pre-norm layers (layer 0 without attn_norm), fused Wqkv with rotary positions
// (global and local theta), GeGLU with the activated half first, final_norm, and local layers
// that see only keys within local_attention / 2 — checked on known masks and by locality.
import { describe, expect, it } from "vitest";
import { MASK_VALUE } from "../src/arch/blocks.js";
import { ConfigReader } from "../src/arch/config.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { parseModernBertConfig } from "../src/arch/modernbert.js";
import { ropeInverseFrequencies } from "../src/arch/positions.js";
import * as ref from "../src/arch/reference/math.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticModernBert } from "../src/fixtures/modernbert.js";
import { VARIANTS, runBlock, transcription } from "./helpers/architectures.js";
import { expectGraphMatchesReference, runInProcess, syntheticEncoder } from "./helpers/index.js";

const SOURCE = "models/modernbert/config.json";
const parse = (changes: Record<string, unknown> = {}, base = syntheticModernBert().config) =>
  parseModernBertConfig(ConfigReader.fromText(JSON.stringify({ ...base, ...changes }), SOURCE));

describe("ModernBERT local attention", () => {
  it("the graph's window mask: MASK_VALUE (once) for padded keys and keys beyond half the window, 0 elsewhere", async () => {
    const attentionMask = [1, 1, 1, 1, 0];
    const { data, dims } = await runBlock((nn, { ids, mask }) => nn.slidingWindowMask(nn.additiveMask(mask), ids, 1), {
      batch: 1,
      sequence: 5,
      attentionMask,
    });
    expect(dims).toEqual([1, 1, 5, 5]);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const hidden = Math.abs(i - j) > 1 || attentionMask[j] === 0;
        expect(data[i * 5 + j]! + 0, `query ${i}, key ${j}`).toBe(hidden ? Math.fround(MASK_VALUE) : 0); // + 0: −0 is 0
      }
    }
  });

  it("the reference sees only keys within the window: a query beyond it ignores a key's value", () => {
    // One head, head size 1, q = k = 0 (uniform weights over visible keys), values 1..5.
    const v = Float32Array.of(1, 2, 3, 4, 5);
    const zeros = new Float32Array(5);
    const context = ref.attend(zeros, zeros, v, 1, 5, 1, Int32Array.of(1, 1, 1, 1, 1), { window: 1 });
    expect(Array.from(context)).toEqual([1.5, 2, 3, 4, 4.5].map(Math.fround));
  });

  it("with local layers only, a token changes no output farther than layers × local_attention / 2", async () => {
    const model = syntheticModernBert({ seed: 111, layers: 2, localAttention: 4 });
    model.config = { ...model.config, layer_types: ["sliding_attention", "sliding_attention"] };
    const encoder = syntheticEncoder(model);
    const batch = randomBatch(encoder.config, { batch: 1, sequence: 12, padded: false });
    const changed = { ...batch, inputIds: Int32Array.from(batch.inputIds, (id, t) => (t === 0 ? (id + 1) % 1000 : id)) };
    const h = encoder.config.hiddenSize;
    const graph = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const outputs = [
      [referenceForward(encoder, batch).lastHiddenState, referenceForward(encoder, changed).lastHiddenState],
      [(await runInProcess(graph, batch)).lastHiddenState, (await runInProcess(graph, changed)).lastHiddenState],
    ];
    for (const [before, after] of outputs) {
      // Token 0 reaches positions ≤ 2 after one layer and ≤ 4 after two; nothing beyond.
      expect(before!.subarray(5 * h)).toEqual(after!.subarray(5 * h));
      expect(before!.subarray(4 * h, 5 * h)).not.toEqual(after!.subarray(4 * h, 5 * h));
    }
  });
});

describe("modernbert config", () => {
  it("reads ModernBERT-base's keys: global every 3 layers, half of local_attention, two rope thetas", () => {
    const c = parse({ num_hidden_layers: 6, local_attention: 128 });
    expect(c.layerKinds).toEqual(["global", "local", "local", "global", "local", "local"]);
    expect(c).toMatchObject({
      halfWindow: 64,
      normEps: 1e-5,
      normBias: false,
      attentionBias: false,
      mlpBias: false,
      typeVocabSize: 0,
      activation: "gelu",
    });
    expect(c.rotary.global.inverseFrequencies).toEqual(ropeInverseFrequencies(160000, 8));
    expect(c.rotary.local.inverseFrequencies).toEqual(ropeInverseFrequencies(10000, 8));
    expect(parse({ local_rope_theta: null }).rotary.local).toEqual(c.rotary.global);
  });

  it("the newer layer_types / rope_parameters keys mean the same model", () => {
    const newer = syntheticModernBert({ seed: 112, layerTypes: true });
    const older = syntheticModernBert({ seed: 112 });
    expect(parse({}, newer.config)).toEqual(parse({}, older.config));
    expect(parse({ rope_parameters: { full_attention: { rope_theta: 1000 } } }, newer.config).rotary.global.inverseFrequencies).toEqual(
      ropeInverseFrequencies(1000, 8),
    );
  });

  it("rejects what the export does not implement, naming the field", () => {
    expect(() => parse({ rope_scaling: { rope_type: "yarn" } })).toThrow(`${SOURCE}: "rope_scaling" is not supported`);
    expect(() => parse({ layer_types: ["full_attention"] })).toThrow(/"layer_types" must list 3 values/);
    expect(() => parse({ rope_parameters: { sliding_attention: { rope_type: "linear" } } })).toThrow(
      `${SOURCE} › rope_parameters › sliding_attention: "rope_type" is "linear"; supported values are "default"`,
    );
  });
});

describe("ModernBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticModernBert({ seed: 113 }));

  it("is the modernbert template, CLS fallback (no pooler)", () => {
    expect(encoder.architecture.name).toBe("modernbert");
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("cls");
  });

  it("two layers (global, then local) equal a line-by-line transcription of modeling_modernbert's ModernBertModel forward", () => {
    const [s, eps] = [12, 1e-5];
    const t = transcription(syntheticModernBert({ seed: 118, layers: 2 }), s, 4);
    // ModernBertEmbeddings: norm(tok_embeddings(ids)), bias-free.
    let x = t.norm(t.rows("embeddings.tok_embeddings.weight", t.batch.inputIds), "embeddings.norm", eps);
    for (const [i, theta, window] of [
      [0, 160000, undefined],
      [1, 10000, 4],
    ] as const) {
      // ModernBertEncoderLayer: attn_norm (identity at layer 0) → Wqkv → (3, heads, d), rotary, sliding window |i − j| ≤ 8 // 2.
      const normed = i === 0 ? x : t.norm(x, `layers.${i}.attn_norm`, eps);
      const [q, k, v] = ref.splitColumns(t.linear(normed, `layers.${i}.attn.Wqkv`), s, 3);
      const rotary = { inverseFrequencies: ropeInverseFrequencies(theta, 8), interleaved: false };
      x = ref.add(x, t.linear(t.attend(q!, k!, v!, { rotary, ...(window ? { window } : {}) }), `layers.${i}.attn.Wo`));
      // ModernBertMLP: input, gate = Wi(mlp_norm(x)).chunk(2); Wo(act(input) · gate).
      const [input, gate] = ref.splitColumns(t.linear(t.norm(x, `layers.${i}.mlp_norm`, eps), `layers.${i}.mlp.Wi`), s, 2);
      x = ref.add(x, t.linear(ref.mul(ref.activation(input!, "gelu"), gate!), `layers.${i}.mlp.Wo`));
    }
    t.expectReference(t.norm(x, "final_norm", eps));
  });

  it("ModernBERT-base's 128-token window at 512 tokens, with norm/attention/MLP biases", async () => {
    const wide = syntheticEncoder(syntheticModernBert({ seed: 114, localAttention: 128, biases: true }));
    const batches = [randomBatch(wide.config, { batch: 2, sequence: 512 })];
    for (const variant of VARIANTS) await expectGraphMatchesReference(wide, batches, { variant });
  });

  it("one window mask and one rotary table per attention kind, whatever the depth", () => {
    const nodes = buildEncoderGraph(syntheticEncoder(syntheticModernBert({ seed: 115, layers: 6 })), { opset: 17, variant: "primary" })
      .graph.nodes;
    expect(nodes.filter((n) => n.opType === "Min")).toHaveLength(1);
    expect(nodes.filter((n) => n.opType === "Cos")).toHaveLength(2);
  });
});
