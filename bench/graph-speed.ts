// Speed of the emitted graph forms on onnxruntime's CPU provider (level "all", 2 intra-op
// threads), on a synthetic bge-small-shaped model (12 layers, hidden 384, 12 heads):
//   FP32: portable, the primary graph with no contrib ops (the former primary), the primary
//         graph without each contrib op in turn, and the primary graph — what each op brings;
//   INT8: static (QDQ) and dynamic quantizations of the primary graph against its FP32
//         (--int8-forms: also those of the former primary).
// Variants run in interleaved rounds (order rotating each round), each run after a short pause
// (a pool that still spins after its own run would slow the next session on 2 cores). The
// machine is shared: a round during which other processes took more than 5% of the CPUs is
// measured again a second later (up to 20× the rounds; "n/a" if no round was quiet). Medians,
// and the median of per-round ratios to the table's first row.
//   npx tsx bench/graph-speed.ts [--fp32 | --int8] [--int8-forms] [--ops] [--model bert|jina_bert|nomic_bert|gte|modernbert] [--shapes 1x16,8x128]
//   BENCH_ROUNDS=N: rounds at 8×128 (×(1024 / tokens) at smaller shapes, at most ×10); BENCH_PAUSE_MS (20).
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { FUSED_OPS, type FusedOps } from "../src/arch/blocks.js";
import { type LoadedEncoder } from "../src/arch/encoder.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { silentLogger } from "../src/common/log.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import {
  BGE_SMALL_SHAPE,
  type SyntheticModel,
  randomBatch,
  syntheticGte,
  syntheticJinaBert,
  syntheticModernBert,
  syntheticNomicBert,
  writeModelFolder,
} from "../src/fixtures/index.js";
import type { Model } from "../src/graph/ir.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { readModel } from "../src/graph/onnx-file.js";
import { builtinCalibrationTexts } from "../src/quant/corpus.js";
import { resolveQuantizationOptions } from "../src/quant/options.js";
import { quantizeModel } from "../src/quant/quantize.js";
import { ENCODER_OUTPUTS_JUDGING } from "../src/heads/encoder-outputs.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { CACHE, bgeSmallModel, keepOutput, median } from "./common.js";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => (flag(name) ? args[args.indexOf(name) + 1] : undefined);
const RUN_FP32 = !flag("--int8");
const RUN_INT8 = !flag("--fp32");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PAUSE_MS = Number(process.env.BENCH_PAUSE_MS ?? 20);
const THREADS = 2;
const SHAPES = option("--shapes")
  ?.split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const SHAPE = { ...BGE_SMALL_SHAPE, seed: 7 };
const GLU = { ...SHAPE, intermediate: 1024 }; // about BERT's 1536-wide MLP in parameters
const MODELS: Record<string, { folder: () => string; rotary: boolean }> = {
  // The suite's default model (syntheticBert at this SHAPE), from the same cache.
  bert: { folder: bgeSmallModel, rotary: false },
  jina_bert: { folder: () => generatedFolder("jina_bert", () => syntheticJinaBert(GLU)), rotary: false },
  nomic_bert: { folder: () => generatedFolder("nomic_bert", () => syntheticNomicBert(GLU)), rotary: true },
  gte: { folder: () => generatedFolder("gte", () => syntheticGte(GLU)), rotary: true },
  modernbert: { folder: () => generatedFolder("modernbert", () => syntheticModernBert({ ...GLU, localAttention: 128 })), rotary: true },
};
const MODEL = option("--model") ?? "bert";
const WORK = join(CACHE, "graph-speed");

const sessionOptions = (extra: ort.InferenceSession.SessionOptions = {}): ort.InferenceSession.SessionOptions => ({
  graphOptimizationLevel: "all",
  intraOpNumThreads: THREADS,
  interOpNumThreads: 1,
  ...extra,
});

function openSession(model: Model | string): Promise<ort.InferenceSession> {
  return typeof model === "string"
    ? ort.InferenceSession.create(model, sessionOptions())
    : ort.InferenceSession.create(encodeModel(model), sessionOptions());
}

