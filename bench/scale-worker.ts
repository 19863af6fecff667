// One measurement of bench/scale.ts in a process of its own, so that its peak RSS (VmHWM) is
// this model at this shape alone: load the ONNX file, run one warm-up, then timed runs within
// a time budget; reply with the median latency and the process's memory.
import * as ort from "onnxruntime-node";
import type { EncoderConfig } from "../src/arch/architecture.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { procStatusBytes } from "../src/bench/process-memory.js";
import { median } from "../src/bench/stats.js";

export interface ScaleJob {
  path: string;
  batch: number;
  sequence: number;
  threads: number;
  /** Timed runs fit this budget (at least MIN_RUNS, at most MAX_RUNS). */
  budgetMs: number;
  config: EncoderConfig;
}

export interface ScaleMeasurement {
  p50Ms: number;
  runs: number;
  /** RSS after the session loaded, and the process's peak RSS after the runs. */
  loadedBytes: number;
  peakBytes: number;
}

const MIN_RUNS = 2;
const MAX_RUNS = 15;

const statusBytes = (field: "VmRSS" | "VmHWM") => procStatusBytes("self", field) ?? NaN;

async function measure(job: ScaleJob): Promise<ScaleMeasurement> {
  const session = await ort.InferenceSession.create(job.path, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: job.threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const loadedBytes = statusBytes("VmRSS");
  const feeds = ortFeeds(randomBatch(job.config, { batch: job.batch, sequence: job.sequence, padded: false, seed: 3 }), session.inputNames);
  const time = async () => {
    const started = performance.now();
    await session.run(feeds);
    return performance.now() - started;
  };
  const warmup = await time();
  const runs = Math.max(MIN_RUNS, Math.min(MAX_RUNS, Math.floor(job.budgetMs / warmup)));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await time());
  return { p50Ms: median(times), runs, loadedBytes, peakBytes: statusBytes("VmHWM") };
}

process.once("message", (job: ScaleJob) => {
  measure(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: Error) => {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    },
  );
});
