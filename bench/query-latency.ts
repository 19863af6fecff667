// One short query at a time, as a memory runtime embeds a search: Embedder.embed(text) latency
// with onnxruntime in its child process (the default) and in this process ({ isolated: false }),
// FP32 and INT8 files of bench/vs-transformers.ts, each side a fresh process, interleaved rounds.
// What the child's process boundary costs per call.
//   npm run bench:query-latency [-- --rounds N --calls N]  (after bench:vs-transformers made its folders)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { median, medianRatio, roundOrder } from "../dist/bench/stats.js";
import { CACHE, keepOutput, numberOption } from "./common.js";

const rounds = numberOption("--rounds", 5);
const calls = numberOption("--calls", 200);
const FOLDERS = { fp32: "bge-small-fp32", int8: "bge-small-int8" } as const;
for (const name of Object.values(FOLDERS)) {
  if (!existsSync(join(CACHE, "vs-transformers", name))) {
    console.error(`${join(CACHE, "vs-transformers", name)} is missing: run bench/vs-transformers.ts first`);
    process.exit(2);
  }
}
keepOutput("query-latency");

// One side in a fresh process: 20 warm-up calls, then `calls` timed ones; prints p50 and p90 in ms.
const SIDE = `
const [root, dir, isolation, calls, query] = process.argv.slice(1);
const { Embedder } = await import(root + "/dist/index.js");
const embedder = await Embedder.load(dir, { threads: 2, ...(isolation === "in-process" ? { isolated: false } : {}) });
for (let i = 0; i < 20; i++) await embedder.embed(query);
const ms = [];
for (let i = 0; i < Number(calls); i++) {
  const started = performance.now();
  await embedder.embed(query);
  ms.push(performance.now() - started);
}
ms.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ p50: ms[ms.length >> 1], p90: ms[Math.floor(ms.length * 0.9)] }));
await embedder.close();
`;
const root = pathToFileURL(resolve(import.meta.dirname, "..")).href;
const QUERY = "what did the user say about the project meeting";
const SIDES = ["child", "in-process"] as const;

function once(precision: keyof typeof FOLDERS, side: string): { p50: number; p90: number } {
  const dir = join(CACHE, "vs-transformers", FOLDERS[precision]);
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", SIDE, root, dir, side, String(calls), QUERY], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`${side} ${precision} exited ${run.status}: ${run.stderr.trim().split("\n").at(-1)}`);
  return JSON.parse(run.stdout) as { p50: number; p90: number };
}

console.log(
  `one query (${QUERY.split(" ").length} words) per Embedder.embed call, ${calls} calls after 20 warm-up, 2 threads; ${rounds} interleaved rounds, fresh process per side`,
);
console.log("");
console.log("| precision | onnxruntime | p50 ms (median of rounds) | p90 ms | p50 ÷ in-process p50 (median of rounds) |");
console.log("|---|---|---:|---:|---:|");
for (const precision of ["fp32", "int8"] as const) {
  const results: Record<string, Array<{ p50: number; p90: number }>> = { child: [], "in-process": [] };
  for (let round = 0; round < rounds; round++)
    for (const i of roundOrder(SIDES.length, round)) results[SIDES[i]!]!.push(once(precision, SIDES[i]!));
  const base = results["in-process"]!.map((r) => r.p50);
  for (const side of SIDES) {
    const p50 = results[side]!.map((r) => r.p50);
    console.log(
      `| ${precision} | ${side === "child" ? "child process (default)" : "in-process"} | ${median(p50).toFixed(2)} | ${median(results[side]!.map((r) => r.p90)).toFixed(2)} | ${medianRatio(p50, base).toFixed(3)} |`,
    );
  }
}
