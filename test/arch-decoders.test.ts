// Decoder-family templates (qwen3, qwen2, gemma3_text) on the pre-norm skeleton: hand-computed
// cases for each new primitive (both RMSNorm kinds, grouped-query head mapping, causal and
// left-padded masks, the Gemma window boundary, rotary over head_dim ≠ hidden / heads, last-token
// pooling on both padding sides, the Dense chain), transcriptions of transformers' forwards
// independent of the templates' weight tables, graph vs reference on batches padded on either
// side, and the checkpoints' layouts (Qwen3ForCausalLM over a bare model, "model." prefixes, BF16,
// shards, sentence-transformers files).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { MASK_VALUE } from "../src/arch/blocks.js";
import { ConfigReader } from "../src/arch/config.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { parseGemma3Config } from "../src/arch/gemma3.js";
import { ropeInverseFrequencies } from "../src/arch/positions.js";
import { qwen3 } from "../src/arch/qwen.js";
import * as ref from "../src/arch/reference/math.js";
import { plusOne } from "../src/arch/weight-refs.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { QWEN3_EMBEDDING_PROMPTS } from "../src/fixtures/decoder-tokenizers.js";
import { syntheticGemma3, syntheticQwen2, syntheticQwen3, writeDecoderFolder } from "../src/fixtures/decoders.js";
import { Embedder } from "../src/runtime/embedder.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { GraphBuilder } from "../src/graph/builder.js";
import { Contrib } from "../src/graph/contrib.js";
import { DataType } from "../src/graph/ir.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { Ops } from "../src/graph/ops.js";
import { readModel } from "../src/graph/onnx-file.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { graphSteps, referenceSteps, sentencePipeline } from "../src/heads/pooling.js";
import { VARIANTS, runBlock } from "./helpers/architectures.js";
import { expectGraphMatchesReference, runCli, tempDir } from "./helpers/index.js";

const close = (actual: ArrayLike<number>, expected: number[], digits = 5) =>
  expected.forEach((e, i) => expect(actual[i], `value ${i}`).toBeCloseTo(e, digits));

describe("RMS norms", () => {
  // x = [3, 4]: mean(x²) = 12.5, rms = 3.5355339.
  const x = Float32Array.of(3, 4);
  it("w·x/rms and (1 + w)·x/rms by hand in the reference", () => {
    close(ref.rmsNorm(x, Float32Array.of(1, 2), 0), [0.8485281, 2.2627417]);
    // Gemma stores w centred on 0: w = [0, 1] scales by [1, 2], the same numbers.
    close(ref.rmsNorm(x, plusOne(Float32Array.of(0, 1)), 0), [0.8485281, 2.2627417]);
  });

  it("the graph's two forms (standard ops, SimplifiedLayerNormalization) give the same numbers", async () => {
    for (const fused of [false, true]) {
      const g = new GraphBuilder(17, "rms");
      const input = g.input("x", DataType.FLOAT, [1, 2]);
      const gamma = g.constFloat(Float32Array.of(1, 2), [2], "gamma");
      const out = fused ? new Contrib(g).simplifiedLayerNorm(input, gamma, 0) : new Ops(g).rmsNorm(input, gamma, 0);
      g.output(out, "y", DataType.FLOAT, [1, 2]);
      const session = await ort.InferenceSession.create(encodeModel(g.build({}, "0")));
      const { y } = await session.run({ x: new ort.Tensor("float32", x, [1, 2]) });
      close(y!.data as Float32Array, [0.8485281, 2.2627417]);
      await session.release();
    }
  });
});

