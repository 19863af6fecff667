// Shared bench helpers: the generated bge-small-shaped model (the suite's default model, from
// the same cache), medians, file sizes, and keeping a script's output as a result file.
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { join } from "node:path";
import type { LoadedEncoder } from "../src/arch/encoder.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { silentLogger } from "../src/common/log.js";
import type { Model } from "../src/graph/ir.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { ENCODER_OUTPUTS_JUDGING } from "../src/heads/encoder-outputs.js";
import { builtinCalibrationTexts } from "../src/quant/corpus.js";
import { resolveQuantizationOptions } from "../src/quant/options.js";
import { quantizeModel } from "../src/quant/quantize.js";
import { describeMachine, finishMachine, machineLine } from "../dist/bench/machine.js";
import { syntheticModelDir } from "../dist/bench/models.js";

import { median } from "../dist/bench/stats.js";

export { median };

/** Pause before each timed run (a pool that still spins after its own run would slow the next session on 2 cores). */
const PAUSE_MS = Number(process.env.BENCH_PAUSE_MS ?? 20);

export const CACHE = join(import.meta.dirname, "..", ".cache", "bench");
export const RESULTS = join(import.meta.dirname, "results");

/** The bge-small-shaped synthetic model (generated once, then reused). */
export function bgeSmallModel(): string {
  return syntheticModelDir("bge-small", join(CACHE, "models"), (message) => process.stderr.write(`${message}\n`));
}

export const fileMiB = (path: string) => statSync(path).size / 2 ** 20;

