// NomicBERT: GPT-2 style config keys, fused Wqkv, rotary positions computed in the graph (any
// length), SwiGLU with fc11 as value and fc12 as gate, checked against hand-computed rotations.
import { describe, expect, it } from "vitest";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { ConfigReader } from "../src/arch/config.js";
import { parseNomicBertConfig } from "../src/arch/nomic-bert.js";
import { ropeInverseFrequencies } from "../src/arch/positions.js";
import * as ref from "../src/arch/reference/math.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticNomicBert } from "../src/fixtures/nomic-bert.js";
import { VARIANTS, transcription } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

const SOURCE = "models/nomic/config.json";
const parse = (changes: Record<string, unknown> = {}) =>
  parseNomicBertConfig(ConfigReader.fromText(JSON.stringify({ ...syntheticNomicBert().config, ...changes }), SOURCE));

describe("rotary position embedding, by hand", () => {
  // Head size 4, base 100: frequencies 1 and 100^(-1/2) = 0.1; x = [1, 2, 3, 4] at position 2.
  const x = Float32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4);
  const at2 = (spec: { inverseFrequencies: Float32Array; interleaved: boolean }) =>
    Array.from(ref.applyRotary(x, 1, 3, 1, ref.rotaryTables(3, spec)).subarray(8));
  const [c2, s2, c02, s02] = [Math.cos(2), Math.sin(2), Math.cos(0.2), Math.sin(0.2)];
  const close = (actual: number[], expected: number[]) => expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 6));

  it("inverse frequencies are base^(-2i/d)", () => {
    expect(Array.from(ropeInverseFrequencies(10000, 8))).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
    expect(ropeInverseFrequencies(100, 4)[1]).toBeCloseTo(0.1, 7);
  });

  it("rotate_half pairs feature i with i + d/2", () => {
    close(at2({ inverseFrequencies: ropeInverseFrequencies(100, 4), interleaved: false }), [
      1 * c2 - 3 * s2,
      2 * c02 - 4 * s02,
      3 * c2 + 1 * s2,
      4 * c02 + 2 * s02,
    ]);
  });

  it("interleaved (GPT-J) pairs features 2i and 2i + 1", () => {
    close(at2({ inverseFrequencies: ropeInverseFrequencies(100, 4), interleaved: true }), [
      1 * c2 - 2 * s2,
      2 * c2 + 1 * s2,
      3 * c02 - 4 * s02,
      4 * c02 + 3 * s02,
    ]);
  });

  it("a partial rotary dimension (rotary_emb_fraction 0.5) leaves the other features alone", () => {
    close(at2({ inverseFrequencies: ropeInverseFrequencies(100, 2), interleaved: false }), [c2 - 2 * s2, 2 * c2 + s2, 3, 4]);
  });

  it("rotated query·key depends only on the offset between the positions", () => {
    const spec = { inverseFrequencies: ropeInverseFrequencies(1000, 8), interleaved: false };
    const q = Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1));
    const k = Float32Array.from({ length: 8 }, (_, i) => Math.cos(3 * i));
    const dot = (m: number, n: number) => {
      const tables = ref.rotaryTables(20, spec);
      const place = (v: Float32Array, p: number) => {
        const seq = new Float32Array(20 * 8);
        seq.set(v, p * 8);
        return ref.applyRotary(seq, 1, 20, 1, tables).subarray(p * 8, p * 8 + 8);
      };
      const [a, b] = [place(q, m), place(k, n)];
      return a.reduce((sum, v, i) => sum + v * b[i]!, 0);
    };
    expect(dot(5, 2)).toBeCloseTo(dot(13, 10), 5);
    expect(dot(5, 2)).not.toBeCloseTo(dot(5, 3), 3);
  });
});