/** A synthetic model folder of this script's (generated once, with the bundled tokenizer for calibration). */
function generatedFolder(name: string, make: () => SyntheticModel): string {
  const dir = join(WORK, "models", name);
  if (!existsSync(join(dir, "model.safetensors"))) writeModelFolder(dir, make());
  return dir;
}

/** CPU ms used by every process (/proc/stat) and by this one (/proc/self/stat); undefined off Linux. */
function cpuMs(): { all: number; self: number } | undefined {
  try {
    const all = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const self = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    return { all: (all[0]! + all[1]! + all[2]! + all[5]! + all[6]!) * 10, self: (Number(self[11]) + Number(self[12])) * 10 };
  } catch {
    return undefined;
  }
}

const pause = () => new Promise((resolve) => setTimeout(resolve, PAUSE_MS));

type Column = Array<{ ms: number; ratio: number }> & { remeasured: number };

/** Median ms of each session and median per-round ratio to the first, over `rounds` quiet rounds. */
async function interleaved(sessions: ort.InferenceSession[], feeds: Record<string, ort.Tensor>, rounds: number): Promise<Column> {
  const times = sessions.map(() => [] as number[]);
  for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
  let remeasured = 0;
  for (let r = 0; times[0]!.length < rounds && r < 20 * rounds; r++) {
    const round: number[] = [];
    const [before, started] = [cpuMs(), performance.now()];
    for (let k = 0; k < sessions.length; k++) {
      const i = (k + r) % sessions.length;
      await pause();
      const t = performance.now();
      await sessions[i]!.run(feeds);
      round[i] = performance.now() - t;
    }
    const after = cpuMs();
    const foreign = before && after ? after.all - before.all - (after.self - before.self) : 0;
    if (foreign > 0.05 * cpus().length * (performance.now() - started)) {
      remeasured++;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // let the other work pass
      continue;
    }
    round.forEach((t, i) => times[i]!.push(t));
  }
  const column = times.map((t) => ({ ms: median(t), ratio: median(t.map((v, r) => v / times[0]![r]!)) }));
  return Object.assign(column, { remeasured });
}

function feedsFor(encoder: LoadedEncoder, inputNames: readonly string[], batch: number, sequence: number): Record<string, ort.Tensor> {
  const tokens = randomBatch(encoder.config, { batch, sequence, padded: false, seed: 11 });
  return ortFeeds(tokens, inputNames);
}

async function table(
  title: string,
  encoder: LoadedEncoder,
  rows: Array<[string, Model | string]>,
  shapes: Array<[number, number]>,
): Promise<void> {
  const columns: Column[] = [];
  for (const [b, s] of shapes) {
    // Fresh sessions per shape: after smaller shapes, onnxruntime's arena ran 8×128 up to 1.5× slower.
    const sessions = await Promise.all(rows.map(([, m]) => openSession(m)));
    const rounds = Math.round(ROUNDS * Math.min(10, Math.max(1, 1024 / (b * s))));
    columns.push(await interleaved(sessions, feedsFor(encoder, sessions[0]!.inputNames, b, s), rounds));
    await Promise.all(sessions.map((session) => session.release()));
  }
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  console.log(`\n${title}`);
  console.log(`${"".padEnd(width)}${shapes.map(([b, s]) => `${b}×${s}`.padStart(22)).join("")}`);
  const cell = (c: Column, i: number) =>
    c.length && Number.isFinite(c[i]!.ms) ? `${c[i]!.ms.toFixed(2).padStart(9)} ms (${c[i]!.ratio.toFixed(2)}×)` : "n/a";
  rows.forEach(([label], i) => console.log(`${label.padEnd(width)}${columns.map((c) => cell(c, i).padStart(22)).join("")}`));
  console.log(`${"(rounds remeasured: foreign load)".padEnd(width)}${columns.map((c) => String(c.remeasured).padStart(22)).join("")}`);
}

