// SPLADE at 8×256: peak memory and latency of the sparse export (sparse_embedding) against the
// same model's dense export (last_hidden_state + pooler_output), and against a naive SPLADE graph
// written the way SpladePooling reads (logits × mask → relu → log1p → max, each a [batch,
// sequence, vocab] tensor), which this project's head avoids. The model: bge-small's shape (12
// layers, hidden 384) with BERT's MLM head over the 30522-token vocabulary.
// Each measurement is a fresh process (bench/splade-child.ts): session load, then the peak RSS
// mark reset, then RUNS runs; variants interleaved round by round; medians.
//   npm run bench:splade
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { EmbeddingService, loadEncoder, silentLogger } from "../dist/index.js";
import { BGE_SMALL_SHAPE } from "../dist/fixtures/bert.js";
import { writeSpladeFolder } from "../dist/fixtures/retrieval.js";
import { attr } from "../dist/graph/builder.js";
import { DataType } from "../dist/graph/ir.js";
import { writeModel } from "../dist/graph/onnx-file.js";
import { buildGraph } from "../dist/heads/graph.js";
import type { Head } from "../dist/heads/head.js";
import { mlmHeadPlan } from "../dist/heads/splade.js";
import { CACHE, keepOutput, median } from "./common.js";

const BATCH = 8;
const SEQUENCE = 256;
const ROUNDS = 3;
const RUNS = 6;
const VOCAB = BGE_SMALL_SHAPE.vocab;

keepOutput("splade");
const work = join(CACHE, "splade");
const source = join(work, "model");
if (!existsSync(join(source, "model.safetensors"))) {
  rmSync(source, { recursive: true, force: true });
  writeSpladeFolder(source, { vocab: VOCAB, shape: BGE_SMALL_SHAPE });
}
const service = new EmbeddingService(source, { logger: silentLogger });
const models: Record<string, string> = {
  "dense (feature-extraction)": await service.exportOnnxModel(join(work, "dense"), { quantized: false, task: "feature-extraction" }),
  "sparse (this head)": await service.exportOnnxModel(join(work, "sparse"), { quantized: false }),
  "sparse, naive graph": join(work, "naive", "naive.onnx"),
};

// The naive form: every step of SpladePooling on the full [B, S, V] logits.
const encoder = loadEncoder(source);
const plan = mlmHeadPlan("bert", { config: encoder.config, prefix: encoder.prefix, checkpoint: encoder.checkpoint })!;
const naive: Head = {
  name: "splade-naive",
  outputs: [{ name: "sparse_embedding", dims: ["batch", VOCAB], perToken: false }],
  emit({ nn, ops, g, inputs }, out) {
    const t = nn.norm(nn.activation(nn.linear(out.hidden, plan.transform), plan.activation), plan.norm);
    const product = g.op(
      "Gemm",
      [ops.reshape(t, [-1, encoder.config.hiddenSize]), nn.weights.tensor(plan.decoder), nn.weights.tensor(plan.bias)],
      { transB: attr.int(1) },
    );
    const logits = g.op("Reshape", [product, ops.concat([ops.dim(inputs.inputIds, 0), g.constInt64([-1, VOCAB], [2], "rows_vocab")], 0)]);
    const masked = ops.mul(logits, ops.unsqueeze(ops.cast(inputs.attentionMask, DataType.FLOAT), [2]));
    const activated = g.op("Log", [ops.add(ops.relu(masked), ops.scalar(1, "one"))]);
    return { values: { sparse_embedding: ops.reduceMax(activated, [1], false) } };
  },
  reference: () => ({}),
};
mkdirSync(join(work, "naive"), { recursive: true });
await writeModel(buildGraph(encoder, [naive], { opset: 17, variant: "primary" }), models["sparse, naive graph"]!);
encoder.close();

interface Run {
  loadedMiB: number;
  peakMiB: number;
  ms: number[];
}
const results = new Map<string, Run[]>(Object.keys(models).map((label) => [label, []]));
const tsx = join(import.meta.dirname, "..", "node_modules", ".bin", "tsx");
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, path] of Object.entries(models)) {
    const child = spawnSync(
      tsx,
      [join(import.meta.dirname, "splade-child.ts"), path, String(BATCH), String(SEQUENCE), String(VOCAB), String(RUNS)],
      { encoding: "utf8" },
    );
    if (child.status !== 0) throw new Error(`${label}: ${child.stderr}`);
    results.get(label)!.push(JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Run);
  }
}

const logitsMiB = (BATCH * SEQUENCE * VOCAB * 4) / 2 ** 20;
console.log(
  `SPLADE (bge-small shape + BERT MLM head, vocab ${VOCAB}) at ${BATCH}×${SEQUENCE}, FP32, onnxruntime-node, 2 threads, optimization level all`,
);
console.log(
  `${ROUNDS} fresh processes per variant, interleaved; ${RUNS} runs each, the first dropped; one [${BATCH}, ${SEQUENCE}, ${VOCAB}] float tensor is ${logitsMiB.toFixed(1)} MiB\n`,
);
console.log("variant                       RSS after load   inference peak above load   latency p50   ÷ dense");
const dense = median(results.get("dense (feature-extraction)")!.flatMap((r) => r.ms.slice(1)));
for (const [label, runs] of results) {
  const loaded = median(runs.map((r) => r.loadedMiB));
  const above = median(runs.map((r) => r.peakMiB - r.loadedMiB));
  const latency = median(runs.flatMap((r) => r.ms.slice(1)));
  console.log(
    `${label.padEnd(30)}${`${loaded.toFixed(0)} MiB`.padStart(14)}${`${above.toFixed(0)} MiB`.padStart(28)}${`${latency.toFixed(0)} ms`.padStart(14)}${`${(latency / dense).toFixed(2)}×`.padStart(10)}`,
  );
}
rmSync(join(work, "dense"), { recursive: true, force: true });
rmSync(join(work, "sparse"), { recursive: true, force: true });
rmSync(join(work, "naive"), { recursive: true, force: true });
