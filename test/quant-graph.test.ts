// The int8 rewrites on the IR, run in-process in onnxruntime: static QDQ, dynamic, embedding
// tables, the attention mask kept out of calibration, and SmoothQuant's exactness.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { withOutlierChannels } from "../src/fixtures/outliers.js";
import { GraphBuilder, type Value } from "../src/graph/builder.js";
import { DataType, type Initializer, type Model, type Node } from "../src/graph/ir.js";
import { Ops } from "../src/graph/ops.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { initializerToFloat32, initializerToInt8 } from "../src/graph/onnx-reader.js";
import { validateModel } from "../src/graph/validate.js";
import { batchFeeds } from "../src/ort/feeds.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { IsolatedSession } from "../src/ort/isolated-session.js";
import { expandAttention } from "../src/quant/attention-expansion.js";
import { withOutputs } from "../src/quant/calibration.js";
import { quantizeDynamic } from "../src/quant/dynamic.js";
import { cosine } from "../src/quant/fidelity.js";
import { GraphIndex } from "../src/quant/graph-index.js";
import type { Range } from "../src/quant/int8.js";
import { MinMaxObserver } from "../src/observers/observers.js";
import { applySmoothing, outlierRatio, smoothingGroups } from "../src/quant/smoothing.js";
import { activationsToCalibrate, quantizeStatic } from "../src/quant/static-qdq.js";
import { maskCarriers, matMulTargets } from "../src/quant/targets.js";
import { StatisticsCollector } from "../src/observers/tensor-stats.js";
import { syntheticEncoder, tempDir } from "./helpers/index.js";

const SHAPE = { layers: 2, hidden: 64, heads: 4, intermediate: 128, vocab: 2000, maxPositions: 128 };

