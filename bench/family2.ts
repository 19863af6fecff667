// Inference latency of the rotary / ALiBi / GLU templates (family II) against BERT, primary vs
// portable graph, at a bge-small-like size (12 layers, hidden 384, 12 heads; GLU models with an
// intermediate of 1024 so their MLPs hold about BERT's 1536-wide parameter count). Both variants of
// one model run in interleaved rounds in this process (onnxruntime, optimization level all);
// prints medians and the portable/primary ratio measured in the same run.
// Run: npm run build && tsx bench/family2.ts
import { cpus } from "node:os";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as ort from "onnxruntime-node";
import type { GraphVariant } from "../dist/arch/architecture.js";
import { buildEncoderGraph, loadEncoder } from "../dist/arch/encoder.js";
import {
  type SyntheticModel,
  randomBatch,
  syntheticBert,
  syntheticGte,
  syntheticJinaBert,
  syntheticModernBert,
  syntheticNomicBert,
  writeModelFolder,
} from "../dist/fixtures/index.js";
import { encodeModel } from "../dist/graph/serialize.js";
import { batchFeeds } from "../dist/runtime/feeds.js";
import { CACHE, median } from "./common.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SHAPE = { layers: 12, hidden: 384, heads: 12, vocab: 30522, maxPositions: 512, seed: 7 };
const GLU = { ...SHAPE, intermediate: 1024 };
const MODELS: Array<[string, () => SyntheticModel]> = [
  ["bert", () => syntheticBert({ ...SHAPE, intermediate: 1536 })],
  ["jina_bert", () => syntheticJinaBert(GLU)],
  ["nomic_bert", () => syntheticNomicBert(GLU)],
  ["gte", () => syntheticGte(GLU)],
  ["modernbert", () => syntheticModernBert({ ...GLU, localAttention: 128 })],
];
const BATCHES: Array<[number, number]> = [
  [4, 128],
  [1, 512],
];

async function session(dir: string, variant: GraphVariant): Promise<ort.InferenceSession> {
  const encoder = loadEncoder(dir);
  try {
    return await ort.InferenceSession.create(encodeModel(buildEncoderGraph(encoder, { opset: 17, variant })), { graphOptimizationLevel: "all" });
  } finally {
    encoder.close();
  }
}

async function timeRun(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  const start = performance.now();
  await s.run(feeds);
  return performance.now() - start;
}

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}`);
console.log(`shape: 12 layers, hidden 384, 12 heads (BERT MLP 1536, GLU 2×1024); ${ROUNDS} interleaved rounds; median ms`);
for (const [name, make] of MODELS) {
  const dir = join(CACHE, `family2-${name}`);
  if (!existsSync(join(dir, "model.safetensors"))) writeModelFolder(dir, make(), { tokenizer: false });
  const [primary, portable] = [await session(dir, "primary"), await session(dir, "portable")];
  const config = loadEncoder(dir);
  for (const [b, s] of BATCHES) {
    const batch = randomBatch(config.config, { batch: b, sequence: s, seed: 5 });
    const feeds: Record<string, ort.Tensor> = {};
    for (const [input, feed] of Object.entries(batchFeeds(batch, primary.inputNames))) feeds[input] = new ort.Tensor(feed.type, feed.data, feed.dims);
    await timeRun(primary, feeds);
    await timeRun(portable, feeds);
    const times: Record<GraphVariant, number[]> = { primary: [], portable: [] };
    for (let round = 0; round < ROUNDS; round++) {
      times.primary.push(await timeRun(primary, feeds));
      times.portable.push(await timeRun(portable, feeds));
    }
    const [p, q] = [median(times.primary), median(times.portable)];
    console.log(`${name.padEnd(11)} ${`${b}×${s}`.padStart(6)}  primary ${p.toFixed(1).padStart(7)}  portable ${q.toFixed(1).padStart(7)}  portable/primary ${(q / p).toFixed(2)}`);
  }
  config.close();
  await primary.release();
  await portable.release();
}
