// How latency and memory grow with the input (issue 13): for a rotary (NomicBERT-shaped) and a
// ModernBERT-shaped model (4 layers, hidden 384, 6 heads; ModernBERT alternating global and
// 128-token sliding-window layers), the median latency and the peak RSS of the onnxruntime
// process against the sequence length (batch 1, 128 … 8192) and against the batch (sequence
// 512), for three graphs: the primary one, the primary one with the dense attention forms it
// had before (FusedOps.flash off: key padding mask, [B, 1, S, S] window bias) and the portable
// one. Each point runs in a fresh process (bench/scale-worker.ts), so that its peak RSS is that
// model at that shape alone. Then 1×128 and 8×128 timed in one process, the primary graph and
// the dense form interleaved round by round, for the ratio of the two.
//   npm run bench:scale [-- --quick | --sequences 128,1024 --batches 1,4]    (those: printed only)
// Output: bench/results/scale.{txt,json,svg}.
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FusedOps } from "../src/arch/blocks.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { measureLatency } from "../src/bench/latency.js";
import { describeMachine, finishMachine, machineLine } from "../src/bench/machine.js";
import { type ScalePoint, renderScaleChart } from "../src/bench/scale-chart.js";
import { BGE_SMALL_SHAPE, type SyntheticModel, syntheticModernBert, syntheticNomicBert, writeModelFolder } from "../src/fixtures/index.js";
import type { GraphVariant } from "../src/arch/graph-variant.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { childModuleEntry } from "../src/ort/isolated-session.js";
import type { ScaleJob, ScaleMeasurement } from "./scale-worker.js";
import { CACHE, RESULTS, keepOutput } from "./common.js";

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1]!.split(",").map(Number) : undefined);
const SEQUENCES = option("--sequences");
const BATCHES = option("--batches");
/** Fewer points, or points of one's own choosing: printed, not kept. */
const QUICK = args.includes("--quick") || SEQUENCES !== undefined || BATCHES !== undefined;
const THREADS = 2;
const SEQUENCE_SWEEP = SEQUENCES ?? (QUICK ? [128, 2048, 8192] : [128, 256, 512, 1024, 2048, 4096, 8192]);
const BATCH_SEQUENCE = 512;
const BATCH_SWEEP = BATCHES ?? (QUICK ? [1, 8] : [1, 2, 4, 8, 16]);
/** Timed runs per point fit this budget (2 to 15 runs, after one warm-up). */
const BUDGET_MS = QUICK ? 2000 : 4000;
const SHAPE = { layers: 4, hidden: 384, heads: 6, intermediate: 1024, vocab: BGE_SMALL_SHAPE.vocab, maxPositions: 8192, seed: 13 };
const MODELS: Record<string, () => SyntheticModel> = {
  rotary: () => syntheticNomicBert(SHAPE),
  modernbert: () => syntheticModernBert({ ...SHAPE, localAttention: 128, globalEvery: 2 }),
};
const VARIANTS: Record<string, { variant: GraphVariant; fused?: Partial<FusedOps> }> = {
  primary: { variant: "primary" },
  "primary, dense attention": { variant: "primary", fused: { flash: false } },
  portable: { variant: "portable" },
};
const WORK = join(CACHE, "scale");

