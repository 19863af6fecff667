// INT8 export end to end (isolated onnxruntime workers, as users run it): fidelity on the
// synthetic fixtures, file names, cleanup, the SPEC's quantization fallback, the fidelity
// fallback, and bad calibration input.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ExportError } from "../src/common/errors.js";
import { silentLogger } from "../src/common/log.js";
import type { Quantizer } from "../src/export/quantized-export.js";
import { EmbeddingService } from "../src/export/service.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { withOutlierChannels } from "../src/fixtures/outliers.js";
import { readModel } from "../src/graph/onnx-file.js";
import { QuantizationError, QuantizationInputError, builtinCalibrationTexts } from "../src/quant/corpus.js";
import { type QuantizationOptions, resolveQuantizationOptions } from "../src/quant/options.js";
import { quantizeModel } from "../src/quant/quantize.js";
import { ENCODER_OUTPUTS_JUDGING } from "../src/heads/encoder-outputs.js";
import type { QuantizationReport } from "../src/quant/report.js";
import { modelFolder, recordingLogger, runCli, tempDir } from "./helpers/index.js";

const SMALL = { vocab: BUNDLED_VOCAB_SIZE, layers: 2, hidden: 64, heads: 4, intermediate: 256, maxPositions: 512 };
const OUTLIER_CHANNELS = [5, 23, 50];
const local = { resolve: async (id: string) => id };

const readReport = (dir: string): QuantizationReport => JSON.parse(readFileSync(join(dir, "quantization_report.json"), "utf8"));

function expectFaithful(report: QuantizationReport): void {
  for (const embedding of [report.fidelity.pooled, report.fidelity.meanPooled!]) {
    expect(embedding.mean).toBeGreaterThanOrEqual(0.99);
    expect(embedding.min).toBeGreaterThanOrEqual(0.98);
  }
}

/** Runs the real quantizer on an FP32 export of `source` (no re-export per setting). */
async function quantizeFp32(fp32Path: string, source: string, outDir: string, options: QuantizationOptions) {
  const encoder = loadEncoder(source);
  try {
    return await quantizeModel({
      model: buildEncoderGraph(encoder, { opset: 17, variant: "primary" }),
      fp32Path,
      outputPath: join(outDir, "model_int8.onnx"),
      tokenizer: loadTokenizer(source).tokenizer,
      padTokenId: encoder.config.padTokenId,
      maxSequence: encoder.config.maxSequence,
      settings: resolveQuantizationOptions(options),
      calibration: builtinCalibrationTexts(),
      logger: silentLogger,
      judging: ENCODER_OUTPUTS_JUDGING,
    });
  } finally {
    encoder.close();
  }
}

describe("static INT8 export of a small BERT (defaults)", () => {
  const source = modelFolder(syntheticBert({ ...SMALL, seed: 41 }), {}, "small-bert");
  const out = join(tempDir(), "out");
  let path: string;
  beforeAll(async () => {
    path = await new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(out);
  });

  it("writes <slug>_int8_qdq.onnx and its report, deletes the FP32 intermediate, leaves no temporary file", () => {
    expect(path).toBe(join(out, "small-bert_int8_qdq.onnx"));
    expect(readdirSync(out).sort()).toEqual([
      "config.json",
      "export_manifest.json",
      "quantization_report.json",
      "small-bert_int8_qdq.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
  });

  it("keeps pooled and mean-pooled cosine ≥ 0.99 mean, ≥ 0.98 min on held-out texts, at ≤ 30% of the FP32 size", () => {
    const report = readReport(out);
    expectFaithful(report);
    expect(report.fidelity.passed).toBe(true);
    expect(report.fidelity.texts).toBeGreaterThanOrEqual(60);
    expect(report.fidelity.neighbourAgreement.k).toBe(10);
    expect(report.fidelity.worstLayers.length).toBeGreaterThan(0);
    expect(report.sizes.quantizedBytes).toBe(statSync(path).size);
    expect(report.sizes.ratio).toBeLessThanOrEqual(0.3);
    expect(report.settings).toMatchObject({
      mode: "static",
      calibrationMethod: "minmax",
      maxLength: 128,
      calibrationTexts: { origin: "built-in" },
    });
    expect(report.calibration!.texts).toBeGreaterThanOrEqual(250);
    expect(report.calibration!.excluded).toEqual([]);
  });

  it("is a QDQ graph: int8 activations and weights around MatMuls, Softmax and LayerNorm left in float", () => {
    const model = readModel(path);
    expect(model.metadata).toMatchObject({ quantization: "int8_qdq_static", quantization_mode: "static" });
    const ops = model.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === "QuantizeLinear").length).toBeGreaterThanOrEqual(4 * SMALL.layers);
    const dequantized = new Set(model.graph.nodes.filter((n) => n.opType === "DequantizeLinear").flatMap((n) => n.outputs));
    for (const node of model.graph.nodes.filter((n) => ["Softmax", "LayerNormalization", "Tanh", "Erf"].includes(n.opType))) {
      expect(
        node.inputs.some((i) => dequantized.has(i)),
        node.name,
      ).toBe(false);
    }
  });
});