describe("attention masks and heads (reference, by hand)", () => {
  // q = k = 0: every visible key weighs the same, so each context is the mean of the visible values.
  const zeros = (n: number) => new Float32Array(n);

  it("grouped-query attention: query heads 0, 1 read key/value head 0; heads 2, 3 read head 1", () => {
    // 2 positions, 4 query heads on 2 key/value heads, head size 1; values per kv head [1, 3] and [10, 30].
    const v = Float32Array.of(1, 10, 3, 30); // [position][kv head]
    const context = ref.attend(zeros(8), zeros(4), v, 1, 2, 4, Int32Array.of(1, 1));
    close(context, [2, 2, 20, 20, 2, 2, 20, 20]);
  });

  it("causal: a query sees itself and the keys before it", () => {
    const context = ref.attend(zeros(3), zeros(3), Float32Array.of(1, 2, 3), 1, 3, 1, Int32Array.of(1, 1, 1), { causal: true });
    close(context, [1, 1.5, 2]);
  });

  it("causal with left padding: a pad row sees no key and attends uniformly (finite), real rows skip the pad", () => {
    const context = ref.attend(zeros(3), zeros(3), Float32Array.of(100, 2, 3), 1, 3, 1, Int32Array.of(0, 1, 1), { causal: true });
    close(context, [35, 2, 2.5]);
  });

  it("the graph's causal mask: MASK_VALUE once for keys after the query or padded, 0 elsewhere", async () => {
    const attentionMask = [0, 1, 1, 1];
    const { data, dims } = await runBlock(
      (nn, { ids, mask }) => nn.narrowedMask(nn.attentionMask(mask), ids, { causal: true, halfWindow: 1 }).additive!,
      { batch: 1, sequence: 4, attentionMask },
    );
    expect(dims).toEqual([1, 1, 4, 4]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const hidden = j > i || i - j > 1 || attentionMask[j] === 0;
        expect(data[i * 4 + j]! + 0, `query ${i}, key ${j}`).toBe(hidden ? Math.fround(MASK_VALUE) : 0);
      }
    }
  });
});

describe("Gemma 3 config", () => {
  const parse = (changes: Record<string, unknown> = {}) =>
    parseGemma3Config(ConfigReader.fromText(JSON.stringify({ ...syntheticGemma3().config, ...changes }), "gemma/config.json"));

  it("bidirectional window: sliding_window 512 becomes |q − k| < 257, so distance 256 attends and 257 does not", () => {
    const config = parse({ sliding_window: 512 });
    expect(config.masks.local).toEqual({ causal: false, halfWindow: 256 });
    // The reference at that boundary: values 1 at distance 256 and 1000 at 257 from query 0.
    const v = new Float32Array(258);
    v[256] = 1;
    v[257] = 1000;
    const context = ref.attend(new Float32Array(258), new Float32Array(258), v, 1, 258, 1, new Int32Array(258).fill(1), { window: 256 });
    expect(context[0]).toBeCloseTo(1 / 257, 7); // keys 0…256 seen, key 257 not
  });

  it("causal Gemma: sliding layers see q − k < sliding_window", () => {
    expect(parse({ use_bidirectional_attention: false, sliding_window: 512 }).masks.local).toEqual({ causal: true, halfWindow: 511 });
  });

  it("layer kinds from layer_types, or every sliding_window_pattern-th layer full; local layers rotate with rope_local_base_freq", () => {
    expect(parse().layerKinds).toEqual(["local", "local", "global"]);
    const legacy = parseGemma3Config(
      ConfigReader.fromText(JSON.stringify(syntheticGemma3({ legacyKeys: true, layers: 6 }).config), "gemma/config.json"),
    );
    expect(legacy.layerKinds).toEqual(["local", "local", "global", "local", "local", "global"]);
    expect(Array.from(legacy.rotary.local.inverseFrequencies)).toEqual(Array.from(ropeInverseFrequencies(10000, 16)));
    expect(Array.from(legacy.rotary.global.inverseFrequencies)).toEqual(Array.from(ropeInverseFrequencies(1_000_000, 16)));
  });

  it("rope_parameters per layer type read like the legacy keys; an unimplemented scaling is named", () => {
    const modern = parse({
      rope_parameters: {
        full_attention: { rope_type: "default", rope_theta: 1_000_000 },
        sliding_attention: { rope_type: "default", rope_theta: 10_000 },
      },
    });
    expect(modern.rotary).toEqual(parse().rotary);
    expect(() => parse({ rope_scaling: { rope_type: "yarn", factor: 4 } })).toThrow(/"yarn" is not implemented/);
    expect(parse({ query_pre_attn_scalar: 64 }).scoreScale).toBe(Math.fround(1 / 8));
  });
});

describe("Qwen3 config", () => {
  it("head_dim from config (16 on hidden 32 with 4 heads), key/value heads, rotary over head_dim", () => {
    const config = qwen3.parseConfig(ConfigReader.fromText(JSON.stringify(syntheticQwen3().config), "qwen3/config.json"));
    expect([config.heads, config.kvHeads, config.headDim, config.hiddenSize]).toEqual([4, 2, 16, 32]);
    expect(config.causal).toBe(true);
    // 1 / θ^(2i / head_dim): 8 frequencies, the second 1e6^(-1/8).
    expect(config.rotary.inverseFrequencies).toHaveLength(8);
    expect(config.rotary.inverseFrequencies[1]).toBeCloseTo(1e6 ** (-2 / 16), 6);
  });
});

