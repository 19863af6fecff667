// The primary graph's fused forms (onnxruntime contrib ops; bench/graph-speed.ts measured the
// choice): which kernels each template's primary graph uses, that every form — all contrib ops,
// and each one turned off in turn — matches the reference, rows without a single real token, and
// the quantizers' view of the primary graph (Attention expanded into MatMul + MultiHeadAttention).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { ATTENTION_FORMS, FUSED_OPS } from "../src/arch/blocks.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { relativeMaxError } from "../src/export/verify.js";
import {
  randomBatch,
  syntheticAlbert,
  syntheticBert,
  syntheticJinaBert,
  syntheticModernBert,
  syntheticMpnet,
  syntheticNomicBert,
} from "../src/fixtures/index.js";
import { syntheticGemma3, syntheticQwen3 } from "../src/fixtures/decoders.js";
import type { Model } from "../src/graph/ir.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import type { SentencePooling } from "../src/heads/pooling.js";
import { expandAttention } from "../src/quant/attention-expansion.js";
import { activationsToCalibrate } from "../src/quant/static-qdq.js";
import { maskCarriers } from "../src/quant/targets.js";
import { expectGraphMatchesReference, runInProcess, syntheticEncoder } from "./helpers/index.js";

interface Template {
  encoder: LoadedEncoder;
  /** Rotary models attend in MultiHeadAttention after RotaryEmbedding; the others in Attention. */
  rotary: boolean;
  layers: number;
}

const TEMPLATES: Record<string, Template> = {
  bert: { encoder: syntheticEncoder(syntheticBert({ seed: 201 })), rotary: false, layers: 2 },
  "albert (gelu_new: FastGelu)": { encoder: syntheticEncoder(syntheticAlbert({ seed: 202 })), rotary: false, layers: 3 },
  "jina_bert (ALiBi: attention_bias)": { encoder: syntheticEncoder(syntheticJinaBert({ seed: 203 })), rotary: false, layers: 2 },
  "mpnet (relative position bias)": { encoder: syntheticEncoder(syntheticMpnet({ seed: 204 })), rotary: false, layers: 2 },
  "nomic_bert (partial interleaved rotary)": {
    encoder: syntheticEncoder(syntheticNomicBert({ seed: 205, rotaryFraction: 0.5, rotaryInterleaved: true })),
    rotary: true,
    layers: 2,
  },
  "modernbert (sliding window)": {
    encoder: syntheticEncoder(syntheticModernBert({ seed: 206, layers: 3, localAttention: 4 })),
    rotary: true,
    layers: 3,
  },
};

const primary = (encoder: LoadedEncoder): Model => buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
const opCount = (model: Model, op: string) => model.graph.nodes.filter((n) => n.opType === op).length;

/** A padded batch whose second row has no real token at all. */
function withEmptyRow(encoder: LoadedEncoder): TokenBatch {
  const batch = randomBatch(encoder.config, { batch: 3, sequence: 9, seed: 7 });
  batch.attentionMask.fill(0, 9, 18);
  batch.inputIds.fill(encoder.config.padTokenId, 9, 18);
  return batch;
}

describe.each(Object.entries(TEMPLATES))("%s", (_, { encoder, rotary, layers }) => {
  it("primary: one attention kernel per layer, no standard-op attention; portable: standard ops only", () => {
    const model = primary(encoder);
    expect(opCount(model, rotary ? "MultiHeadAttention" : "Attention")).toBe(layers);
    expect(opCount(model, rotary ? "Attention" : "MultiHeadAttention")).toBe(0);
    expect(opCount(model, "RotaryEmbedding")).toBe(rotary ? 2 * layers : 0);
    for (const op of ["Softmax", "Erf"]) expect(opCount(model, op)).toBe(0);
    const portable = buildEncoderGraph(encoder, { opset: 17, variant: "portable" });
    expect(portable.graph.nodes.filter((n) => n.domain !== "")).toEqual([]);
    expect(portable.opsetImports.map((o) => o.domain)).toEqual([""]);
  });

  it("every primary form (each contrib op off in turn) matches the reference, padded rows and a single token included", async () => {
    const batches = [randomBatch(encoder.config, { batch: 1, sequence: 1 }), randomBatch(encoder.config, { batch: 3, sequence: 17 })];
    for (const off of FUSED_OPS) await expectGraphMatchesReference(encoder, batches, { variant: "primary", fused: { [off]: false } });
  });

  it("a row without real tokens attends uniformly, as in the reference (primary and portable)", async () => {
    const batch = withEmptyRow(encoder);
    for (const variant of ["primary", "portable"] as const) await expectGraphMatchesReference(encoder, [batch], { variant });
  });
});

