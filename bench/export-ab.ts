// FP32 (or, with --int8, INT8 static) export of this build against another build of the package
// (an earlier commit, built): wall time and peak RSS, each run a fresh process, the two builds
// interleaved, and the median of per-round ratios — how a change to the export path is measured.
//   npm run build && tsx bench/export-ab.ts <other-checkout> [model-folder] [--runs N] [--int8]
// <other-checkout> needs a built dist/, e.g.:
//   mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s $PWD/node_modules /tmp/base/
//   (cd /tmp/base && npx tsc -p tsconfig.build.json)
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeMachine, finishMachine, machineLine } from "../dist/bench/machine.js";
import { mib } from "../dist/bench/markdown.js";
import { DescendantPeakRss } from "../dist/bench/process-memory.js";
import { median, medianRatio, roundOrder } from "../dist/bench/stats.js";
import { CACHE, bgeSmallModel } from "./common.js";

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 7;
const int8At = args.indexOf("--int8");
const int8 = int8At >= 0 && args.splice(int8At, 1).length > 0;
const [other, model = bgeSmallModel()] = args;
if (!other || !existsSync(join(other, "dist", "index.js"))) {
  console.error("usage: tsx bench/export-ab.ts <other-checkout-with-dist> [model-folder] [--runs N] [--int8]");
  process.exit(2);
}

/** One export (FP32, or INT8 when argv[4] is "int8") with the package at argv[1]: prints {wallMs, maxRssBytes}. */
const PROBE = `
const [root, source, output, precision] = process.argv.slice(1);
const { EmbeddingService, silentLogger } = await import(root + "/dist/index.js");
const service = new EmbeddingService(source, { logger: silentLogger, resolver: { resolve: async () => source } });
const started = performance.now();
await service.exportOnnxModel(output, { quantized: precision === "int8" });
process.stdout.write(JSON.stringify({ wallMs: performance.now() - started, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
`;

interface Run {
  wallMs: number;
  maxRssBytes: number;
  helpers: Record<string, number>;
}

async function exportOnce(root: string, output: string): Promise<Run> {
  rmSync(output, { recursive: true, force: true });
  const child = spawn(process.execPath, ["--input-type=module", "-e", PROBE, root, model, output, int8 ? "int8" : "fp32"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const helpers = new DescendantPeakRss(child.pid ?? 0);
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once("close", done));
  const peaks = helpers.stop() ?? {};
  if (code !== 0) throw new Error(`the export with ${root} failed (exit ${code})`);
  return { ...(JSON.parse(stdout) as Omit<Run, "helpers">), helpers: peaks };
}

const builds = [
  { name: "this build", root: pathToFileURL(resolve(import.meta.dirname, "..")).href, runs: [] as Run[] },
  { name: `other build (${other})`, root: pathToFileURL(resolve(other)).href, runs: [] as Run[] },
];
const machine = describeMachine();
for (let round = 0; round < runs; round++) {
  for (const i of roundOrder(builds.length, round))
    builds[i]!.runs.push(await exportOnce(builds[i]!.root, join(CACHE, "export-ab", String(i))));
}
const end = finishMachine(machine);
console.log(
  `${machineLine(end)}; load average ${end.loadAverage.start} → ${end.loadAverage.end}; fresh memory ${end.pageFaultMsPerMiB.start} → ${end.pageFaultMsPerMiB.end} ms/MiB`,
);
console.log(`${int8 ? "INT8 (static)" : "FP32"} export of ${model}, ${runs} interleaved rounds, fresh process each:`);
const base = builds[1]!.runs.map((r) => r.wallMs);
for (const build of builds) {
  const walls = build.runs.map((r) => r.wallMs);
  const helpers = Object.keys(build.runs[0]!.helpers).map((name) => `${name} ${mib(median(build.runs.map((r) => r.helpers[name] ?? 0)))}`);
  console.log(
    `  ${build.name.padEnd(40)} wall median ${median(walls).toFixed(0)} ms [${walls.map((w) => w.toFixed(0)).join(" ")}]  ×${medianRatio(walls, base).toFixed(2)} of other` +
      `  peak RSS ${mib(median(build.runs.map((r) => r.maxRssBytes)))}${helpers.length ? ` (helpers: ${helpers.join(", ")})` : ""}`,
  );
}
