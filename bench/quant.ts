// INT8 bench. On the bge-small-shaped model: FP32 vs INT8 static vs INT8 dynamic latency at
// batch×sequence 1×16 and 8×128 (runs interleaved round-robin, medians and paired ratios), file
// sizes, calibration and total quantization time. Then the fidelity of every calibration method,
// with and without SmoothQuant, on each synthetic fixture (small BERT, outlier channels, bge-small
// shape), next to the original utility's recipe (MinMax on a few repeated sentences) — the
// figures the defaults were chosen from.
//   npm run bench:quant               everything (several minutes on 2 cores)
//   npm run bench:quant -- --quick    latency, sizes and the default settings only
import { mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { EmbeddingService, buildEncoderGraph, loadEncoder, silentLogger } from "../dist/index.js";
import { loadTokenizer } from "../dist/artifact/tokenizer-folder.js";
import { VARIANTS, type VariantKey } from "../dist/bench/exports.js";
import { measureLatency } from "../dist/bench/latency.js";
import { mib } from "../dist/bench/markdown.js";
import { latencyTargets } from "../dist/bench/suite.js";
import { BUNDLED_VOCAB_SIZE, syntheticBert, writeModelFolder } from "../dist/fixtures/index.js";
import { withOutlierChannels } from "../dist/fixtures/outliers.js";
import { type TextSource, builtinCalibrationTexts } from "../dist/quant/corpus.js";
import { DEFAULT_QUANTIZATION, type QuantizationOptions, resolveQuantizationOptions } from "../dist/quant/options.js";
import { quantizeModel } from "../dist/quant/quantize.js";
import { ENCODER_OUTPUTS_JUDGING } from "../dist/heads/encoder-outputs.js";
import type { QuantizationReport } from "../dist/quant/report.js";
import { CACHE, bgeSmallModel, keepOutput } from "./common.js";

const QUICK = process.argv.includes("--quick");
keepOutput("quant", !QUICK);
/** Latency rounds per shape (default: as many as fit ~8 s, as in the suite). */
const ROUNDS = process.env.BENCH_ROUNDS ? Number(process.env.BENCH_ROUNDS) : undefined;
const WORK = join(CACHE, "quant");
const SMALL = { vocab: BUNDLED_VOCAB_SIZE, layers: 4, hidden: 128, heads: 4, intermediate: 512, maxPositions: 512 };

/** What the original utility calibrated on: a handful of sentences, repeated. */
const ORIGINAL_RECIPE: QuantizationOptions = {
  calibrationMethod: "minmax",
  smoothing: false,
  calibrationTexts: Array.from(
    { length: 8 },
    (_, i) =>
      [
        "Hello, world!",
        "This is a sample sentence for calibration.",
        "Embedding models turn text into vectors.",
        "The quick brown fox jumps over the lazy dog.",
      ][i % 4]!,
  ),
};

interface Exported {
  name: string;
  source: string;
  fp32: string;
}

async function exportFp32(name: string, source: string): Promise<Exported> {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  const fp32 = await new EmbeddingService(source, {
    logger: silentLogger,
    resolver: { resolve: async (id: string) => id },
  }).exportOnnxModel(dir, {
    quantized: false,
  });
  return { name, source, fp32 };
}

/** The quantizer on an FP32 export, as the export service runs it (minus the FP32 re-export). */
async function quantize(
  model: Exported,
  options: QuantizationOptions,
  file: string,
): Promise<{ path: string; report: QuantizationReport; wallSeconds: number }> {
  const encoder = loadEncoder(model.source);
  const outDir = join(WORK, model.name, "int8");
  mkdirSync(outDir, { recursive: true });
  const started = performance.now();
  try {
    const calibration: TextSource = options.calibrationTexts
      ? { texts: options.calibrationTexts, origin: "texts" }
      : builtinCalibrationTexts();
    const result = await quantizeModel({
      model: buildEncoderGraph(encoder, { opset: 17, variant: "primary" }),
      fp32Path: model.fp32,
      outputPath: join(outDir, file),
      tokenizer: loadTokenizer(model.source).tokenizer,
      padTokenId: encoder.config.padTokenId,
      maxSequence: encoder.config.maxSequence,
      settings: resolveQuantizationOptions({ fidelityThreshold: 0.01, ...options }),
      calibration,
      logger: silentLogger,
      judging: ENCODER_OUTPUTS_JUDGING,
    });
    return { ...result, wallSeconds: (performance.now() - started) / 1000 };
  } finally {
    encoder.close();
  }
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const f4 = (x: number) => x.toFixed(4);

function fidelityRow(label: string, report: QuantizationReport): string {
  const f = report.fidelity;
  return [
    pad(label, 34),
    `${f4(f.pooled.mean)} / ${f4(f.pooled.min)}`,
    `${f4(f.meanPooled!.mean)} / ${f4(f.meanPooled!.min)}`,
    `${f.neighbourAgreement.pooled.toFixed(3)} / ${f.neighbourAgreement.meanPooled!.toFixed(3)}`,
    pad(report.smoothing ? report.smoothing.smoothed.length : "-", 4),
    `${(f.worstLayers[0]?.relativeError ?? NaN).toFixed(3)}`,
  ].join("  ");
}

const FIDELITY_HEADER = `${pad("settings", 34)}  pooled mean/min    mean-pooled mean/min  top-10 agree p/m  smoothed  worst MatMul rel. err`;

mkdirSync(WORK, { recursive: true });
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}, load average ${loadavg()[0]!.toFixed(2)}`,
);

// ---- bge-small shape: sizes, calibration time, latency ----
const bge = await exportFp32("bge-small", bgeSmallModel());
const staticInt8 = await quantize(bge, {}, "bge_int8_qdq.onnx");
const dynamicInt8 = await quantize(bge, { mode: "dynamic" }, "bge_int8_dynamic.onnx");
const fp32Bytes = statSync(bge.fp32).size;
console.log("\nbge-small shape (12 layers, hidden 384, vocab 30522), default settings");
console.log(`  FP32            ${mib(fp32Bytes)}`);
for (const [label, q] of [
  ["INT8 static", staticInt8],
  ["INT8 dynamic", dynamicInt8],
] as const) {
  const s = q.report.seconds;
  console.log(
    `  ${pad(label, 14)}  ${mib(q.report.sizes.quantizedBytes)} (${(q.report.sizes.ratio * 100).toFixed(1)}% of FP32); ` +
      `quantization ${q.wallSeconds.toFixed(1)} s (calibration ${s.calibration.toFixed(1)} s, fidelity check ${s.fidelity.toFixed(1)} s); ` +
      `worst held-out cosine ${f4(q.report.fidelity.worstCosine)}`,
  );
}
// The suite's latency measurement (src/bench/latency.ts): interleaved rounds, no spinning.
const bgeEncoder = loadEncoder(bge.source);
const bgeConfig = bgeEncoder.config;
bgeEncoder.close();
const { shapes } = await measureLatency({
  models: [
    { key: "fp32", path: bge.fp32 },
    { key: "int8-static", path: staticInt8.path },
    { key: "int8-dynamic", path: dynamicInt8.path },
  ],
  shapes: [
    { batch: 1, sequence: 16 },
    { batch: 8, sequence: 128 },
  ],
  threads: availableParallelism(),
  spinning: false,
  config: bgeConfig,
  rounds: ROUNDS ? { fixed: ROUNDS, budgetMs: 0, min: ROUNDS, max: ROUNDS } : { budgetMs: 8000, min: 10, max: 300 },
  loadRounds: 1,
  baseline: "fp32",
});
console.log("\nlatency, interleaved rounds, median ms (median of per-round ratios to FP32):");
for (const { shape, rounds, results } of shapes) {
  console.log(
    `  ${shape.batch}×${shape.sequence} (${rounds} rounds):  ${results.map((r) => `${VARIANTS[r.variant as VariantKey].label} ${r.p50Ms.toFixed(2)} ms (${r.ratioToBaseline.toFixed(2)}×)`).join("   ")}`,
  );
}
const calibrationSeconds = staticInt8.report.seconds.calibration;
const met = (ok: boolean) => (ok ? "met" : "NOT met");
// The suite's own latency targets (only INT8 static ÷ FP32 at 8×128 applies: no portable graph here).
const latency = latencyTargets(shapes).map((t) => `${t.name} ${t.target}: ${t.reached} (${met(t.met)})`);
const fidelityThreshold = DEFAULT_QUANTIZATION.fidelityThreshold;
console.log(
  `\ntargets: ${latency.join("; ")}; ` +
    `calibration < 10 s: ${calibrationSeconds.toFixed(1)} s (${met(calibrationSeconds < 10)}); ` +
    `file ≤ 30% of FP32: ${(staticInt8.report.sizes.ratio * 100).toFixed(1)}% (${met(staticInt8.report.sizes.ratio <= 0.3)}); ` +
    `worst held-out cosine ≥ ${fidelityThreshold}: ${f4(staticInt8.report.fidelity.worstCosine)} (${met(staticInt8.report.fidelity.worstCosine >= fidelityThreshold)})`,
);

// ---- fidelity per calibration method, per fixture ----
const fixtures: Array<{ name: string; source: () => string }> = [
  { name: "small-bert", source: () => writeModelFolder(join(WORK, "src-small"), syntheticBert({ ...SMALL, seed: 21 })) },
  {
    name: "outlier-bert",
    source: () => writeModelFolder(join(WORK, "src-outlier"), withOutlierChannels(syntheticBert({ ...SMALL, seed: 22 }), [7, 50, 99], 25)),
  },
];
const settings: Array<[string, QuantizationOptions]> = [
  ["original recipe (minmax, 8 sentences)", ORIGINAL_RECIPE],
  ...(["minmax", "percentile", "entropy", "mse"] as const).flatMap((method): Array<[string, QuantizationOptions]> => [
    [`${method}`, { calibrationMethod: method, smoothing: false }],
    [`${method} + SmoothQuant`, { calibrationMethod: method }],
  ]),
  ["dynamic", { mode: "dynamic" }],
];
for (const fixture of [...fixtures, ...(QUICK ? [] : [{ name: "bge-small", source: () => bge.source }])]) {
  const model = fixture.name === "bge-small" ? bge : await exportFp32(fixture.name, fixture.source());
  console.log(`\nfidelity on ${fixture.name}, 79 held-out texts (cosine INT8 vs FP32):`);
  console.log(`  ${FIDELITY_HEADER}`);
  const quick = settings.filter(([, o]) => o === ORIGINAL_RECIPE || o.calibrationMethod === DEFAULT_QUANTIZATION.method);
  for (const [label, options] of QUICK ? quick : settings) {
    const { report } = await quantize(model, options, "candidate.onnx");
    console.log(`  ${fidelityRow(label, report)}`);
  }
}
