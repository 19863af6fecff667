// Peak memory of `jazzmine-embed embed <dir> --input texts.txt` (the CLI and its onnxruntime
// worker, summed) against the library embedding the same texts in one process
// (Embedder.load + embed; onnxruntime in its child, the default, and in-process), and against
// the CLI of another build: 2,000 texts (one in ten ~120
// words, the rest 4-14), FP32 synthetic bge-small, fresh processes, interleaved rounds.
//   npm run build && tsx bench/embed-rss.ts <other-checkout-with-dist> [--rounds N]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { processTreeRss } from "../dist/bench/process-memory.js";
import { median, medianRatio, roundOrder } from "../dist/bench/stats.js";
import { CACHE, keepOutput } from "./common.js";

const args = process.argv.slice(2);
const roundsAt = args.indexOf("--rounds");
const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 3;
const [other] = args;
if (!other || !existsSync(join(other, "dist", "cli", "cli.js"))) {
  console.error("usage: tsx bench/embed-rss.ts <other-checkout-with-dist> [--rounds N]");
  process.exit(2);
}
keepOutput("embed-rss");

// The FP32 folder bench/vs-transformers.ts exports.
const folder = join(CACHE, "vs-transformers", "bge-small-fp32");
if (!existsSync(join(folder, "onnx", "model.onnx"))) {
  console.error(`${folder} is missing: run bench/vs-transformers.ts first`);
  process.exit(2);
}
const WORDS = "the a memory store vector search query model short text note user said remembers likes project meeting".split(" ");
let seed = 11;
const word = () => WORDS[(seed = (seed * 1103515245 + 12345) % 2147483648) % WORDS.length]!;
const texts = Array.from({ length: 2000 }, (_, i) => Array.from({ length: i % 10 === 0 ? 110 + (i % 20) : 4 + (i % 11) }, word).join(" "));
const input = join(CACHE, "embed-rss-texts.txt");
writeFileSync(input, `${texts.join("\n")}\n`);

const LIBRARY = `
const [root, dir, input, isolation] = process.argv.slice(1);
const { readFileSync } = await import("node:fs");
const { Embedder } = await import(root + "/dist/index.js");
const texts = readFileSync(input, "utf8").split("\\n").filter(Boolean);
const embedder = await Embedder.load(dir, isolation === "in-process" ? { isolated: false } : {});
const vectors = await embedder.embed(texts);
process.stdout.write(String(vectors.length));
await embedder.close();
`;

const here = resolve(import.meta.dirname, "..");
const sides = [
  {
    name: "CLI embed --input (this build)",
    command: [join(here, "dist", "cli", "cli.js"), "embed", folder, "--input", input, "-q"],
  },
  {
    name: "library Embedder.embed (this build, default: onnxruntime in a child)",
    command: ["--input-type=module", "-e", LIBRARY, pathToFileURL(here).href, folder, input, "default"],
  },
  {
    name: "library Embedder.embed (this build, { isolated: false })",
    command: ["--input-type=module", "-e", LIBRARY, pathToFileURL(here).href, folder, input, "in-process"],
  },
  {
    name: `CLI embed --input (${other})`,
    command: [join(resolve(other), "dist", "cli", "cli.js"), "embed", folder, "--input", input, "-q"],
  },
];

function measure(command: string[]): Promise<{ seconds: number; peakRss: number }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, command, { stdio: ["ignore", "ignore", "inherit"] });
    let peakRss = 0;
    const timer = setInterval(() => (peakRss = Math.max(peakRss, processTreeRss(child.pid!))), 50);
    child.on("close", (code) => {
      clearInterval(timer);
      if (code !== 0) fail(new Error(`${command.join(" ").slice(0, 120)} exited ${code}`));
      else done({ seconds: (performance.now() - started) / 1000, peakRss });
    });
  });
}

const loadAverage = () => execFileSync("cat", ["/proc/loadavg"]).toString().split(" ")[0];
const loads = [loadAverage()];
const peaks: number[][] = sides.map(() => []);
const seconds: number[][] = sides.map(() => []);
for (let round = 0; round < rounds; round++) {
  for (const i of roundOrder(sides.length, round)) {
    const run = await measure(sides[i]!.command);
    peaks[i]!.push(run.peakRss);
    seconds[i]!.push(run.seconds);
  }
  loads.push(loadAverage());
}
const MiB = 2 ** 20;
console.log(
  `2,000 texts (200 of ~120 words, the rest 4-14), FP32 synthetic bge-small ${folder}; default batches; peak RSS of the process tree (sampled every 50 ms)`,
);
console.log(`${rounds} interleaved rounds, fresh processes; 1-minute load average at the start and after each round: ${loads.join(", ")}`);
console.log("");
console.log("| run | peak RSS (MiB, median) | per round | × the library's (median of rounds) | seconds (median) |");
console.log("|---|---:|---|---:|---:|");
sides.forEach((side, i) =>
  console.log(
    `| ${side.name} | ${(median(peaks[i]!) / MiB).toFixed(0)} | ${peaks[i]!.map((p) => (p / MiB).toFixed(0)).join(" ")} | ${medianRatio(peaks[i]!, peaks[1]!).toFixed(2)} | ${median(seconds[i]!).toFixed(1)} |`,
  ),
);