keepOutput("scale", !QUICK);
const machine = describeMachine();
const startedAt = new Date().toISOString();
console.log(
  `${THREADS} threads; each point in a fresh process: one warm-up, then 2–15 runs within ${BUDGET_MS / 1000} s; p50 latency, peak RSS (VmHWM) of that process`,
);
console.log(`shared machine under load (other work running): compare ratios within this run only\n`);

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const points: ScalePoint[] = [];
  const ratios: string[] = [];
  for (const [model, make] of Object.entries(MODELS)) {
    const dir = join(WORK, model);
    writeModelFolder(dir, make());
    const encoder = loadEncoder(dir);
    const paths: Record<string, string> = {};
    for (const [label, { variant, fused }] of Object.entries(VARIANTS)) {
      paths[label] = join(WORK, `${model}-${label.replace(/\W+/g, "_")}.onnx`);
      await writeModel(buildEncoderGraph(encoder, { opset: 17, variant, ...(fused ? { fused } : {}) }), paths[label]!);
    }
    console.log(`${model}: ${describeModel(model)}`);
    const shapes = [
      ...SEQUENCE_SWEEP.map((sequence) => ({ batch: 1, sequence })),
      ...BATCH_SWEEP.filter((b) => b > 1).map((batch) => ({ batch, sequence: BATCH_SEQUENCE })),
    ];
    console.log(
      `${"batch×sequence".padEnd(16)}${Object.keys(VARIANTS)
        .map((v) => v.padStart(30))
        .join("")}`,
    );
    for (const { batch, sequence } of shapes) {
      const cells: string[] = [];
      for (const [label, path] of Object.entries(paths)) {
        const m = await measureInChild({ path, batch, sequence, threads: THREADS, budgetMs: BUDGET_MS, config: encoder.config });
        points.push({ model, variant: label, batch, sequence, ...m });
        cells.push(`${formatMs(m.p50Ms)} / ${(m.peakBytes / 2 ** 20).toFixed(0)} MiB`.padStart(30));
      }
      console.log(`${`${batch}×${sequence}`.padEnd(16)}${cells.join("")}`);
    }
    ratios.push(...checks(model, points), ...(await shortInputs(model, encoder, paths)));
    encoder.close();
    console.log("");
  }
  console.log(ratios.join("\n"));
  const m = finishMachine(machine);
  const title = "Latency and peak RSS of the onnxruntime process vs input size (4 layers, hidden 384, 6 heads)";
  const subtitle = `${startedAt.slice(0, 10)} · ${machineLine(m)} · ${THREADS} threads · load average ${m.loadAverage.start} → ${m.loadAverage.end} (shared machine)`;
  if (!QUICK || process.env.SCALE_CHART) {
    mkdirSync(RESULTS, { recursive: true });
    const chart = {
      title,
      subtitle,
      models: Object.keys(MODELS),
      variants: Object.keys(VARIANTS),
      batchSweepSequence: BATCH_SEQUENCE,
      points,
    };
    writeFileSync(join(RESULTS, "scale.svg"), renderScaleChart(chart));
    writeFileSync(
      join(RESULTS, "scale.json"),
      `${JSON.stringify({ startedAt, machine: m, threads: THREADS, modelShapes: Object.fromEntries(Object.keys(MODELS).map((k) => [k, describeModel(k)])), ...chart, ratios }, null, 2)}\n`,
    );
  }
}

function describeModel(model: string): string {
  return model === "rotary"
    ? "NomicBERT (rotary positions), 4 layers, hidden 384, 6 heads, SwiGLU 1024"
    : "ModernBERT, 4 layers (global, local, global, local; window 128), hidden 384, 6 heads, GeGLU 1024";
}

/** The issue's targets at batch 1 from this run's points: time(8192) / time(2048) and the peak at 8192. */
function checks(model: string, points: readonly ScalePoint[]): string[] {
  const at = (variant: string, sequence: number) =>
    points.find((p) => p.model === model && p.variant === variant && p.batch === 1 && p.sequence === sequence);
  return Object.keys(VARIANTS).flatMap((variant) => {
    const [long, mid] = [at(variant, 8192), at(variant, 2048)];
    if (!long || !mid) return [];
    const ratio = long.p50Ms / mid.p50Ms;
    return [
      `${model}, ${variant}: time(1×8192) / time(1×2048) = ${ratio.toFixed(1)} (target ≤ 16); peak RSS at 1×8192 ${(long.peakBytes / 2 ** 20).toFixed(0)} MiB (target ≤ 1024)`,
    ];
  });
}

/** Short inputs, the primary graph against the dense form interleaved in one process: their latency ratio. */
async function shortInputs(model: string, encoder: LoadedEncoder, paths: Record<string, string>): Promise<string[]> {
  const dense = "primary, dense attention";
  const { shapes } = await measureLatency({
    models: [
      { key: dense, path: paths[dense]! },
      { key: "primary", path: paths.primary! },
    ],
    shapes: [
      { batch: 1, sequence: 128 },
      { batch: 8, sequence: 128 },
    ],
    threads: THREADS,
    spinning: false,
    config: encoder.config,
    rounds: QUICK ? { budgetMs: 3000, min: 10, max: 100 } : { budgetMs: 12000, min: 40, max: 400 },
    loadRounds: 1,
    baseline: dense,
  });
  return shapes.map((s) => {
    const [before, now] = [s.results.find((r) => r.variant === dense)!, s.results.find((r) => r.variant === "primary")!];
    return `${model}, ${s.shape.batch}×${s.shape.sequence} interleaved (${s.rounds} rounds): primary ${formatMs(now.p50Ms)}, dense attention ${formatMs(before.p50Ms)}, ratio primary / dense ${now.ratioToBaseline.toFixed(3)}`;
  });
}

function formatMs(value: number): string {
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(2)} ms`;
}

function measureInChild(job: ScaleJob): Promise<ScaleMeasurement> {
  const entry = childModuleEntry(import.meta.url, "scale-worker");
  return new Promise((resolve, reject) => {
    const child = fork(entry.path, [], { execArgv: entry.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let reply: ScaleMeasurement | undefined;
    child.once("message", (message) => (reply = message as ScaleMeasurement));
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reply ? resolve(reply) : reject(new Error(`scale worker for ${job.path} at ${job.batch}×${job.sequence} exited (${signal ?? code})`)),
    );
    child.send(job);
  });
}

await main();