/** The number after `flag` on the command line (`--rounds 5`), else `fallback`. */
export function numberOption(flag: string, fallback: number, args: readonly string[] = process.argv.slice(2)): number {
  const at = args.indexOf(flag);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

/**
 * Copies everything this script prints on stdout into bench/results/<name>.txt, headed by the
 * date, the machine and the command, so that the figures docs cite from it stay in the repo.
 * `keep` false (e.g. a partial --quick run) prints only.
 */
export function keepOutput(name: string, keep = true): void {
  if (!keep) return;
  const machine = describeMachine();
  const started = new Date().toISOString();
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.once("beforeExit", () => {
    if (process.exitCode) return; // a failed run keeps the previous result
    const command = `tsx bench/${name}.ts ${process.argv.slice(2).join(" ")}`.trim();
    mkdirSync(RESULTS, { recursive: true });
    const m = finishMachine(machine);
    const load = `load average ${m.loadAverage.start} → ${m.loadAverage.end}; fresh memory ${m.pageFaultMsPerMiB.start} → ${m.pageFaultMsPerMiB.end} ms/MiB to fault in`;
    writeFileSync(join(RESULTS, `${name}.txt`), `Measured ${started} on ${machineLine(m)}; ${load}. \`${command}\`\n\n${chunks.join("")}`);
  });
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

/**
 * Per session: median wall ms, median per-round ratio to the first session; the same of the
 * process's CPU ms per run (the work done, less sensitive to other processes' load when the
 * sessions do not spin).
 */
export type Column = Array<{ ms: number; ratio: number; cpuMs: number; cpuRatio: number }> & { remeasured: number };

/** Median ms of each session and median per-round ratio to the first, over `rounds` quiet rounds. */
export async function interleaved(
  sessions: ort.InferenceSession[],
  feeds: Record<string, ort.Tensor>,
  rounds: number,
  /** Share of the CPUs other processes may take during a kept round (Infinity: keep every round). */
  foreignShare = 0.05,
): Promise<Column> {
  const times = sessions.map(() => [] as number[]);
  const cpu = sessions.map(() => [] as number[]);
  for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
  let remeasured = 0;
  for (let r = 0; times[0]!.length < rounds && r < 20 * rounds; r++) {
    const round: number[] = [];
    const roundCpu: number[] = [];
    const [before, started] = [cpuMs(), performance.now()];
    for (let k = 0; k < sessions.length; k++) {
      const i = (k + r) % sessions.length;
      await pause();
      const [t, usage] = [performance.now(), process.cpuUsage()];
      await sessions[i]!.run(feeds);
      round[i] = performance.now() - t;
      const used = process.cpuUsage(usage);
      roundCpu[i] = (used.user + used.system) / 1000;
    }
    const after = cpuMs();
    const foreign = before && after ? after.all - before.all - (after.self - before.self) : 0;
    if (foreign > foreignShare * cpus().length * (performance.now() - started)) {
      remeasured++;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // let the other work pass
      continue;
    }
    round.forEach((t, i) => times[i]!.push(t));
    roundCpu.forEach((t, i) => cpu[i]!.push(t));
  }
  const column = times.map((t, i) => ({
    ms: median(t),
    ratio: median(t.map((v, r) => v / times[0]![r]!)),
    cpuMs: median(cpu[i]!),
    cpuRatio: median(cpu[i]!.map((v, r) => v / cpu[0]![r]!)),
  }));
  return Object.assign(column, { remeasured });
}

/**
 * Mean kernel milliseconds per run, per op type (onnxruntime's profiler), of each model over
 * `runs` profiled runs after `warmup`, 2 threads, level all; the models run in turn (interleaved,
 * so that a machine's changing load weighs on all alike); traces are written under `dir`.
 */
export async function profileOps(
  models: Array<string | Uint8Array>,
  feedsFor: (inputNames: readonly string[]) => Record<string, ort.Tensor>,
  dir: string,
  runs: number,
  warmup: number,
): Promise<Array<Map<string, number>>> {
  mkdirSync(dir, { recursive: true });
  const prefixes = models.map((_, i) => `trace-${Date.now()}-${i}-`);
  const sessions = await Promise.all(
    models.map((model, i) => {
      const options: ort.InferenceSession.SessionOptions = {
        graphOptimizationLevel: "all",
        intraOpNumThreads: 2,
        enableProfiling: true,
        profileFilePrefix: join(dir, prefixes[i]!),
      };
      return typeof model === "string" ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
    }),
  );
  const feeds = feedsFor(sessions[0]!.inputNames);
  for (let r = 0; r < warmup + runs; r++) for (const session of sessions) await session.run(feeds);
  type Event = { cat: string; name: string; dur: number; args: { op_name?: string } };
  const results: Array<Map<string, number>> = [];
  for (const [i, session] of sessions.entries()) {
    session.endProfiling(); // writes <prefix>_<timestamp>.json
    await session.release();
    const trace = join(
      dir,
      readdirSync(dir).find((f) => f.startsWith(prefixes[i]!))!,
    );
    const events = (JSON.parse(readFileSync(trace, "utf8")) as Event[]).filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
    const byOp = new Map<string, number>();
    for (const e of events) byOp.set(e.args.op_name ?? "?", (byOp.get(e.args.op_name ?? "?") ?? 0) + e.dur / 1000 / (warmup + runs));
    results.push(byOp);
  }
  return results;
}

/**
 * `model` (of `encoder`, read from `folder`) written to `fp32Path` and quantized to INT8 into
 * `outputPath` with the built-in calibration texts; prints one line naming it `label`.
 */
export async function quantizeForBench(
  encoder: LoadedEncoder,
  folder: string,
  model: Model,
  paths: { fp32: string; output: string },
  mode: "static" | "dynamic",
  label: string,
): Promise<string> {
  await writeModel(model, paths.fp32);
  const { report } = await quantizeModel({
    model,
    fp32Path: paths.fp32,
    outputPath: paths.output,
    tokenizer: loadTokenizer(folder).tokenizer,
    padTokenId: encoder.config.padTokenId,
    maxSequence: encoder.config.maxSequence,
    settings: resolveQuantizationOptions({ mode }),
    calibration: builtinCalibrationTexts(),
    logger: silentLogger,
    judging: ENCODER_OUTPUTS_JUDGING,
  });
  console.log(`${label}: ${report.matMuls.quantized} MatMuls int8, worst held-out cosine ${report.fidelity.worstCosine.toFixed(4)}`);
  return paths.output;
}
