// Where the time goes: onnxruntime's own profiler on the FP32 (primary) and INT8 static exports
// of the bge-small-shaped model, kernel time per op type per run, at 8×128 and 1×16. The figures
// docs/graph-forms.md cites (bench/results/profile.txt).
//   npm run build && tsx bench/profile.ts
import { rmSync } from "node:fs";
import { join } from "node:path";
import { EmbeddingService, loadEncoder, silentLogger } from "../dist/index.js";
import { randomBatch } from "../dist/fixtures/batches.js";
import { ortFeeds } from "../dist/ort/ort-feeds.js";
import { CACHE, bgeSmallModel, keepOutput, profileOps } from "./common.js";

const RUNS = 20;
const WARMUP = 3;
const SHAPES = [
  [8, 128],
  [1, 16],
] as const;

keepOutput("profile");
const source = bgeSmallModel();
const work = join(CACHE, "profile");
rmSync(work, { recursive: true, force: true });
const service = new EmbeddingService(source, { logger: silentLogger });
const models = {
  "FP32 primary": await service.exportOnnxModel(join(work, "fp32"), { quantized: false }),
  "INT8 static": await service.exportOnnxModel(join(work, "int8")),
};
const encoder = loadEncoder(source);
const config = encoder.config;
encoder.close();

console.log(`kernel time per run (ms), mean of ${WARMUP + RUNS} profiled runs (the graphs in turn), 2 threads, optimization level all`);
for (const [batch, sequence] of SHAPES) {
  const feeds = (names: readonly string[]) => ortFeeds(randomBatch(config, { batch, sequence, seed: 5 }), names);
  const profiles = await profileOps(Object.values(models), feeds, join(work, "traces"), RUNS, WARMUP);
  for (const [i, label] of Object.keys(models).entries()) {
    const byOp = [...profiles[i]!].sort((a, b) => b[1] - a[1]);
    const total = byOp.reduce((sum, [, ms]) => sum + ms, 0);
    console.log(`\n${label}, ${batch}×${sequence}: total ${total.toFixed(1)} ms`);
    for (const [op, ms] of byOp.filter(([, ms]) => ms >= 0.05)) console.log(`  ${op.padEnd(28)} ${ms.toFixed(2).padStart(8)}`);
  }
}
rmSync(work, { recursive: true, force: true });
