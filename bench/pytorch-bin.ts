// pytorch_model.bin vs model.safetensors for the bge-small-shaped model. In this process,
// interleaved rounds: open (safetensors header / zip directory + restricted unpickle) and read
// every tensor as float32. Then a full FP32 export (emit + write + verify) from each folder in
// fresh processes (the bench suite's export probe), interleaved. Prints medians and ratios to
// safetensors from the same run.
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { PytorchBinCheckpoint } from "../dist/checkpoint/pytorch-bin.js";
import { SafetensorsCheckpoint } from "../dist/checkpoint/safetensors.js";
import { BGE_SMALL_SHAPE, type TorchSaveOptions, syntheticBert, writePytorchBin } from "../dist/fixtures/index.js";
import { runExportProbe } from "../dist/bench/exports.js";
import { medianRatio, roundOrder } from "../dist/bench/stats.js";
import { CACHE, bgeSmallModel, fileMiB, median } from "./common.js";
import { checkpointPath } from "../dist/checkpoint/checkpoint-path.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const EXPORT_RUNS = Number(process.env.BENCH_RUNS ?? 3);
const safetensorsDir = bgeSmallModel();

/** The same weights as pytorch_model.bin written with `options`, next to config and tokenizer. */
function binModel(name: string, options: TorchSaveOptions): string {
  const dir = join(CACHE, `bge-small-bin-${name}`);
  if (!existsSync(join(dir, "pytorch_model.bin"))) {
    mkdirSync(dir, { recursive: true });
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json"])
      copyFileSync(join(safetensorsDir, file), join(dir, file));
    writePytorchBin(join(dir, "pytorch_model.bin"), syntheticBert({ ...BGE_SMALL_SHAPE, seed: 7 }).tensors, options);
  }
  return dir;
}

const variants: Array<[string, string, (dir: string) => { names(): string[]; float32(n: string): Float32Array; close(): void }]> = [
  ["safetensors", safetensorsDir, (dir) => SafetensorsCheckpoint.open(...checkpointPath(dir))],
  ["bin (torch.save layout)", binModel("plain", {}), (dir) => PytorchBinCheckpoint.open(...checkpointPath(dir))],
  ["bin, pickle protocol 4", binModel("protocol4", { protocol: 4 }), (dir) => PytorchBinCheckpoint.open(...checkpointPath(dir))],
  ["bin, 2-D weights as transposed views", binModel("views", { views: true }), (dir) => PytorchBinCheckpoint.open(...checkpointPath(dir))],
];

const open: number[][] = variants.map(() => []);
const readAll: number[][] = variants.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  variants.forEach(([, dir, openStore], i) => {
    const t0 = performance.now();
    const store = openStore(dir);
    const t1 = performance.now();
    for (const name of store.names()) store.float32(name);
    const t2 = performance.now();
    store.close();
    open[i]!.push(t1 - t0);
    readAll[i]!.push(t2 - t1);
  });
}

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`);
console.log(
  `model: bge-small shape (12 layers, hidden 384, vocab 30522), ${fileMiB(join(safetensorsDir, "model.safetensors")).toFixed(1)} MiB of F32 weights`,
);
console.log(`\nopen + read every tensor as float32 (median of ${ROUNDS} interleaved rounds):`);
const base = median(open[0]!) + median(readAll[0]!);
variants.forEach(([name], i) => {
  const o = median(open[i]!);
  const r = median(readAll[i]!);
  console.log(
    `  ${name.padEnd(38)} open ${o.toFixed(1).padStart(6)} ms  read ${r.toFixed(1).padStart(6)} ms  total ×${((o + r) / base).toFixed(2)}`,
  );
});

const exports: Array<[string, string]> = [variants[0]!, variants[1]!].map(([name, dir]) => [name, dir]);
const walls: number[][] = exports.map(() => []);
const rss: number[][] = exports.map(() => []);
for (let run = 0; run < EXPORT_RUNS; run++) {
  for (const i of roundOrder(exports.length, run)) {
    const output = join(CACHE, "bin-export-out");
    rmSync(output, { recursive: true, force: true });
    const result = await runExportProbe({ modelId: exports[i]![1], dir: exports[i]![1], output, options: { quantized: false } });
    if ("error" in result) throw new Error(`${exports[i]![0]}: ${result.error}`);
    walls[i]!.push(result.run.wallMs);
    rss[i]!.push(result.run.maxRssBytes);
  }
}
console.log(`\nFP32 export, fresh process each (median of ${EXPORT_RUNS} interleaved runs):`);
exports.forEach(([name], i) => {
  const wall = median(walls[i]!);
  console.log(
    `  ${name.padEnd(38)} ${(wall / 1000).toFixed(2)} s  peak RSS ${(median(rss[i]!) / 2 ** 20).toFixed(0)} MiB  wall ×${medianRatio(walls[i]!, walls[0]!).toFixed(2)}`,
  );
});
