// Export speed and memory: FP32 export of the bge-small-shaped model (emit + write + verify in
// onnxruntime), each run in a fresh process. Prints wall time and peak RSS (median of runs).
import { cpus } from "node:os";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { CACHE, bgeSmallModel, fileMiB, median, runChild } from "./common.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const model = bgeSmallModel();
const weightsMiB = fileMiB(join(model, "model.safetensors"));
const output = join(CACHE, "export-out");
const runs: Array<{ wallMs: number; maxRssBytes: number }> = [];
for (let i = 0; i < RUNS; i++) {
  rmSync(output, { recursive: true, force: true });
  runs.push(runChild("export-once.ts", [model, output]));
}
const wall = median(runs.map((r) => r.wallMs));
const rss = median(runs.map((r) => r.maxRssBytes)) / 2 ** 20;
const onnxMiB = fileMiB(join(output, "bge-small-synthetic_fp32.onnx"));
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`);
console.log(`model: bge-small shape (12 layers, hidden 384, vocab 30522), weights ${weightsMiB.toFixed(1)} MiB, ONNX ${onnxMiB.toFixed(1)} MiB`);
console.log(`FP32 export (emit + write + verify), ${RUNS} runs in fresh processes:`);
console.log(`  wall time  median ${wall.toFixed(0)} ms   (runs: ${runs.map((r) => r.wallMs.toFixed(0)).join(", ")})`);
console.log(`  peak RSS   median ${rss.toFixed(0)} MiB = ${(rss / weightsMiB).toFixed(2)}× the weights (exporting process; the verification worker is a separate process)`);