/** Runs `model` in this process and returns the requested outputs. */
async function run(
  model: Model,
  batch: TokenBatch,
  outputs: string[] = ["last_hidden_state", "pooler_output"],
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const result = await session.run(ortFeeds(batch, session.inputNames), outputs);
    return Object.fromEntries(outputs.map((o) => [o, result[o]!.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** MinMax ranges of `names`, observed in-process over `batches`. */
async function minMaxRanges(model: Model, names: string[], batches: TokenBatch[]): Promise<Map<string, Range>> {
  const observers = new Map(names.map((n) => [n, new MinMaxObserver()]));
  for (const batch of batches) {
    const out = await run(withOutputs(model, names), batch, names);
    for (const n of names) observers.get(n)!.observe(out[n]!);
  }
  return new Map(names.map((n) => [n, observers.get(n)!.state()]));
}

/** Cosine of each row of the pooled output (worst row). */
function worstRowCosine(a: Float32Array, b: Float32Array, rows: number): number {
  const width = a.length / rows;
  let worst = 1;
  for (let r = 0; r < rows; r++)
    worst = Math.min(worst, cosine(a.subarray(r * width, (r + 1) * width), b.subarray(r * width, (r + 1) * width)));
  return worst;
}

const producers = (model: Model) => new GraphIndex(model.graph).producers;
const initializer = (model: Model, name: string): Initializer | undefined => model.graph.initializers.find((i) => i.name === name);

describe("static QDQ rewrite", () => {
  const encoder: LoadedEncoder = syntheticEncoder(syntheticBert({ ...SHAPE, seed: 31 }));
  const calibration = [
    randomBatch(encoder.config, { batch: 4, sequence: 24, seed: 1 }),
    randomBatch(encoder.config, { batch: 2, sequence: 40, seed: 2 }),
  ];
  const test = randomBatch(encoder.config, { batch: 5, sequence: 30, seed: 3 });

  for (const variant of ["primary", "portable"] as const) {
    it(`${variant}: int8 weights and activations around every weight MatMul keep the pooled output within cosine 0.999`, async () => {
      // The float graph as the quantizer sees it: the primary graph's Attention nodes expanded.
      const model = expandAttention(buildEncoderGraph(encoder, { opset: 17, variant }));
      const nodesBefore = model.graph.nodes.length;
      const initializersBefore = [...model.graph.initializers];
      const ranges = await minMaxRanges(model, activationsToCalibrate(model, false), calibration);
      const { model: q, quantized, skipped } = quantizeStatic(model, { activationType: "int8", ranges, attentionMatMuls: false });
      validateModel(q);
      // The input model is untouched (the fallback re-quantizes it with other settings).
      expect(model.graph.nodes.length).toBe(nodesBefore);
      expect(model.graph.initializers).toEqual(initializersBefore);

      const weightMatMuls = matMulTargets(new GraphIndex(model.graph)).filter((t) => t.weight);
      expect(quantized.length).toBe(weightMatMuls.length);
      expect(skipped.every((s) => /activation × activation/.test(s.reason))).toBe(true);
      const made = producers(q);
      const index = new GraphIndex(q.graph);
      for (const node of q.graph.nodes.filter((n) => n.opType === "MatMul" && quantized.includes(n.name))) {
        const [a, b] = node.inputs.map((v) => made.get(v)) as [Node, Node];
        expect(a.opType).toBe("DequantizeLinear");
        expect(made.get(a.inputs[0]!)!.opType).toBe("QuantizeLinear");
        expect(b.opType).toBe("DequantizeLinear");
        expect(b.attributes.axis).toEqual({ kind: "int", value: 1 });
        const weight = initializer(q, b.inputs[0]!)!;
        expect(weight.dataType).toBe(DataType.INT8);
        expect(initializer(q, b.inputs[1]!)!.dims).toEqual([weight.dims[1]]);
      }
      // onnxruntime converts int8 activation Q/DQ pairs to uint8 (x86) only when Q has one reader.
      for (const q8 of q.graph.nodes.filter((n) => n.opType === "QuantizeLinear")) expect(index.usesOf(q8.outputs[0]!)).toHaveLength(1);
      // The pooler (a 2-D MatMul + bias, which onnxruntime would turn into a float Gemm) is one
      // QDQ Gemm with an int32 bias: onnxruntime fuses it into QGemm.
      const gemms = q.graph.nodes.filter((n) => n.opType === "Gemm");
      expect(gemms).toHaveLength(1);
      const biasDq = made.get(gemms[0]!.inputs[2]!)!;
      expect(biasDq.opType).toBe("DequantizeLinear");
      expect(initializer(q, biasDq.inputs[0]!)!.dataType).toBe(DataType.INT32);
      expect(gemms[0]!.inputs.slice(0, 2).map((v) => made.get(v)?.opType)).toEqual(["DequantizeLinear", "DequantizeLinear"]);
      // No float weight is left behind for a quantized MatMul.
      expect(
        q.graph.initializers.filter((i) => i.dataType === DataType.FLOAT && i.dims.length === 2 && i.dims[0]! * i.dims[1]! >= 4096),
      ).toEqual([]);

      const expected = await run(model, test);
      const actual = await run(q, test);
      expect(worstRowCosine(actual.pooler_output!, expected.pooler_output!, test.batch)).toBeGreaterThan(0.999);
      expect(cosine(actual.last_hidden_state!, expected.last_hidden_state!)).toBeGreaterThan(0.999);
    });
  }

  it("weights: symmetric int8 with one scale per output channel, within half a step of the float weight", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const { model: q } = quantizeStatic(model, { activationType: "int8", ranges: new Map(), attentionMatMuls: false });
    // Without ranges no MatMul is quantized, but the embedding tables are (weight-only).
    const table = model.graph.initializers.find((i) => i.name.includes("word_embeddings"))!;
    const gather = q.graph.nodes.find((n) => n.opType === "Gather" && n.inputs[0] === `${table.name}_quantized`)!;
    const dq = q.graph.nodes.find((n) => n.opType === "DequantizeLinear" && n.inputs[0] === gather.outputs[0])!;
    expect(dq.attributes.axis).toEqual({ kind: "int", value: -1 });
    const values = initializerToInt8(initializer(q, gather.inputs[0]!)!);
    const scales = initializerToFloat32(initializer(q, dq.inputs[1]!)!);
    const original = initializerToFloat32(table);
    const [rows, cols] = table.dims as [number, number];
    for (let c = 0; c < cols; c++) {
      let max = 0;
      for (let r = 0; r < rows; r++) max = Math.max(max, Math.abs(original[r * cols + c]!));
      expect(scales[c]).toBeCloseTo(max / 127, 6);
      for (let r = 0; r < rows; r += 97) {
        expect(Math.abs(values[r * cols + c]! * scales[c]! - original[r * cols + c]!)).toBeLessThanOrEqual(scales[c]! / 2 + 1e-7);
      }
    }
    expect(initializer(q, table.name)).toBeUndefined();
  });

  it("keepFloat leaves the named MatMuls in float; attentionMatMuls quantizes scores and context but never the mask", async () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "portable" }); // the primary graph attends in MultiHeadAttention
    const all = activationsToCalibrate(model, true);
    const carriers = maskCarriers(model.graph);
    expect(all.some((a) => carriers.has(a))).toBe(false);
    const ranges = await minMaxRanges(model, all, calibration);
    // Probabilities come out of the softmax: the mask never reaches a calibrated range.
    for (const range of ranges.values()) expect(Math.max(Math.abs(range.min), Math.abs(range.max))).toBeLessThan(1e6);
    const first = matMulTargets(new GraphIndex(model.graph)).find((t) => t.weight)!.node.name;
    const {
      model: q,
      quantized,
      skipped,
    } = quantizeStatic(model, { activationType: "uint8", ranges, attentionMatMuls: true, keepFloat: new Set([first]) });
    validateModel(q);
    expect(skipped).toEqual([{ node: first, reason: "kept in float for fidelity" }]);
    expect(quantized).toHaveLength(matMulTargets(new GraphIndex(model.graph)).length - 1);
    const made = producers(q);
    const kept = q.graph.nodes.find((n) => n.name === first)!;
    expect(kept.inputs.map((v) => made.get(v)?.opType)).not.toContain("DequantizeLinear");
    for (const n of q.graph.nodes.filter((n) => n.opType === "QuantizeLinear")) {
      expect(carriers.has(n.inputs[0]!)).toBe(false);
      expect(initializer(q, n.inputs[2]!)!.dataType).toBe(DataType.UINT8);
    }
    const out = await run(q, test);
    expect(worstRowCosine(out.pooler_output!, (await run(model, test)).pooler_output!, test.batch)).toBeGreaterThan(0.99);
  });

  it("the additive mask is a carrier up to the softmax, never after", () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "portable" });
    const carriers = maskCarriers(model.graph);
    const softmax = model.graph.nodes.filter((n) => n.opType === "Softmax");
    expect(softmax.length).toBe(SHAPE.layers);
    for (const s of softmax) {
      expect(carriers.has(s.inputs[0]!)).toBe(true);
      expect(carriers.has(s.outputs[0]!)).toBe(false);
    }
    expect(carriers.has("last_hidden_state")).toBe(false);
  });
});