describe("the quantizers' view of the primary graph", () => {
  const { encoder } = TEMPLATES["jina_bert (ALiBi: attention_bias)"]!;

  it("expandAttention: each Attention becomes its projection MatMul, a Split and a MultiHeadAttention, computing the same", async () => {
    const model = primary(encoder);
    const expanded = expandAttention(model);
    expect(opCount(expanded, "Attention")).toBe(0);
    expect(opCount(expanded, "MultiHeadAttention")).toBe(opCount(model, "Attention"));
    expect(opCount(expanded, "MatMul")).toBe(opCount(model, "MatMul") + opCount(model, "Attention"));
    const attention = model.graph.nodes.find((n) => n.opType === "Attention")!;
    const mha = expanded.graph.nodes.find((n) => n.opType === "MultiHeadAttention")!;
    expect(mha.outputs).toEqual(attention.outputs);
    expect(mha.inputs.slice(3)).toEqual([attention.inputs[2], attention.inputs[3], attention.inputs[5]]); // bias, mask, ALiBi
    expect(mha.attributes).toEqual(attention.attributes);
    const batch = randomBatch(encoder.config, { batch: 3, sequence: 20, seed: 9 });
    const [before, after] = [await runInProcess(model, batch), await runInProcess(expanded, batch)];
    expect(relativeMaxError(after.lastHiddenState, before.lastHiddenState)).toBeLessThan(1e-5);
    expect(expandAttention(expanded)).toBe(expanded); // nothing left to expand
  });

  it("attention kernels end the mask: the output projection's input is calibrated, the mask never", () => {
    const model = primary(encoder);
    const carriers = maskCarriers(expandAttention(model).graph);
    const contexts = model.graph.nodes.filter((n) => n.opType === "Attention").map((n) => n.outputs[0]!);
    for (const context of contexts) expect(carriers.has(context)).toBe(false);
    const calibrated = activationsToCalibrate(model, false);
    for (const context of contexts) expect(calibrated).toContain(context);
    // The projection's input (the layer input) is calibrated too: a tensor of the unexpanded graph.
    for (const n of model.graph.nodes.filter((n) => n.opType === "Attention")) expect(calibrated).toContain(n.inputs[0]);
    expect(calibrated.some((name) => carriers.has(name))).toBe(false);
  });
});

describe("attention forms (bench/attention.ts measures them)", () => {
  const LAST_TOKEN = { pooling: "lasttoken", normalize: true } as const;
  const MEAN = { pooling: "mean", normalize: true } as const;
  const qwen = syntheticEncoder(syntheticQwen3({ seed: 207 }));
  /**
   * Every template above, and two decoders: Qwen3 (causal, grouped-query) and Gemma 3
   * (EmbeddingGemma: bidirectional, sliding-window layers of half width 4). `distinct`: how many
   * different graphs the five forms give, a form the layer cannot take falling back to another.
   */
  const CASES: Array<[string, { encoder: LoadedEncoder; distinct: number; sentenceEmbedding?: SentencePooling }]> = [
    ["bert", { encoder: TEMPLATES.bert!.encoder, distinct: 5 }],
    ["albert (gelu_new: FastGelu)", { encoder: TEMPLATES["albert (gelu_new: FastGelu)"]!.encoder, distinct: 5 }],
    // A score bias is never flashable, and mha-mask reads it summed with the padding mask as mha-bias does.
    ["jina_bert (ALiBi: attention_bias)", { encoder: TEMPLATES["jina_bert (ALiBi: attention_bias)"]!.encoder, distinct: 3 }],
    ["mpnet (relative position bias)", { encoder: TEMPLATES["mpnet (relative position bias)"]!.encoder, distinct: 3 }],
    // Rotary: no Attention node (the flash form instead).
    ["nomic_bert (partial interleaved rotary)", { encoder: TEMPLATES["nomic_bert (partial interleaved rotary)"]!.encoder, distinct: 4 }],
    ["modernbert (sliding window)", { encoder: TEMPLATES["modernbert (sliding window)"]!.encoder, distinct: 4 }],
    // Causal: the mask is always attention_bias, so only the standard-op attention differs.
    ["qwen3 (causal, grouped-query)", { encoder: qwen, distinct: 2, sentenceEmbedding: LAST_TOKEN }],
    [
      "gemma3 (bidirectional sliding window, grouped-query)",
      { encoder: syntheticEncoder(syntheticGemma3({ seed: 208 })), distinct: 4, sentenceEmbedding: MEAN },
    ],
  ];

  it.each(CASES)("%s: every form matches the reference on batches padded on the right and on the left", async (_, c) => {
    const { encoder, sentenceEmbedding } = c;
    // Longer than every window, so that local layers hide keys.
    const batches = [
      randomBatch(encoder.config, { batch: 1, sequence: 1 }),
      ...(["right", "left"] as const).map((paddingSide) => randomBatch(encoder.config, { batch: 3, sequence: 13, paddingSide, seed: 7 })),
    ];
    const checked = new Set<string>();
    for (const attentionForm of ATTENTION_FORMS) {
      const options = { variant: "primary", fused: { attentionForm }, ...(sentenceEmbedding ? { sentenceEmbedding } : {}) } as const;
      // A form that falls back to a graph already checked computes the same: checked once.
      const graph = createHash("sha256")
        .update(encodeModel(buildEncoderGraph(encoder, { opset: 17, ...options })))
        .digest("hex");
      if (checked.has(graph)) continue;
      checked.add(graph);
      await expectGraphMatchesReference(encoder, batches, options);
    }
    expect(checked.size).toBe(c.distinct);
  });

  it("a requested form the layer cannot take falls back to one it can", () => {
    // Causal: no flash form and no Attention node (grouped-query heads, query/key norms).
    for (const attentionForm of ["flash", "attention"] as const) {
      const model = buildEncoderGraph(qwen, { opset: 17, variant: "primary", fused: { attentionForm }, sentenceEmbedding: LAST_TOKEN });
      expect(opCount(model, "MultiHeadAttention")).toBe(2);
      expect(opCount(model, "Attention")).toBe(0);
    }
    const matmul = buildEncoderGraph(TEMPLATES.bert!.encoder, { opset: 17, variant: "primary", fused: { attentionForm: "matmul" } });
    expect(opCount(matmul, "Softmax")).toBe(2);
    expect(matmul.graph.nodes.filter((n) => n.domain === "com.microsoft" && n.opType.includes("Attention"))).toEqual([]);
  });
});
