// Where the time goes: onnxruntime's own profiler on the FP32 (primary) and INT8 static exports
// of the bge-small-shaped model, kernel time per op type per run, at 8×128 and 1×16. The figures
// docs/graph-forms.md cites (bench/results/profile.txt).
//   npm run build && tsx bench/profile.ts
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { EmbeddingService, loadEncoder, silentLogger } from "../dist/index.js";
import { randomBatch } from "../dist/fixtures/batches.js";
import { ortFeeds } from "../dist/ort/ort-feeds.js";
import { CACHE, bgeSmallModel, keepOutput } from "./common.js";

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

/** Mean kernel milliseconds per run, per op type, over RUNS profiled runs after WARMUP. */
async function profile(path: string, batch: number, sequence: number): Promise<Map<string, number>> {
  const dir = join(work, "traces");
  mkdirSync(dir, { recursive: true });
  const prefix = `trace-${batch}x${sequence}-${Date.now()}`;
  const session = await ort.InferenceSession.create(path, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: 2,
    enableProfiling: true,
    profileFilePrefix: join(dir, prefix),
  });
  const feeds = ortFeeds(randomBatch(config, { batch, sequence, seed: 5 }), session.inputNames);
  for (let i = 0; i < WARMUP + RUNS; i++) await session.run(feeds);
  session.endProfiling(); // writes <prefix>_<timestamp>.json
  await session.release();
  const trace = join(
    dir,
    readdirSync(dir).find((f) => f.startsWith(prefix))!,
  );
  type Event = { cat: string; name: string; dur: number; args: { op_name?: string } };
  const events = (JSON.parse(readFileSync(trace, "utf8")) as Event[]).filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
  const byOp = new Map<string, number>();
  for (const e of events) byOp.set(e.args.op_name ?? "?", (byOp.get(e.args.op_name ?? "?") ?? 0) + e.dur / 1000 / (WARMUP + RUNS));
  return byOp;
}

console.log(`kernel time per run (ms), mean of ${WARMUP + RUNS} profiled runs, 2 threads, optimization level all`);
for (const [batch, sequence] of SHAPES) {
  for (const [label, path] of Object.entries(models)) {
    const byOp = [...(await profile(path, batch, sequence))].sort((a, b) => b[1] - a[1]);
    const total = byOp.reduce((sum, [, ms]) => sum + ms, 0);
    console.log(`\n${label}, ${batch}×${sequence}: total ${total.toFixed(1)} ms`);
    for (const [op, ms] of byOp.filter(([, ms]) => ms >= 0.05)) console.log(`  ${op.padEnd(28)} ${ms.toFixed(2).padStart(8)}`);
  }
}
rmSync(work, { recursive: true, force: true });