describe("dynamic rewrite", () => {
  const encoder = syntheticEncoder(syntheticBert({ ...SHAPE, seed: 32 }));
  it("one DynamicQuantizeLinear → MatMulInteger → Cast → Mul chain per weight MatMul, cosine ≥ 0.999", async () => {
    const model = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
    const { model: q, quantized } = quantizeDynamic(model);
    validateModel(q);
    const count = (op: string) => q.graph.nodes.filter((n) => n.opType === op).length;
    expect(count("DynamicQuantizeLinear")).toBe(quantized.length);
    expect(count("MatMulInteger")).toBe(quantized.length);
    expect(count("MatMul")).toBe(0);
    expect(count("MultiHeadAttention")).toBe(SHAPE.layers); // attention stays float
    const index = new GraphIndex(q.graph);
    for (const d of q.graph.nodes.filter((n) => n.opType === "DynamicQuantizeLinear")) {
      for (const output of d.outputs)
        expect(index.usesOf(output).map((u) => u.node.opType)).toEqual(output === d.outputs[1] ? ["Mul"] : ["MatMulInteger"]);
    }
    const test = randomBatch(encoder.config, { batch: 3, sequence: 20, seed: 4 });
    const expected = await run(model, test);
    const actual = await run(q, test);
    expect(worstRowCosine(actual.pooler_output!, expected.pooler_output!, test.batch)).toBeGreaterThan(0.999);
  });
});