/** Op types onnxruntime runs after its own optimizations (level all). */
async function optimizedOps(model: Model, label: string): Promise<void> {
  const path = join(WORK, `optimized-${label}.onnx`);
  await (await ort.InferenceSession.create(encodeModel(model), sessionOptions({ optimizedModelFilePath: path }))).release();
  const counts = new Map<string, number>();
  for (const node of readModel(path).graph.nodes) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  console.log(
    `  ${label}: ${[...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`)
      .join(", ")}`,
  );
  rmSync(path, { force: true });
}

// Partial runs (one table, fewer rounds) print only: the kept result is the whole comparison.
keepOutput(`graph-speed-${MODEL}`, RUN_FP32 && RUN_INT8 && !process.env.BENCH_ROUNDS);
mkdirSync(WORK, { recursive: true });
const dir = MODELS[MODEL]!.folder();
const encoder = loadEncoder(dir);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}, load ${loadavg()[0]!.toFixed(2)}`,
);
console.log(`model: synthetic ${MODEL} (12 layers, hidden 384, 12 heads); ${THREADS} threads; ${ROUNDS} rounds at 8×128`);

const NO_CONTRIB_OPS: FusedOps = { attention: false, activation: false, rotary: false, flash: false, norm: false };
const build = (variant: "primary" | "portable", fused: Partial<FusedOps> = {}) => buildEncoderGraph(encoder, { opset: 17, variant, fused });

if (flag("--ops")) {
  console.log("\nop types after onnxruntime's own optimizations:");
  await optimizedOps(build("portable"), "portable");
  await optimizedOps(build("primary", NO_CONTRIB_OPS), "primary, no contrib ops");
  await optimizedOps(build("primary"), "primary");
}

if (RUN_FP32) {
  const ablated = FUSED_OPS.filter((op) => op !== "rotary" || MODELS[MODEL]!.rotary);
  const rows: Array<[string, Model]> = [
    ["portable", build("portable")],
    ["primary, no contrib ops", build("primary", NO_CONTRIB_OPS)],
    ...ablated.map((op): [string, Model] => [`primary without ${op}`, build("primary", { [op]: false })]),
    ["primary", build("primary")],
  ];
  await table(
    "FP32 (ratio to portable)",
    encoder,
    rows,
    SHAPES ?? [
      [1, 16],
      [1, 128],
      [8, 128],
    ],
  );
}

if (RUN_INT8) {
  const sources: Array<[string, Model]> = [["primary", build("primary")]];
  if (flag("--int8-forms")) sources.push(["primary, no contrib ops", build("primary", NO_CONTRIB_OPS)]);
  const rows: Array<[string, string]> = [];
  for (const [label, model] of sources) {
    const fp32Path = join(WORK, `${label.replace(/\W+/g, "_")}_fp32.onnx`);
    await writeModel(model, fp32Path);
    if (rows.length === 0) rows.push([`FP32 ${label}`, fp32Path]);
    for (const mode of ["static", "dynamic"] as const) {
      const outputPath = fp32Path.replace("_fp32", `_int8_${mode}`);
      const { report } = await quantizeModel({
        model,
        fp32Path,
        outputPath,
        tokenizer: loadTokenizer(dir).tokenizer,
        padTokenId: encoder.config.padTokenId,
        maxSequence: encoder.config.maxSequence,
        settings: resolveQuantizationOptions({ mode }),
        calibration: builtinCalibrationTexts(),
        logger: silentLogger,
        judging: ENCODER_OUTPUTS_JUDGING,
      });
      console.log(
        `INT8 ${mode} of ${label}: ${report.matMuls.quantized} MatMuls int8, worst held-out cosine ${report.fidelity.worstCosine.toFixed(4)}`,
      );
      rows.push([`INT8 ${mode} (${label})`, outputPath]);
    }
  }
  await table(
    `INT8 (ratio to ${rows[0]![0]})`,
    encoder,
    rows,
    SHAPES ?? [
      [1, 16],
      [8, 128],
    ],
  );
}
encoder.close();
