// GTE v1.5 ("new"): fused qkv_proj, rotary positions with new-impl's fixed NTK scaling (checked
// against the formula's values), GLU whose gate is the second half of up_gate_proj.
import { describe, expect, it } from "vitest";
import { ConfigReader } from "../src/arch/config.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { parseGteConfig } from "../src/arch/gte.js";
import { ntkInverseFrequencies, ropeInverseFrequencies } from "../src/arch/positions.js";
import * as ref from "../src/arch/reference/math.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticGte } from "../src/fixtures/gte.js";
import { relativeMaxError } from "../src/export/verify.js";
import { VARIANTS, transcription } from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

const SOURCE = "models/gte/config.json";
const parse = (changes: Record<string, unknown> = {}) =>
  parseGteConfig(ConfigReader.fromText(JSON.stringify({ ...syntheticGte().config, ...changes }), SOURCE));

describe("GTE rotary frequencies", () => {
  const close = (actual: Float32Array, expected: number[]) => expected.forEach((e, i) => expect(actual[i]! / e).toBeCloseTo(1, 6));

  it("NTK (gte-base-en-v1.5: theta 500000, factor 2): (θ·f)^(-2i/d) / f^(2/d)", () => {
    const f = 2 ** 0.25;
    close(ntkInverseFrequencies(500000, 8, 2), [1 / f, 1e6 ** -0.25 / f, 1e6 ** -0.5 / f, 1e6 ** -0.75 / f]);
    expect(parse().rotary.inverseFrequencies).toEqual(ntkInverseFrequencies(500000, 8, 2));
  });

  it("mixed NTK (mixed_b): θ^(-2i/d) / exp(a·j^b), a = ln f / (d/2)^b", () => {
    close(ntkInverseFrequencies(500000, 8, 2, 1), [
      1 / 2 ** 0.25,
      500000 ** -0.25 / 2 ** 0.5,
      500000 ** -0.5 / 2 ** 0.75,
      500000 ** -0.75 / 2,
    ]);
  });

  it("no rope_scaling: plain θ^(-2i/d)", () => {
    expect(parse({ rope_scaling: null, rope_theta: 10000 }).rotary.inverseFrequencies).toEqual(ropeInverseFrequencies(10000, 8));
  });
});

describe("new config", () => {
  it("reads gte-base-en-v1.5's keys and NewConfig's defaults", () => {
    expect(parse()).toMatchObject({ hiddenSize: 32, heads: 4, typeVocabSize: 0, packedQkv: true, activation: "gelu", maxSequence: 128 });
    const defaults = parse({ type_vocab_size: undefined, max_position_embeddings: undefined, pack_qkv: undefined });
    expect(defaults).toMatchObject({ typeVocabSize: 1, maxSequence: 2048, packedQkv: true });
  });

  it("rejects what the export does not implement, naming the field", () => {
    expect(() => parse({ logn_attention_scale: true })).toThrow(
      `${SOURCE}: "logn_attention_scale": true (log-length query scaling) is not supported yet`,
    );
    expect(() => parse({ layer_norm_type: "rms_norm" })).toThrow(/"layer_norm_type" is "rms_norm"; supported values are "layer_norm"/);
    expect(() => parse({ rope_scaling: { type: "linear", factor: 2 } })).toThrow(
      `${SOURCE} › rope_scaling: "type" is "linear"; supported values are "ntk"`,
    );
    expect(() => parse({ rope_scaling: [2] })).toThrow(/"rope_scaling" is \[2\], expected a JSON object/);
    expect(() => parse({ position_embedding_type: "absolute" })).toThrow(
      /"position_embedding_type" is "absolute"; supported values are "rope"/,
    );
  });
});

describe("GTE graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticGte({ seed: 101 }));

  it("is the gte template, CLS fallback (NewModel has no pooler)", () => {
    expect(encoder.architecture.name).toBe("gte");
    expect(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }).metadata.pooler).toBe("cls");
  });

  it("one layer equals a line-by-line transcription of new-impl's NewModel forward", () => {
    const [s, eps] = [6, 1e-12];
    const t = transcription(syntheticGte({ seed: 106, layers: 1, typeVocab: 1 }), s, 4);
    // NewEmbeddings: words + token type 0 (no position table with rope), LayerNorm.
    const x = t.tokenEmbeddings("embeddings.LayerNorm", eps);
    // NewAttention: qkv_proj split in three, apply_rotary_pos_emb (rotate_half, NTK frequencies), o_proj.
    const [q, k, v] = ref.splitColumns(t.linear(x, "encoder.layer.0.attention.qkv_proj"), s, 3);
    const context = t.attend(q!, k!, v!, { rotary: { inverseFrequencies: ntkInverseFrequencies(500000, 8, 2), interleaved: false } });
    const h = t.norm(ref.add(x, t.linear(context, "encoder.layer.0.attention.o_proj")), "encoder.layer.0.attn_ln", eps);
    // NewGatedMLP: up_states, gate = split(up_gate_proj(h)); down_proj(act(gate) · up_states); post-norm mlp_ln.
    const [up, gate] = ref.splitColumns(t.linear(h, "encoder.layer.0.mlp.up_gate_proj"), s, 2);
    const mlp = t.linear(ref.mul(ref.activation(gate!, "gelu"), up!), "encoder.layer.0.mlp.down_proj");
    t.expectReference(t.norm(ref.add(h, mlp), "encoder.layer.0.mlp_ln", eps));
  });

  it("NTK scaling reaches the outputs: the same weights without rope_scaling differ", () => {
    const plain = syntheticEncoder(syntheticGte({ seed: 101, ropeScaling: null }));
    const batch = randomBatch(encoder.config, { batch: 1, sequence: 30 });
    expect(
      relativeMaxError(referenceForward(plain, batch).lastHiddenState, referenceForward(encoder, batch).lastHiddenState),
    ).toBeGreaterThan(1e-3);
  });

  it("separate q/k/v projections (pack_qkv false), mixed NTK, multilingual-style token type with token_type_ids", async () => {
    const models = [
      syntheticEncoder(syntheticGte({ seed: 102, packQkv: false, ropeScaling: null, ropeTheta: 10000 })),
      syntheticEncoder(syntheticGte({ seed: 103, ropeScaling: { type: "ntk", factor: 8, mixed_b: 1.5 }, ropeTheta: 20000, typeVocab: 1 })),
    ];
    for (const model of models) {
      const batches = [randomBatch(model.config, { batch: 3, sequence: 40, tokenTypes: true })];
      for (const variant of VARIANTS)
        await expectGraphMatchesReference(model, batches, { variant, tokenTypeIds: model.config.typeVocabSize > 0 });
    }
  });
});