describe("outlier channels (LayerNorm gamma ×25 on a few channels)", () => {
  const source = modelFolder(withOutlierChannels(syntheticBert({ ...SMALL, seed: 42 }), OUTLIER_CHANNELS), {}, "outlier-bert");
  let fp32: string;
  beforeAll(async () => {
    fp32 = await new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(join(tempDir(), "fp32"), {
      quantized: false,
    });
  });

  it("SmoothQuant finds the outlier channels and static INT8 holds cosine ≥ 0.99 mean / ≥ 0.98 min; without it fidelity drops", async () => {
    const smoothed = (await quantizeFp32(fp32, source, tempDir(), {})).report;
    expectFaithful(smoothed);
    expect(smoothed.smoothing!.smoothed.length).toBeGreaterThan(0);
    for (const s of smoothed.smoothing!.smoothed) expect(s.outlierChannels).toEqual(OUTLIER_CHANNELS);
    const plain = (await quantizeFp32(fp32, source, tempDir(), { smoothing: false, fidelityThreshold: 0.5 })).report;
    expect(plain.smoothing).toBeUndefined();
    expect(plain.fidelity.worstCosine).toBeLessThan(smoothed.fidelity.worstCosine);
    expect(plain.fidelity.worstLayers[0]!.relativeError).toBeGreaterThan(smoothed.fidelity.worstLayers[0]!.relativeError);
  });
});

describe("dynamic mode", () => {
  it("writes <slug>_int8_dynamic.onnx: int8 weights, run-time activation quantization, no calibration", async () => {
    const source = modelFolder(syntheticBert({ ...SMALL, seed: 43 }), {}, "dyn-bert");
    const out = join(tempDir(), "out");
    const path = await new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(out, { mode: "dynamic" });
    expect(path).toBe(join(out, "dyn-bert_int8_dynamic.onnx"));
    expect(readdirSync(out).filter((f) => f.endsWith(".onnx"))).toEqual(["dyn-bert_int8_dynamic.onnx"]);
    const report = readReport(out);
    expect(report.mode).toBe("dynamic");
    expect(report.calibration).toBeUndefined();
    expectFaithful(report);
    expect(report.sizes.ratio).toBeLessThanOrEqual(0.3);
    expect(readModel(path).graph.nodes.filter((n) => n.opType === "DynamicQuantizeLinear").length).toBe(report.matMuls.quantized);
  });
});

