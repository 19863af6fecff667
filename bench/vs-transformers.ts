// The Embedder against transformers.js on the same files: the bge-small-shaped synthetic model
// exported once (transformers.js layout: onnx/model.onnx, onnx/model_quantized.onnx), each side
// in a fresh process per round, the sides interleaved (order alternating by round): load time
// (Embedder.load with its manifest check — onnxruntime in its child process, the default, and
// in this process with { isolated: false } — vs pipeline()), and identical batches — the same 64
// texts in one batch, padded to the longest, CLS pooling, normalized, the same thread count —
// of short (4-14 words) and long (~120 words) texts; FP32 and INT8 (static). Ratios are medians
// of per-round ratios (ours / transformers.js): below 1 is faster.
//   npm run bench:vs-transformers [-- --rounds N --runs N --threads N]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { median, medianRatio, roundOrder } from "../dist/bench/stats.js";
import { CACHE, bgeSmallModel, keepOutput, numberOption } from "./common.js";

const rounds = numberOption("--rounds", 5);
const runs = numberOption("--runs", 3);
const threads = numberOption("--threads", 2);
keepOutput("vs-transformers");

const ROOT = join(CACHE, "vs-transformers");
/** One folder per precision (an INT8 export's FP32 intermediate is not kept beside it). */
const NAMES: Record<string, string> = { fp32: "bge-small-fp32", int8: "bge-small-int8" };
const cli = join(import.meta.dirname, "..", "dist", "cli", "cli.js");
mkdirSync(ROOT, { recursive: true });
for (const [precision, file] of [
  ["fp32", "model.onnx"],
  ["int8", "model_quantized.onnx"],
] as const) {
  const folder = join(ROOT, NAMES[precision]!);
  if (existsSync(join(folder, "onnx", file))) continue;
  const flags = precision === "fp32" ? ["--fp32"] : [];
  execFileSync(process.execPath, [cli, "export", bgeSmallModel(), "-o", folder, "--layout", "transformers.js", "-q", ...flags], {
    stdio: ["ignore", "ignore", "inherit"],
  });
}

const WORDS = "the a memory store vector search query model short text note user said remembers likes project meeting".split(" ");
let seed = 7;
const word = () => WORDS[(seed = (seed * 1103515245 + 12345) % 2147483648) % WORDS.length]!;
const sentence = (words: number) => Array.from({ length: words }, word).join(" ");
const short = Array.from({ length: 64 }, (_, i) => sentence(4 + (i % 11)));
const long = Array.from({ length: 64 }, (_, i) => sentence(110 + (i % 20)));
const shortFile = join(ROOT, "short.json");
const longFile = join(ROOT, "long.json");
writeFileSync(shortFile, JSON.stringify(short));
writeFileSync(longFile, JSON.stringify(long));

interface Run {
  loadMs: number;
  shortMs: number[];
  longMs: number[];
  vectors: string;
}

const child = join(import.meta.dirname, "vs-transformers-child.ts");
function once(tool: string, precision: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = ["--import", "tsx", child, tool, ROOT, NAMES[precision]!, precision, shortFile, longFile, String(runs), String(threads)];
    const process_ = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    process_.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    process_.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(stdout) as Run) : reject(new Error(`${tool} ${precision} exited ${code}`)),
    );
  });
}

// Ours as users get it (onnxruntime in its child process), and with { isolated: false }.
const TOOLS = ["ours", "ours-in-process", "transformers.js"] as const;
const loads: string[] = [readLoadAverage()];
const results: Record<string, Record<string, Run[]>> = {
  fp32: { ours: [], "ours-in-process": [], "transformers.js": [] },
  int8: { ours: [], "ours-in-process": [], "transformers.js": [] },
};
// Our side loads once before timing, as after an export or any earlier load: the sha256 memo then holds the files.
await once("ours", "fp32");
await once("ours", "int8");
for (let round = 0; round < rounds; round++) {
  for (const precision of ["fp32", "int8"]) {
    for (const i of roundOrder(TOOLS.length, round)) results[precision]![TOOLS[i]!]!.push(await once(TOOLS[i]!, precision));
  }
  loads.push(readLoadAverage());
}

function readLoadAverage(): string {
  return execFileSync("cat", ["/proc/loadavg"]).toString().split(" ").slice(0, 1).join("");
}

function minCosine(a: string, b: string): number {
  const x = new Float32Array(Buffer.from(a, "base64").buffer.slice(0));
  const y = new Float32Array(Buffer.from(b, "base64").buffer.slice(0));
  const width = x.length / 64;
  let worst = 1;
  for (let row = 0; row < 64; row++) {
    let dot = 0;
    for (let i = 0; i < width; i++) dot += x[row * width + i]! * y[row * width + i]!;
    worst = Math.min(worst, dot);
  }
  return worst;
}

console.log(
  `model: synthetic bge-small (bert, 12 layers, hidden 384) exported to ${ROOT}/{${Object.values(NAMES).join(",")}} (transformers.js layout), the same files for both`,
);
console.log(
  `${rounds} interleaved rounds, fresh process per side, ${threads} onnxruntime threads each; per batch: median of ${runs} runs after a warm-up; 64 texts in one batch`,
);
console.log(`1-minute load average at the start and after each round: ${loads.join(", ")}`);
console.log("");
console.log(
  "| precision | measure | ours (ms, median) | ours in-process (ms) | transformers.js (ms) | ours / transformers.js (median of rounds) | in-process / transformers.js |",
);
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const precision of ["fp32", "int8"]) {
  const ours = results[precision]!.ours!;
  const inProcess = results[precision]!["ours-in-process"]!;
  const theirs = results[precision]!["transformers.js"]!;
  const rows: Array<[string, (run: Run) => number]> = [
    ["load", (r) => r.loadMs],
    ["64 short texts", (r) => median(r.shortMs)],
    ["64 long texts", (r) => median(r.longMs)],
  ];
  for (const [measure, of] of rows) {
    const [a, b, c] = [ours.map(of), inProcess.map(of), theirs.map(of)];
    console.log(
      `| ${precision} | ${measure} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(c).toFixed(1)} | ${medianRatio(a, c).toFixed(3)} | ${medianRatio(b, c).toFixed(3)} |`,
    );
  }
  console.log(
    `| ${precision} | worst cosine, short batch, ours vs transformers.js | | | | ${minCosine(ours[0]!.vectors, theirs[0]!.vectors).toFixed(6)} | ${minCosine(inProcess[0]!.vectors, theirs[0]!.vectors).toFixed(6)} |`,
  );
}
