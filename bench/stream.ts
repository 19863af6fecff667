// Bulk embedding (issue 26): `jazzmine-embed embed --input FILE --output FILE` on corpora of short
// texts 10× apart — texts/s and the peak RSS of the CLI and its onnxruntime worker — against
// transformers.js (feature-extraction pipeline, batches of 32, each batch's vectors appended to a
// file) on the same file and the same exported folder (the demo-size model: 4 layers, hidden
// 256, the bert-base-uncased tokenizer, FP32, transformers.js layout). Each run is a fresh
// process; peaks are sampled from /proc every 50 ms. Sizes 1k, 10k, 100k and 1M (transformers.js
// up to --tjs-max, default 100k: it holds every text; about 15 min in all on 2 cores).
//   npm run bench:stream [-- --sizes 1000,10000,100000]   (other sizes: printed, not kept)
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processTreeRss } from "../src/bench/process-memory.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE, writeModelFolder } from "../src/fixtures/model-folder.js";
import { CACHE, keepOutput } from "./common.js";

const args = process.argv.slice(2);
const SIZES = args.includes("--sizes") ? args[args.indexOf("--sizes") + 1]!.split(",").map(Number) : [1_000, 10_000, 100_000, 1_000_000];
/** transformers.js holds every text and runs in this thread: measured up to this size. */
const TJS_MAX = Number(args.includes("--tjs-max") ? args[args.indexOf("--tjs-max") + 1] : 100_000);
keepOutput("stream", !args.includes("--sizes"));

const work = join(CACHE, "stream");
const models = join(work, "models");
const name = "demo-tjs";
const folder = join(models, name);
mkdirSync(work, { recursive: true });
if (!existsSync(join(folder, "export_manifest.json"))) {
  const source = join(work, "demo-source");
  rmSync(source, { recursive: true, force: true });
  writeModelFolder(
    source,
    syntheticBert({ layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 512, seed: 2024 }),
  );
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(folder, { quantized: false, layout: "transformers.js" });
}

const WORDS = "the a memory store vector search query model short text note user said remembers likes project meeting".split(" ");
/** Short texts (4 to 14 words, about 6 to 20 tokens), a fixed pseudo-random sequence. */
function corpus(n: number): string {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const lines: string[] = [];
  for (let i = 0; i < n; i++)
    lines.push(Array.from({ length: 4 + Math.floor(next() * 11) }, () => WORDS[Math.floor(next() * WORDS.length)]).join(" "));
  return `${lines.join("\n")}\n`;
}

interface Run {
  seconds: number;
  peakRss: number;
  code: number | null;
  stderr: string;
}

/** A process and its descendants: wall time and the peak of their summed RSS. */
function measure(command: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, command, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let peakRss = 0;
    const timer = setInterval(() => {
      peakRss = Math.max(peakRss, processTreeRss(child.pid!));
    }, 50);
    child.on("close", (code) => {
      clearInterval(timer);
      resolve({ seconds: (performance.now() - started) / 1000, peakRss, code, stderr });
    });
  });
}

const MiB = 2 ** 20;
const cli = join(import.meta.dirname, "..", "dist", "cli", "cli.js");
const tjsChild = join(import.meta.dirname, "stream-tjs.ts");
console.log(`model: ${folder} (4 layers, hidden 256, FP32 onnx/model.onnx); texts: 4-14 words; times include process start and model load`);
console.log("");
console.log("| texts | tool | seconds | texts/s | peak RSS (MiB, all processes) |");
console.log("|---:|---|---:|---:|---:|");
const rows: Array<{ size: number; tool: string; run: Run }> = [];
for (const size of SIZES) {
  const input = join(work, `corpus-${size}.txt`);
  if (!existsSync(input)) writeFileSync(input, corpus(size));
  const tools: Array<[string, string[]]> = [
    ["jazzmine-embed embed --output (.npy)", [cli, "embed", folder, "--input", input, "-o", join(work, "out.npy"), "-q"]],
  ];
  if (size <= TJS_MAX)
    tools.push(["transformers.js, batches of 32", ["--import", "tsx", tjsChild, models, name, input, join(work, "out-tjs.f32")]]);
  for (const [tool, command] of tools) {
    const run = await measure(command);
    if (run.code !== 0) throw new Error(`${tool} on ${size} texts failed (exit ${run.code}): ${run.stderr}`);
    rows.push({ size, tool, run });
    console.log(
      `| ${size} | ${tool} | ${run.seconds.toFixed(1)} | ${(size / run.seconds).toFixed(0)} | ${(run.peakRss / MiB).toFixed(0)} |`,
    );
  }
}
const ours = rows.filter((r) => r.tool.startsWith("jazzmine"));
const largest = ours.at(-1)!;
if (largest.size < 1_000_000) {
  // Extrapolated, not measured: the largest run's rate, and its peak RSS (flat in the count).
  const seconds = 1_000_000 / (largest.size / largest.run.seconds);
  console.log("");
  console.log(
    `1,000,000 texts (EXTRAPOLATED from the ${largest.size}-text run, not measured): about ${(seconds / 60).toFixed(0)} min at ${(largest.size / largest.run.seconds).toFixed(0)} texts/s; ` +
      `peak RSS ${(largest.run.peakRss / MiB).toFixed(0)} MiB if it stays flat as it does from ${ours[0]!.size} to ${largest.size} texts`,
  );
}