describe("nomic_bert config", () => {
  it("reads nomic-embed-text's keys: GPT-2 names, padded vocabulary, rotary, no biases", () => {
    const c = parse();
    expect(c).toMatchObject({
      hiddenSize: 32,
      heads: 4,
      layers: 2,
      intermediateSize: 256,
      vocabSize: 1024,
      gated: true,
      activation: "silu",
    });
    expect(c).toMatchObject({ qkvBias: false, fc1Bias: false, fc2Bias: false, typeVocabSize: 2, maxSequence: 128, layerNormEps: 1e-12 });
    expect(c.rotary.inverseFrequencies).toEqual(ropeInverseFrequencies(1000, 8));
  });

  it("sizes the MLP as NomicBertBlock does: gated widths round up to 256", () => {
    expect(parse({ n_inner: 200 }).intermediateSize).toBe(256);
    expect(parse({ n_inner: null }).intermediateSize).toBe(256); // int(8·32/3) = 85 → 256
    expect(parse({ n_inner: null, activation_function: "gelu" })).toMatchObject({
      intermediateSize: 128,
      gated: false,
      activation: "gelu",
    });
    expect(parse({ activation_function: "gelu_new" }).activation).toBe("gelu"); // F.gelu, exact, for every gelu name
    expect(parse({ n_positions: 0 }).maxSequence).toBe(2048);
  });

  it("rejects what the export does not implement, naming the field", () => {
    expect(() => parse({ prenorm: true })).toThrow(`${SOURCE}: "prenorm": true is not supported`);
    expect(() => parse({ num_experts: 8, moe_every_n_layers: 2 })).toThrow(/mixture-of-experts layers .* are not supported yet/);
    expect(() => parse({ rotary_scaling_factor: 2 })).toThrow(/"rotary_scaling_factor" is 2; only null/);
    expect(() => parse({ rotary_emb_fraction: 0 })).toThrow(/learned position embeddings are not supported/);
    expect(() => parse({ rotary_emb_fraction: 0.3 })).toThrow(/rotary_emb_fraction 0.3 of head size 8 is not an even number/);
    expect(() => parse({ activation_function: "glu" })).toThrow(/"activation_function" is "glu"; supported values are "swiglu", "geglu"/);
  });
});

describe("NomicBERT graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticNomicBert({ seed: 81, vocab: 1000 }));

  it("is the nomic_bert template, CLS fallback (NomicBertModel drops its pooler)", () => {
    expect(encoder.architecture.name).toBe("nomic_bert");
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("cls");
  });

  it("one layer equals a line-by-line transcription of modeling_hf_nomic_bert's NomicBertModel forward", () => {
    const [s, eps] = [6, 1e-12];
    const t = transcription(syntheticNomicBert({ seed: 86, layers: 1, vocab: 1000 }), s, 4);
    // NomicBertEmbeddings: words + token type 0 (rotary: no position table); emb_ln.
    const x = t.tokenEmbeddings("emb_ln", eps);
    // NomicBertAttention: Wqkv → (three h d); rotary on q and k (rotate_half, base 1000); out_proj.
    const [q, k, v] = ref.splitColumns(t.linear(x, "encoder.layers.0.attn.Wqkv"), s, 3);
    const context = t.attend(q!, k!, v!, { rotary: { inverseFrequencies: ropeInverseFrequencies(1000, 8), interleaved: false } });
    // NomicBertBlock (post-norm): norm1(attn + x); NomciBertGatedMLP: fc2(fc11(h) · silu(fc12(h))); norm2(mlp + h).
    const h = t.norm(ref.add(t.linear(context, "encoder.layers.0.attn.out_proj"), x), "encoder.layers.0.norm1", eps);
    const gated = ref.mul(t.linear(h, "encoder.layers.0.mlp.fc11"), ref.activation(t.linear(h, "encoder.layers.0.mlp.fc12"), "silu"));
    t.expectReference(t.norm(ref.add(t.linear(gated, "encoder.layers.0.mlp.fc2"), h), "encoder.layers.0.norm2", eps));
  });

  it("GeGLU with biases, interleaved rotary over half of each head; plain GELU MLP", async () => {
    const geglu = syntheticEncoder(
      syntheticNomicBert({ seed: 82, activation: "geglu", biases: true, rotaryFraction: 0.5, rotaryInterleaved: true }),
    );
    const plain = syntheticEncoder(syntheticNomicBert({ seed: 83, activation: "gelu" }));
    for (const model of [geglu, plain]) {
      const batches = [randomBatch(model.config, { batch: 3, sequence: 40 })];
      for (const variant of VARIANTS) await expectGraphMatchesReference(model, batches, { variant });
    }
  });

  it("the primary graph projects Q/K/V and the gate/up pair with one MatMul each", () => {
    const nodes = buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).graph.nodes;
    const weightMatMuls = nodes.filter((n) => n.opType === "MatMul" && n.inputs.some((i) => i.includes("encoder.layers.0.")));
    expect(weightMatMuls.map((n) => n.inputs[1])).toEqual([
      expect.stringContaining("attn.Wqkv+packed"),
      expect.stringContaining("attn.out_proj"),
      expect.stringContaining("mlp.fc12+packed"),
      expect.stringContaining("mlp.fc2"),
    ]);
  });
});