describe("last-token pooling and the Dense chain (by hand)", () => {
  // Token vectors of width 1 equal to their position + 1: the pooled value names the position.
  const hidden = Float32Array.of(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4);
  const shape = { batch: 3, sequence: 4, hidden: 1 };
  const masks = [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]; // right-padded (last real: 1), left-padded (3), empty (0)

  it("the reference takes the last position whose mask is 1, position 0 when there is none", () => {
    const steps = referenceSteps(hidden, masks, shape);
    close(steps.pool("lasttoken"), [2, 4, 1]);
  });

  it("the graph takes the same positions", async () => {
    const { data } = await runBlock(
      (nn, { ids, mask }) => {
        const tokens = nn.ops.unsqueeze(nn.ops.add(nn.ops.cast(nn.positions(ids), DataType.FLOAT), nn.ops.scalar(1)), [0, 2]);
        const batchHidden = nn.ops.add(tokens, nn.ops.unsqueeze(nn.ops.cast(ids, DataType.FLOAT), [2])); // ids are 0
        return graphSteps(nn, batchHidden, mask).pool("lasttoken");
      },
      { batch: 3, sequence: 4, attentionMask: masks },
    );
    close(data, [2, 4, 1]);
  });

  it("Pooling → Dense → Dense → Normalize", () => {
    const steps = referenceSteps(Float32Array.of(1, 2), [1], { batch: 1, sequence: 1, hidden: 2 });
    const dense = [
      { weight: Float32Array.of(1, 0, 0, 1, 1, 1), inFeatures: 2, outFeatures: 3, source: "2_Dense", activation: "identity" as const },
      { weight: Float32Array.of(1, 0, 0, 0, 0, 1), inFeatures: 3, outFeatures: 2, source: "3_Dense", activation: "identity" as const },
    ];
    const { pooled, embedding } = sentencePipeline(steps, { pooling: "mean", normalize: true }, dense);
    close(pooled, [1, 2]);
    // [1, 2] → [1, 2, 3] → [1, 3] → /√10
    close(embedding, [1 / Math.sqrt(10), 3 / Math.sqrt(10)]);
  });
});

/** Tensors of a fixture by name, as its modeling code reads them. */
function tensors(model: SyntheticModel) {
  const byName = new Map(model.tensors.map((t) => [t.name, t.data as Float32Array]));
  return (name: string) => {
    const found = byName.get(name);
    if (!found) throw new Error(`the fixture has no tensor ${name}`);
    return found;
  };
}

/** repeat_kv: [S, kvHeads·d] → [S, heads·d], each key/value head repeated heads / kvHeads times. */
function repeatKv(x: Float32Array, seq: number, kvHeads: number, group: number, d: number): Float32Array {
  const out = new Float32Array(seq * kvHeads * group * d);
  for (let s = 0; s < seq; s++)
    for (let h = 0; h < kvHeads * group; h++)
      out.set(
        x.subarray((s * kvHeads + Math.floor(h / group)) * d, (s * kvHeads + Math.floor(h / group) + 1) * d),
        (s * kvHeads * group + h) * d,
      );
  return out;
}

