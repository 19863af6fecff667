// INT8 static, INT8 dynamic and INT4 of a BERT with outlier channels at the bge-small shape
// (synthetic:bge-small-outliers: 12 layers, hidden 384, vocab 30522, every LayerNorm gamma ×25
// on two channels), each at the default fidelity threshold: the first candidate's held-out
// cosine, what the fallback kept at higher precision, the result, its size and the time taken.
// The suite's fast variant of this is test/quant-outliers.test.ts.
//   npm run bench:outliers
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EmbeddingService, silentLogger, stderrLogger } from "../dist/index.js";
import { syntheticModelDir } from "../dist/bench/models.js";
import type { QuantizationMode } from "../dist/quant/options.js";
import { quantizeFolder } from "../dist/bench/quantize-folder.js";
import type { QuantizationReport } from "../dist/quant/report.js";
import { CACHE, keepOutput } from "./common.js";

keepOutput("outliers");
const MODES: QuantizationMode[] = ["static", "dynamic", "int4"];
const WORK = join(CACHE, "outliers");
const source = syntheticModelDir("bge-small-outliers", join(CACHE, "models"), (m) => process.stderr.write(`${m}\n`));
const resolver = { resolve: async (id: string) => id };
const fp32 = await new EmbeddingService(source, { logger: silentLogger, resolver }).exportOnnxModel(join(WORK, "fp32"), {
  quantized: false,
});
console.log("synthetic:bge-small-outliers (12 layers, hidden 384, vocab 30522, LayerNorm gamma ×25 on channels 17 and 301)");
console.log("default settings, fidelity threshold 0.98 (worst held-out cosine, pooler_output and mean-pooled), primary graph\n");
for (const mode of MODES) {
  mkdirSync(join(WORK, mode), { recursive: true });
  const started = performance.now();
  try {
    const { report } = await quantizeFolder({
      source,
      fp32Path: fp32,
      outputPath: join(WORK, mode, "model.onnx"),
      options: { mode },
      logger: stderrLogger,
    });
    console.log(describe(mode, report, (performance.now() - started) / 1000));
  } catch (error) {
    console.log(`${mode}: FAILED after ${((performance.now() - started) / 1000).toFixed(0)} s: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

function describe(mode: QuantizationMode, report: QuantizationReport, seconds: number): string {
  const { fallback, fidelity, sizes } = report;
  const first = fallback.attempts[0]!.worstCosine;
  const kept = [
    `${fallback.keptInFloat.length} MatMuls in float`,
    ...(fallback.keptAt8Bits ? [`${fallback.keptAt8Bits.length} at 8 bits`] : []),
    `tables in float16: ${fallback.tablesInFloat16.join(", ") || "none"}`,
    ...(fallback.floatActivations ? ["MatMulNBits activations in float"] : []),
  ];
  const costliest = fallback.sensitivity
    .slice(0, 3)
    .map((u) => `${u.kind === "matmuls" ? `${u.names.length} MatMuls from ${u.names[0]}` : u.names[0]} ${u.score.toFixed(4)}`)
    .join("; ");
  return (
    `${mode}: worst cosine ${fidelity.worstCosine.toFixed(4)} (${fidelity.passed ? "passed" : "failed"}; first candidate ${first.toFixed(4)}, ${fallback.attempts.length} candidates); ` +
    `kept ${kept.join(", ")}; ${(sizes.ratio * 100).toFixed(1)}% of FP32 (${(sizes.quantizedBytes / 2 ** 20).toFixed(1)} MiB); ${seconds.toFixed(0)} s` +
    (costliest ? `\n  costliest parts alone quantized: ${costliest}` : "")
  );
}
