// INT4 method comparison on the bge-small-shaped model (synthetic random weights, real layout):
// for each weight method (round-to-nearest, AWQ, GPTQ, AWQ+GPTQ) and block layout (size,
// symmetric or not), the quantizer as the export runs it at the default fidelity threshold: the
// worst held-out cosine with every MatMul at 4 bits (its first attempt), the share of MatMul
// weights left at 4 bits once the fallback holds the threshold, the file ÷ FP32, the time it
// took, then the latency of the files at 1×16 and 8×128 (the suite's interleaved rounds).
//   npm run bench:int4                 every configuration (about an hour on a loaded 2-core VM)
//   npm run bench:int4 -- --quick      block 32 symmetric only, no latency
import { mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { EmbeddingService, buildEncoderGraph, loadEncoder, silentLogger } from "../dist/index.js";
import { loadTokenizer } from "../dist/artifact/tokenizer-folder.js";
import { measureLatency } from "../dist/bench/latency.js";
import { expandAttention } from "../dist/quant/attention-expansion.js";
import { builtinCalibrationTexts } from "../dist/quant/corpus.js";
import { GraphIndex } from "../dist/quant/graph-index.js";
import type { Int4Method } from "../dist/quant/int4-methods.js";
import { DEFAULT_QUANTIZATION, type QuantizationOptions, resolveQuantizationOptions } from "../dist/quant/options.js";
import { quantizeModel } from "../dist/quant/quantize.js";
import { matMulTargets } from "../dist/quant/targets.js";
import { CACHE, bgeSmallModel, keepOutput } from "./common.js";
import { ENCODER_OUTPUTS_JUDGING } from "../dist/heads/encoder-outputs.js";

const QUICK = process.argv.includes("--quick");
keepOutput("int4-methods", !QUICK);
const ROUNDS = process.env.BENCH_ROUNDS ? Number(process.env.BENCH_ROUNDS) : undefined;
const WORK = join(CACHE, "int4");

interface Configuration {
  method: Int4Method;
  blockSize: number;
  symmetric: boolean;
}

const configuration = (method: Int4Method, blockSize: number, symmetric = true): Configuration => ({ method, blockSize, symmetric });
/** Round-to-nearest and GPTQ over block sizes and symmetry; AWQ and AWQ+GPTQ at the default layout. */
const CONFIGURATIONS: Configuration[] = QUICK
  ? (["rtn", "awq", "gptq", "awq+gptq"] as const).map((method) => configuration(method, 32))
  : [
      configuration("rtn", 32),
      configuration("rtn", 32, false),
      configuration("rtn", 64),
      configuration("rtn", 128),
      configuration("awq", 32),
      configuration("gptq", 32),
      configuration("gptq", 32, false),
      configuration("gptq", 64),
      configuration("gptq", 128),
      configuration("gptq", 128, false),
      configuration("awq+gptq", 32),
    ];

const label = (c: Configuration) => `${c.method} b${c.blockSize} ${c.symmetric ? "sym" : "asym"}`;

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const source = bgeSmallModel();
const fp32 = await new EmbeddingService(source, { logger: silentLogger, resolver: { resolve: async (id: string) => id } }).exportOnnxModel(
  join(WORK, "fp32"),
  { quantized: false },
);
const fp32Bytes = statSync(fp32).size;
const encoder = loadEncoder(source);
const config = encoder.config;
const graph = buildEncoderGraph(encoder, { opset: 17, variant: "primary" });
const weightCount = new Map(
  // The quantizer splits the fused attention projections first: count its MatMuls.
  matMulTargets(new GraphIndex(expandAttention(graph).graph)).flatMap((t) =>
    t.weight ? [[t.node.name, t.weight.initializer.dims[0]! * t.weight.initializer.dims[1]!] as const] : [],
  ),
);
const tokenizer = loadTokenizer(source).tokenizer;
const threshold = DEFAULT_QUANTIZATION.fidelityThreshold;

console.log(
  `bge-small shape (synthetic weights: 12 layers, hidden 384, vocab 30522), FP32 ${fp32Bytes} bytes; the quantizer's own held-out judge ` +
    `(worst pooled / mean-pooled cosine vs FP32), built-in calibration corpus, fidelity threshold ${threshold}, accuracy_level 4.`,
);
console.log(
  "onnxruntime's 4-bit quantizer (matmul_nbits_quantizer: RTN, HQQ, GPTQ) is the anchor the issue names; it is Python and does not run " +
    "in this environment, so it has no row here (no figures are quoted for it).\n",
);
const header = [
  "method / block / symmetry".padEnd(24),
  "all-4-bit worst cos",
  "at threshold: worst cos",
  "% MatMul weights 4-bit",
  "8-bit MatMuls",
  "file ÷ FP32",
  "quantize s",
].join("  ");
console.log(header);
const files: Array<{ key: string; path: string }> = [{ key: "fp32", path: fp32 }];
for (const c of CONFIGURATIONS) {
  const options: QuantizationOptions = { mode: "int4", int4Method: c.method, int4BlockSize: c.blockSize, int4Symmetric: c.symmetric };
  const output = join(WORK, `${label(c).replaceAll(/[ +]/g, "-")}.onnx`);
  const started = performance.now();
  const { report } = await quantizeModel({
    model: graph,
    fp32Path: fp32,
    outputPath: output,
    tokenizer,
    padTokenId: config.padTokenId,
    maxSequence: config.maxSequence,
    settings: resolveQuantizationOptions(options),
    judging: ENCODER_OUTPUTS_JUDGING,
    calibration: builtinCalibrationTexts(),
    logger: silentLogger,
  });
  const seconds = (performance.now() - started) / 1000;
  const eightBit = report.fallback.keptInFloat;
  const total = [...weightCount.values()].reduce((a, b) => a + b, 0);
  const wide = eightBit.reduce((s, name) => s + (weightCount.get(name) ?? 0), 0);
  console.log(
    [
      label(c).padEnd(24),
      report.fallback.attempts[0]!.worstCosine.toFixed(4).padEnd(19),
      report.fidelity.worstCosine.toFixed(4).padEnd(23),
      `${((100 * (total - wide)) / total).toFixed(1)}%`.padEnd(22),
      `${eightBit.length} of ${weightCount.size}`.padEnd(13),
      (statSync(output).size / fp32Bytes).toFixed(4).padEnd(11),
      seconds.toFixed(1),
    ].join("  "),
  );
  files.push({ key: label(c), path: output });
  rmSync(join(WORK, "quantization_report.json"), { force: true });
}
encoder.close();

if (!QUICK) {
  const { shapes } = await measureLatency({
    models: files,
    shapes: [
      { batch: 1, sequence: 16 },
      { batch: 8, sequence: 128 },
    ],
    threads: availableParallelism(),
    spinning: false,
    config,
    rounds: ROUNDS ? { fixed: ROUNDS, budgetMs: 0, min: ROUNDS, max: ROUNDS } : { budgetMs: 4000, min: 5, max: 60 },
    loadRounds: 1,
    baseline: "fp32",
  });
  console.log("\nlatency of the files above (at the threshold), interleaved rounds, median ms (median of per-round ratios to FP32):");
  for (const { shape, rounds, results } of shapes) {
    console.log(`  ${shape.batch}×${shape.sequence} (${rounds} rounds):`);
    for (const r of results) console.log(`    ${r.variant.padEnd(24)}  ${r.p50Ms.toFixed(2)} ms  (${r.ratioToBaseline.toFixed(2)}×)`);
  }
}