describe("SmoothQuant", () => {
  it("on outlier channels: the smoothed float graph computes the same function (Mul on the branch, post-norm)", async () => {
    const encoder = syntheticEncoder(withOutlierChannels(syntheticBert({ ...SHAPE, seed: 33 }), [3, 17, 40]));
    const model = expandAttention(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }));
    const groups = smoothingGroups(model);
    const batches = [randomBatch(encoder.config, { batch: 3, sequence: 16, seed: 5 })];
    const collector = new StatisticsCollector();
    for (const batch of batches) {
      const out = await run(
        withOutputs(
          model,
          groups.map((g) => g.activation),
        ),
        batch,
        groups.map((g) => g.activation),
      );
      for (const g of groups)
        collector.observe({ name: g.activation, observer: "minmax", channelAbsMax: true }, out[g.activation]!, [
          out[g.activation]!.length / SHAPE.hidden,
          SHAPE.hidden,
        ]);
    }
    const stats = collector.collect();
    const absMax = new Map(groups.map((g) => [g.activation, stats[g.activation]!.channelAbsMax!]));
    const { model: smoothed, smoothed: which, factors } = applySmoothing(model, groups, absMax, { alpha: 0.5, outlierRatio: 6 });
    validateModel(smoothed);
    // Every LayerNorm output read by weight MatMuls carries the outliers (embedding LN + 2 per layer).
    expect(which.length).toBe(1 + 2 * SHAPE.layers);
    for (const s of which) {
      expect(s.outlierChannels).toEqual([3, 17, 40]);
      expect(s.folded).toBe("mul"); // post-norm: the residual reads the LayerNorm output too
      expect(outlierRatio(absMax.get(s.activation)!)).toBeGreaterThan(10);
    }
    const test = randomBatch(encoder.config, { batch: 2, sequence: 12, seed: 6 });
    const expected = await run(model, test);
    const actual = await run(smoothed, test);
    expect(cosine(actual.last_hidden_state!, expected.last_hidden_state!)).toBeGreaterThan(0.99999);
    // The smoothed activations really lost their outlier channels.
    const name = which[0]!.smoothed;
    const values = (await run(withOutputs(smoothed, [name]), test, [name]))[name]!;
    const channelMax = new Float32Array(SHAPE.hidden);
    values.forEach((v, i) => (channelMax[i % SHAPE.hidden] = Math.max(channelMax[i % SHAPE.hidden]!, Math.abs(v))));
    expect(outlierRatio(channelMax)).toBeLessThan(outlierRatio(absMax.get(which[0]!.activation)!) / 3);
    expect(factors.get(name)).toHaveLength(SHAPE.hidden);
  });

  // Per-channel affine producers the templates emit before a block's MatMuls (SimplifiedLayerNormalization
  // is smoothed by an inserted Mul instead: op-policy.ts says why).
  const NORM_FORMS: Array<{
    form: string;
    folded: string;
    scaled: number;
    norm: (g: GraphBuilder, ops: Ops, x: Value, gamma: Value) => Value;
  }> = [
    {
      form: "LayerNormalization (gamma and beta)",
      folded: "layernorm",
      scaled: 2,
      norm: (g, ops, x, gamma) => ops.layerNorm(x, gamma, g.constFloat(new Float32Array(8).fill(0.1), [8], "beta"), 1e-5),
    },
    {
      form: "x / rms(x) · gamma in standard ops (RMSNorm, portable graph)",
      folded: "channel-scale",
      scaled: 1,
      norm: (_g, ops, x, gamma) => {
        const rms = ops.sqrt(ops.add(ops.reduceMean(ops.mul(x, x), [-1]), ops.scalar(1e-6, "epsilon")));
        return ops.mul(ops.div(x, rms), gamma);
      },
    },
  ];

  for (const { form, folded, scaled, norm } of NORM_FORMS) {
    it(`folds 1/s into ${form} when the MatMuls are its only readers: same outputs, weight rows scaled`, async () => {
      const g = new GraphBuilder(17);
      const ops = new Ops(g);
      const x = g.input("x", DataType.FLOAT, ["batch", 8]);
      const gamma = Float32Array.from({ length: 8 }, (_, i) => (i === 5 ? 30 : 1 + i / 10));
      const normed = norm(g, ops, x, g.constFloat(gamma, [8], "gamma"));
      const w1Values = Float32Array.from({ length: 8 * 4 }, (_, i) => Math.sin(i));
      const w1 = g.constFloat(w1Values, [8, 4], "w1");
      const w2 = g.constFloat(
        Float32Array.from({ length: 8 * 3 }, (_, i) => Math.cos(i)),
        [8, 3],
        "w2",
      );
      g.output(ops.matMul(normed, w1), "y1", DataType.FLOAT, ["batch", 4]);
      g.output(ops.matMul(normed, w2), "y2", DataType.FLOAT, ["batch", 3]);
      const model = g.build({}, "test");
      const groups = smoothingGroups(model);
      expect(groups).toHaveLength(1);
      expect(groups[0]!.consumers).toHaveLength(2);
      const absMax = new Map([[normed, Float32Array.from(gamma, (v) => Math.abs(v) * 2)]]);
      const { model: smoothed, smoothed: which } = applySmoothing(model, groups, absMax, { alpha: 0.5, outlierRatio: 6 });
      expect(which.map((s) => s.folded)).toEqual([folded]);
      // No node added: the producer's own per-channel constants carry 1/s.
      expect(smoothed.graph.nodes.map((n) => n.opType)).toEqual(model.graph.nodes.map((n) => n.opType));
      const newConstants = smoothed.graph.initializers.filter((i) => i.name.endsWith("_smoothed")).map((i) => i.name);
      expect(newConstants).toHaveLength(2 + scaled); // two weights, and the norm's scale (and shift)
      // The MatMul weights: row j multiplied by s_j, the norm's scale divided by it.
      const index = new GraphIndex(smoothed.graph);
      const matMul = smoothed.graph.nodes.find((n) => n.opType === "MatMul" && n.inputs[1]!.startsWith("w1"))!;
      const w1Smoothed = initializerToFloat32(initializer(smoothed, matMul.inputs[1]!)!);
      const producer = index.producers.get(normed)!;
      const scaleSlot = producer.inputs.findIndex((i) => i.startsWith("gamma") && i.endsWith("_smoothed"));
      const gammaSmoothed = initializerToFloat32(initializer(smoothed, producer.inputs[scaleSlot]!)!);
      for (let j = 0; j < 8; j++) {
        const s = gamma[j]! / gammaSmoothed[j]!;
        expect(s).not.toBeCloseTo(1, 3);
        for (let n = 0; n < 4; n++) expect(w1Smoothed[j * 4 + n]!).toBeCloseTo(w1Values[j * 4 + n]! * s, 4);
      }
      const input = Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i * 1.7) * 3);
      const runXY = async (m: Model) => {
        const session = await ort.InferenceSession.create(encodeModel(m));
        const out = await session.run({ x: new ort.Tensor("float32", input, [5, 8]) });
        await session.release();
        return [out.y1!.data as Float32Array, out.y2!.data as Float32Array];
      };
      const [e1, e2] = await runXY(model);
      const [a1, a2] = await runXY(smoothed);
      for (const [a, e] of [
        [a1!, e1!],
        [a2!, e2!],
      ])
        a.forEach((v, i) => expect(v).toBeCloseTo(e[i]!, 4));
    });
  }

  it("statistics of a smoothed tensor can be taken from the unsmoothed one, channel-scaled in the worker", () => {
    const collector = new StatisticsCollector();
    const data = Float32Array.from([1, -20, 3, 2, 40, -1]);
    collector.observe(
      { name: "x", key: "x_smoothed", observer: "minmax", channelScale: Float32Array.from([1, 0.1, 1]), channelAbsMax: true },
      data,
      [2, 3],
    );
    const stats = collector.collect();
    expect(Object.keys(stats)).toEqual(["x_smoothed"]);
    expect(stats.x_smoothed!.observer).toMatchObject({ min: -2, max: 4 });
    expect([...stats.x_smoothed!.channelAbsMax!]).toEqual([2, 4, 3]);
  });
});

describe("the calibration worker", () => {
  it("starts each model it loads without the statistics of the previous one", async () => {
    const encoder = syntheticEncoder(syntheticBert({ seed: 77 }));
    const path = join(tempDir(), "m.onnx");
    await writeModel(buildEncoderGraph(encoder, { opset: 17, variant: "portable" }), path);
    const worker = await IsolatedSession.open(path);
    try {
      const feeds = batchFeeds(randomBatch(encoder.config, { batch: 2, sequence: 5 }), worker.inputNames);
      await worker.observe(feeds, { tensors: [{ name: "last_hidden_state", observer: "minmax" }] });
      expect(Object.keys(await worker.collectStatistics(true))).toEqual(["last_hidden_state"]);
      await worker.load(path);
      expect(await worker.collectStatistics()).toEqual({});
    } finally {
      worker.close();
    }
  });
});
