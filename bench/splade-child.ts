// One fresh process per measurement (bench/splade.ts): load an ONNX file, reset the peak-RSS
// mark, run an 8×256-style batch `runs` times, print load RSS, inference peak and latencies.
//   tsx bench/splade-child.ts <model.onnx> <batch> <sequence> <vocab> <runs>
import { writeFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { randomBatch } from "../dist/fixtures/batches.js";
import { ortFeeds } from "../dist/ort/ort-feeds.js";
import { procStatusBytes } from "../dist/bench/process-memory.js";

const [path, batch, sequence, vocab, runs] = process.argv.slice(2);
const statusMiB = (field: "VmRSS" | "VmHWM") => (procStatusBytes("self", field) ?? NaN) / 2 ** 20;
const session = await ort.InferenceSession.create(path!, { graphOptimizationLevel: "all", intraOpNumThreads: 2 });
const config = {
  modelType: "bert",
  hiddenSize: 0,
  vocabSize: Number(vocab),
  typeVocabSize: 0,
  maxSequence: Number(sequence),
  padTokenId: 0,
};
const feeds = ortFeeds(
  randomBatch(config, { batch: Number(batch), sequence: Number(sequence), padded: false, seed: 5 }),
  session.inputNames,
);
const loadedMiB = statusMiB("VmRSS");
writeFileSync("/proc/self/clear_refs", "5"); // VmHWM := current RSS, so the peak below is inference's own
const ms: number[] = [];
for (let i = 0; i < Number(runs); i++) {
  const start = performance.now();
  await session.run(feeds);
  ms.push(performance.now() - start);
}
console.log(JSON.stringify({ loadedMiB, peakMiB: statusMiB("VmHWM"), ms }));
await session.release();
