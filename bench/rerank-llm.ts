// LLM reranker vs cross-encoder throughput: a Qwen3-Reranker-0.6B-shaped synthetic model (hidden
// 1024, 16 heads on 8, head_dim 128, intermediate 3072, vocab 151669, 2 of its 28 layers, tied
// embeddings under "model.") exported with --task rerank (the yes − no head), next to a
// bge-reranker-base-shaped one (XLM-R base: 12 layers, hidden 768, vocab 250002), both FP32,
// timed in onnxruntime at the reranker shapes (1×128: one pair; 32×256: a candidate list) in
// pairs/s. Random weights, random token ids; the median of a few rounds (short runs).
//   tsx bench/rerank-llm.ts [--rounds N]
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { describeMachine, finishMachine, machineLine } from "../src/bench/machine.js";
import { RERANK_SHAPES, shapeLabel } from "../src/bench/shapes.js";
import { median } from "../src/bench/stats.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { QWEN3_0_6B_SHAPE, syntheticQwen3, writeDecoderFolder } from "../src/fixtures/decoders.js";
import { type SyntheticModel, writeModelFolder } from "../src/fixtures/model-folder.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";

const CACHE = join(import.meta.dirname, "..", ".cache", "bench", "rerank-llm");
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 5;

const MODELS: Array<{ name: string; about: string; task?: "rerank"; create: () => SyntheticModel; decoder: boolean }> = [
  {
    name: "qwen3-reranker-0.6b",
    about: "Qwen3-Reranker-0.6B shape, 2 layers (yes − no head)",
    task: "rerank",
    decoder: true,
    create: () => syntheticQwen3({ ...QWEN3_0_6B_SHAPE, seed: 7, prefix: "model.", streamed: true }),
  },
  {
    name: "bge-reranker-base",
    about: "bge-reranker-base shape (XLM-R base, 12 layers)",
    decoder: false,
    create: () =>
      syntheticReranker("xlm-roberta", {
        seed: 7,
        vocab: 250002,
        shape: { layers: 12, hidden: 768, heads: 12, intermediate: 3072, maxPositions: 514, typeVocab: 1 },
      }),
  },
];

function modelDir(model: (typeof MODELS)[number]): string {
  const dir = join(CACHE, model.name);
  if (!existsSync(join(dir, "config.json"))) {
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    if (model.decoder) writeDecoderFolder(partial, model.create(), undefined);
    else writeModelFolder(partial, model.create());
    renameSync(partial, dir);
  }
  return dir;
}

const machine = describeMachine();
const started = new Date().toISOString();
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

say(`FP32, ${rounds} rounds per shape after one warm-up, 2 intra-op threads; pairs/s = batch / median run time`);
say(`${"model".padEnd(58)}${RERANK_SHAPES.map((s) => shapeLabel(s).padStart(30)).join("")}`);
for (const model of MODELS) {
  const source = modelDir(model);
  const out = join(CACHE, `${model.name}-onnx`);
  rmSync(out, { recursive: true, force: true });
  const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, {
    quantized: false,
    ...(model.task ? { task: model.task } : {}),
  });
  const encoder = loadEncoder(source);
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  const cells: string[] = [];
  for (const shape of RERANK_SHAPES) {
    const batch = randomBatch(encoder.config, { ...shape, padded: false, seed: 3 });
    const feeds = ortFeeds(batch, session.inputNames);
    await session.run(feeds);
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    cells.push(`${(shape.batch / (ms / 1000)).toFixed(1)} pairs/s (${ms.toFixed(0)} ms)`.padStart(30));
  }
  await session.release();
  encoder.close();
  const size = (statSync(path).size / 2 ** 20).toFixed(0);
  say(`${`${model.about}, ${size} MiB`.padEnd(58)}${cells.join("")}`);
}

const m = finishMachine(machine);
mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
writeFileSync(
  join(import.meta.dirname, "results", "rerank-llm.txt"),
  `Measured ${started} on ${machineLine(m)}; load average ${m.loadAverage.start} → ${m.loadAverage.end}. \`tsx bench/rerank-llm.ts ${process.argv.slice(2).join(" ")}\`\n\n${lines.join("\n")}\n`,
);