describe("transcriptions of transformers' forwards (independent of the templates' weight tables)", () => {
  it("Qwen3Model: embed → (input_layernorm, GQA with q/k norms and rotary, causal) → (post_attention_layernorm, SwiGLU) → norm", () => {
    const model = syntheticQwen3({ seed: 21 });
    const t = tensors(model);
    const dir = writeDecoderFolder(join(tempDir(), "qwen3"), model, undefined, { tokenizer: false });
    const encoder = loadEncoder(dir);
    try {
      const s = 6;
      const [hidden, heads, kvHeads, d, eps] = [32, 4, 2, 16, 1e-6];
      const batch = randomBatch(encoder.config, { batch: 1, sequence: s });
      const linear = (x: Float32Array, name: string, inF: number, outF: number) =>
        ref.linear(x, x.length / inF, {
          weight: t(`${name}.weight`),
          inFeatures: inF,
          outFeatures: outF,
          ...(model.tensors.some((x) => x.name === `${name}.bias`) ? { bias: t(`${name}.bias`) } : {}),
        });
      const rms = (x: Float32Array, name: string) => ref.rmsNorm(x, t(`${name}.weight`), eps);
      const rotary = ref.rotaryTables(s, { inverseFrequencies: ropeInverseFrequencies(1e6, d), interleaved: false });
      let x: Float32Array = ref.embed(t("embed_tokens.weight"), hidden, batch.inputIds, "ids");
      for (let i = 0; i < 2; i++) {
        const at = (n: string) => `layers.${i}.${n}`;
        const h = rms(x, at("input_layernorm"));
        const q = ref.applyRotary(rms(linear(h, at("self_attn.q_proj"), hidden, heads * d), at("self_attn.q_norm")), 1, s, heads, rotary);
        const k = ref.applyRotary(
          rms(linear(h, at("self_attn.k_proj"), hidden, kvHeads * d), at("self_attn.k_norm")),
          1,
          s,
          kvHeads,
          rotary,
        );
        const v = linear(h, at("self_attn.v_proj"), hidden, kvHeads * d);
        const context = ref.attend(q, repeatKv(k, s, kvHeads, 2, d), repeatKv(v, s, kvHeads, 2, d), 1, s, heads, batch.attentionMask, {
          causal: true,
        });
        x = ref.add(x, linear(context, at("self_attn.o_proj"), heads * d, hidden));
        const m = rms(x, at("post_attention_layernorm"));
        const gate = ref.activation(linear(m, at("mlp.gate_proj"), hidden, 48), "silu");
        x = ref.add(x, linear(ref.mul(gate, linear(m, at("mlp.up_proj"), hidden, 48)), at("mlp.down_proj"), 48, hidden));
      }
      const expected = rms(x, "norm");
      const actual = referenceForward(encoder, batch, { pooling: "lasttoken", normalize: true }).lastHiddenState;
      expect(
        ref
          .add(
            actual,
            expected.map((v) => -v),
          )
          .every((v) => Math.abs(v) < 1e-5),
      ).toBe(true);
    } finally {
      encoder.close();
    }
  });

  it("Gemma3TextModel: embed × √hidden → sandwich (1 + w) norms, scaled GQA, GELU-tanh GLU, window on sliding layers", () => {
    const model = syntheticGemma3({ seed: 22, queryPreAttnScalar: 24, slidingWindow: 4 });
    const t = tensors(model);
    const dir = writeDecoderFolder(join(tempDir(), "gemma"), model, undefined, { tokenizer: false });
    const encoder = loadEncoder(dir);
    try {
      const s = 9;
      const [hidden, heads, d, eps] = [32, 3, 16, 1e-6];
      const batch = randomBatch(encoder.config, { batch: 1, sequence: s });
      const linear = (x: Float32Array, name: string, inF: number, outF: number) =>
        ref.linear(x, x.length / inF, { weight: t(`${name}.weight`), inFeatures: inF, outFeatures: outF });
      const rms = (x: Float32Array, name: string) =>
        ref.rmsNorm(
          x,
          t(`${name}.weight`).map((w) => 1 + w),
          eps,
        );
      const tables = {
        global: ref.rotaryTables(s, { inverseFrequencies: ropeInverseFrequencies(1e6, d), interleaved: false }),
        local: ref.rotaryTables(s, { inverseFrequencies: ropeInverseFrequencies(1e4, d), interleaved: false }),
      };
      let x: Float32Array = ref
        .embed(t("embed_tokens.weight"), hidden, batch.inputIds, "ids")
        .map((v) => v * Math.fround(Math.sqrt(hidden)));
      for (let i = 0; i < 3; i++) {
        const at = (n: string) => `layers.${i}.${n}`;
        const sliding = i !== 2;
        const rotary = sliding ? tables.local : tables.global;
        const h = rms(x, at("input_layernorm"));
        const q = ref.applyRotary(rms(linear(h, at("self_attn.q_proj"), hidden, heads * d), at("self_attn.q_norm")), 1, s, heads, rotary);
        const k = ref.applyRotary(rms(linear(h, at("self_attn.k_proj"), hidden, d), at("self_attn.k_norm")), 1, s, 1, rotary);
        const v = linear(h, at("self_attn.v_proj"), hidden, d);
        // sliding_window 4, bidirectional: |q − k| < 4 // 2 + 1 = 3.
        const context = ref.attend(q, repeatKv(k, s, 1, 3, d), repeatKv(v, s, 1, 3, d), 1, s, heads, batch.attentionMask, {
          scale: 24 ** -0.5,
          ...(sliding ? { window: 2 } : {}),
        });
        x = ref.add(x, rms(linear(context, at("self_attn.o_proj"), heads * d, hidden), at("post_attention_layernorm")));
        const m = rms(x, at("pre_feedforward_layernorm"));
        const gate = ref.activation(linear(m, at("mlp.gate_proj"), hidden, 48), "gelu_tanh");
        x = ref.add(
          x,
          rms(
            linear(ref.mul(gate, linear(m, at("mlp.up_proj"), hidden, 48)), at("mlp.down_proj"), 48, hidden),
            at("post_feedforward_layernorm"),
          ),
        );
      }
      const expected = rms(x, "norm");
      const actual = referenceForward(encoder, batch, { pooling: "mean", normalize: true }).lastHiddenState;
      expect(
        ref
          .add(
            actual,
            expected.map((v) => -v),
          )
          .every((v) => Math.abs(v) < 1e-4),
      ).toBe(true);
    } finally {
      encoder.close();
    }
  });
});