describe("quantization fallback (SPEC)", () => {
  const source = modelFolder(syntheticBert({ ...SMALL, seed: 44 }), {}, "fallback-bert");

  it("a failure on the primary graph removes its FP32 file, emits the portable graph and quantizes that", async () => {
    const variants: string[] = [];
    const quantizer: Quantizer = async (request) => {
      variants.push(request.model.metadata.graph_variant!);
      expect(existsSync(request.fp32Path)).toBe(true);
      if (request.model.metadata.graph_variant === "primary") throw new Error("onnxruntime crashed (SIGSEGV) while calibrating");
      return quantizeModel(request);
    };
    const logger = recordingLogger();
    const out = join(tempDir(), "out");
    const path = await new EmbeddingService(source, { logger, resolver: local, quantizer }).exportOnnxModel(out);
    expect(variants).toEqual(["primary", "portable"]);
    expect(logger.warnings.some((w) => /quantizing the primary graph failed \(onnxruntime crashed \(SIGSEGV\)/.test(w))).toBe(true);
    expect(readModel(path).metadata.graph_variant).toBe("portable");
    expect(readdirSync(out).sort()).toEqual([
      "config.json",
      "export_manifest.json",
      "fallback-bert_int8_qdq.onnx",
      "quantization_report.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expectFaithful(readReport(out));
  });

  /** A quantizer that always fails, counting its calls. */
  const failing = (message: string) => {
    const state = {
      calls: 0,
      quantizer: (async () => {
        state.calls++;
        throw new Error(message);
      }) as Quantizer,
    };
    return state;
  };

  it("a second failure propagates with a clear message and leaves nothing, not even the folder it created", async () => {
    const state = failing("simulated quantization failure");
    const out = join(tempDir(), "out");
    const run = new EmbeddingService(source, { logger: silentLogger, resolver: local, quantizer: state.quantizer }).exportOnnxModel(out);
    await expect(run).rejects.toThrow(ExportError);
    await expect(run).rejects.toThrow("INT8 quantization failed for the primary and the portable graph: simulated quantization failure");
    expect(state.calls).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it("with one forced variant there is no retry", async () => {
    const state = failing("nope");
    const out = join(tempDir(), "out");
    const run = new EmbeddingService(source, { logger: silentLogger, resolver: local, quantizer: state.quantizer }).exportOnnxModel(out, {
      variant: "primary",
    });
    await expect(run).rejects.toThrow("INT8 quantization of the primary graph failed: nope");
    expect(state.calls).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

describe("fidelity fallback", () => {
  const source = modelFolder(syntheticBert({ ...SMALL, seed: 45 }), {}, "fidelity-bert");
  let fp32: string;
  let baseline: QuantizationReport;
  beforeAll(async () => {
    fp32 = await new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(join(tempDir(), "fp32"), {
      quantized: false,
    });
    baseline = (await quantizeFp32(fp32, source, tempDir(), { fidelityThreshold: 0.5 })).report;
  });

  it("below the threshold, the most sensitive MatMuls are kept in float until it holds, and the report says so", async () => {
    const threshold = 1 - (1 - baseline.fidelity.worstCosine) / 4;
    const { report } = await quantizeFp32(fp32, source, tempDir(), { fidelityThreshold: threshold });
    expect(report.fallback.keptInFloat.length).toBeGreaterThan(0);
    expect(report.fallback.attempts.length).toBeGreaterThan(1);
    expect(report.fallback.attempts[0]!.worstCosine).toBeLessThan(threshold);
    expect(report.fidelity.worstCosine).toBeGreaterThanOrEqual(threshold);
    expect(
      report.matMuls.float
        .filter((f) => f.reason === "kept in float for fidelity")
        .map((f) => f.node)
        .sort(),
    ).toEqual([...report.fallback.keptInFloat].sort());
  });

  it("a threshold no model can reach is a clear error, with nothing left behind", async () => {
    const dir = tempDir();
    const run = quantizeFp32(fp32, source, dir, { fidelityThreshold: 1 });
    await expect(run).rejects.toThrow(QuantizationError);
    await expect(run).rejects.toThrow(
      /INT8 cannot reach a held-out cosine of 1: even with every MatMul in float .*; the part that moves it most is .* \(quantized alone: [-0-9.]+\); lower fidelityThreshold or export FP32 \(--fp32\)/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("bad calibration input", () => {
  const source = modelFolder(syntheticBert({ ...SMALL, seed: 46 }), {}, "input-bert");

  it("is reported before anything is written", async () => {
    const empty = join(tempDir(), "empty.txt");
    writeFileSync(empty, "\n\n");
    const out = join(tempDir(), "never-created");
    const run = new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(out, { calibrationFile: empty });
    await expect(run).rejects.toThrow(QuantizationInputError);
    await expect(run).rejects.toThrow(`calibration file ${empty} holds no texts`);
    expect(existsSync(out)).toBe(false);
  });

  it("CLI: one line on stderr and exit 1 for a bad file, exit 2 for a bad flag value", async () => {
    const binary = join(tempDir(), "texts.txt");
    writeFileSync(binary, Uint8Array.from([0, 1, 2, 3]));
    const bad = await runCli(["export", source, "-o", join(tempDir(), "o"), "--calibration", binary, "--quiet"], { env: {} });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(`jazzmine-embed: error: calibration file ${binary} is binary (it holds NUL bytes), not text`);
    const usage = await runCli(["export", source, "-o", join(tempDir(), "o"), "--calibration-method", "kl"], { env: {} });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--calibration-method must be one of minmax, percentile, entropy, mse, not kl/);
  });

  it("texts longer than the maximum length are truncated, and the report says how many", async () => {
    const texts = join(tempDir(), "long.jsonl");
    const long = Array.from({ length: 300 }, (_, i) => `word${i % 50}`).join(" ");
    writeFileSync(texts, [...builtinCalibrationTexts().texts.slice(0, 40), long, `${long} again`].map((t) => JSON.stringify(t)).join("\n"));
    const out = join(tempDir(), "out");
    await new EmbeddingService(source, { logger: silentLogger, resolver: local }).exportOnnxModel(out, {
      calibrationFile: texts,
      maxLength: 32,
      mode: "static",
    });
    const report = readReport(out);
    expect(report.settings).toMatchObject({ maxLength: 32, calibrationTexts: { origin: texts, count: 42 } });
    expect(report.calibration!.truncatedTexts).toBeGreaterThanOrEqual(2);
    expectFaithful(report);
  });
});