describe.each([
  { title: "Qwen3", model: () => syntheticQwen3({ seed: 31 }), pooling: "lasttoken" as const },
  { title: "Qwen2 (gte-Qwen2, bidirectional)", model: () => syntheticQwen2({ seed: 32 }), pooling: "lasttoken" as const },
  { title: "Qwen2 (causal)", model: () => syntheticQwen2({ seed: 33, bidirectional: false }), pooling: "mean" as const },
  {
    title: "Gemma 3 (EmbeddingGemma, bidirectional window)",
    model: () => syntheticGemma3({ seed: 34, slidingWindow: 6 }),
    pooling: "mean" as const,
  },
  {
    title: "Gemma 3 (causal, scaled scores)",
    model: () => syntheticGemma3({ seed: 35, bidirectional: false, queryPreAttnScalar: 24 }),
    pooling: "lasttoken" as const,
  },
])("$title graph vs reference", ({ model, pooling }) => {
  it.each(VARIANTS)("%s graph within 1e-4 on batches padded on the right and on the left", async (variant) => {
    const dir = writeDecoderFolder(join(tempDir(), "decoder"), model(), undefined, { tokenizer: false });
    const encoder = loadEncoder(dir);
    try {
      const batches = (["right", "left"] as const).map((paddingSide) =>
        randomBatch(encoder.config, { batch: 3, sequence: 11, paddingSide, seed: 7 }),
      );
      await expectGraphMatchesReference(encoder, batches, { variant, sentenceEmbedding: { pooling, normalize: true } });
    } finally {
      encoder.close();
    }
  });
});

describe("attention memory", () => {
  it("bidirectional decoders take the bounded forms (linear); causal ones materialize their scores (quadratic), as the metadata says", () => {
    const memory = (model: SyntheticModel) => {
      const encoder = loadEncoder(writeDecoderFolder(join(tempDir(), "m"), model, undefined, { tokenizer: false }));
      try {
        const graph = buildEncoderGraph(encoder, {
          opset: 17,
          variant: "primary",
          sentenceEmbedding: { pooling: "mean", normalize: true },
        });
        return graph.metadata.attention_memory;
      } finally {
        encoder.close();
      }
    };
    expect(memory(syntheticGemma3({ seed: 51 }))).toBe("linear");
    expect(memory(syntheticQwen2({ seed: 52 }))).toBe("linear");
    expect(memory(syntheticQwen3({ seed: 53 }))).toBe("quadratic");
  });
});

describe("checkpoints as published", () => {
  it("Qwen3-Embedding: a plain export of Qwen3ForCausalLM over the bare model, BF16 shards, gives last_hidden_state, sentence_embedding and pooler_output", async () => {
    const dir = writeDecoderFolder(
      join(tempDir(), "Qwen3-Embedding"),
      syntheticQwen3({ seed: 41, dtype: "BF16", vocab: 1024 }),
      { pooling: "lasttoken", prompts: QWEN3_EMBEDDING_PROMPTS },
      { shardBytes: 40_000, decoderTokenizer: "qwen" },
    );
    const out = join(tempDir(), "out");
    const run = await runCli(["export", dir, "-o", out, "--fp32"], { env: {} });
    expect(run.stderr).toContain("verified primary graph");
    expect(run.code).toBe(0);
    const model = readModel(join(out, "Qwen3-Embedding_fp32.onnx"));
    expect(model.graph.outputs.map((o) => o.name)).toEqual(["last_hidden_state", "sentence_embedding", "pooler_output"]);
    expect(JSON.parse(readFileSync(join(out, "config_sentence_transformers.json"), "utf8")).prompts).toEqual(QWEN3_EMBEDDING_PROMPTS);
    // The Embedder pads on the left, as the tokenizer says: a text's vector does not depend on its batch.
    const embedder = await Embedder.load(out);
    try {
      const texts = ["a short one", "a much longer text, with several more words in it than the first", "x"];
      const together = await embedder.embed(texts, { prompt: "query" });
      for (const [i, text] of texts.entries()) {
        const alone = await embedder.embed(text, { prompt: "query" });
        Array.from(alone).forEach((v, j) => expect(Math.abs(v - together[i]![j]!)).toBeLessThan(1e-5));
      }
    } finally {
      await embedder.close();
    }
  });

  it("EmbeddingGemma: mean pooling and both Dense modules in the graph, their files beside it", async () => {
    const dir = writeDecoderFolder(
      join(tempDir(), "embeddinggemma"),
      syntheticGemma3({ seed: 42, vocab: 1024 }),
      { pooling: "mean", dense: [64, 24] },
      { decoderTokenizer: "gemma" },
    );
    const out = join(tempDir(), "out");
    const run = await runCli(["export", dir, "-o", out, "--fp32"], { env: {} });
    expect(run.code, run.stderr).toBe(0);
    const model = readModel(join(out, "embeddinggemma_fp32.onnx"));
    expect(model.graph.outputs.find((o) => o.name === "sentence_embedding")?.shape?.at(-1)).toBe(24);
    for (const file of ["2_Dense/config.json", "2_Dense/model.safetensors", "3_Dense/model.safetensors", "modules.json"]) {
      expect(readFileSync(join(out, file)).length).toBeGreaterThan(0);
    }
  });

  it("a causal LM with no sentence-transformers files is an error naming --task; --task feature-extraction pools its last token", async () => {
    const dir = writeDecoderFolder(join(tempDir(), "Qwen3-0.6B"), syntheticQwen3({ seed: 43, prefix: "model.", lmHead: true }), undefined);
    const refused = await runCli(["export", dir, "-o", join(tempDir(), "out"), "--fp32"], { env: {} });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--task feature-extraction.*--task rerank/);
    const out = join(tempDir(), "out");
    const forced = await runCli(["export", dir, "-o", out, "--fp32", "--task", "feature-extraction"], { env: {} });
    expect(forced.code, forced.stderr).toBe(0);
    const model = readModel(join(out, "Qwen3-0.6B_fp32.onnx"));
    expect(model.metadata.sentence_pooling).toBe("lasttoken");
  });
});

describe("quantized decoders with outlier channels in their norms", () => {
  // Qwen3 layout, 4 layers, hidden 64, input/post-attention norm weights ×25 on two channels (trained LLMs' outlier dimensions).
  const model = () =>
    syntheticQwen3({ seed: 5, layers: 4, hidden: 64, heads: 4, kvHeads: 2, headDim: 32, intermediate: 128, outlierFactor: 25 });
  const quantize = async (options: Record<string, unknown>) => {
    const dir = writeDecoderFolder(join(tempDir(), "qwen3-outliers"), model(), { pooling: "lasttoken" });
    const out = join(tempDir(), "out");
    const run = await runCli(["export", dir, "-o", out, ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, String(v)])], {
      env: {},
    });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "quantization_report.json"), "utf8"));
    return report.fidelity.worstCosine as number;
  };

  it("INT8 static holds a worst sentence_embedding cosine of 0.99 against FP32", async () => {
    expect(await quantize({ mode: "static", "fidelity-threshold": 0.99 })).toBeGreaterThanOrEqual(0.99);
  });

  it("INT4 holds 0.97", async () => {
    expect(await quantize({ mode: "int4", "fidelity-threshold": 0.97 })).toBeGreaterThanOrEqual(0.97);
  });
});
