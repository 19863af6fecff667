// `npm run bench`: the benchmark suite (src/bench, the same library as `jazzmine-embed bench`)
// from the compiled package, as users run it. Default: the generated bge-small-shaped model,
// FP32 / FP32 portable / INT8 static / INT8 dynamic, shapes 1×16 1×128 8×128 32×128. Writes
// bench/results/<model>-<date>.json/.md/.svg; for the default model also bench/results/latest.md.
//   npm run bench                        full table (about 3 minutes on 2 cores)
//   npm run bench -- --quick             rough table (about a minute)
//   npm run bench -- <folder|org/name> --shapes 1x16,8x128 --threads 1 --runs 20 --variants fp32,int8-dynamic
//   npm run bench:large                  the 2.2 GB xlm-roberta-large-shaped model (not in CI; ~5 GB of disk)
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_FLAGS, benchOptions, commandLine } from "../dist/cli/bench-command.js";
import { DEFAULT_BENCH_MODEL } from "../dist/bench/models.js";
import { runBench } from "../dist/bench/suite.js";
import { parseArgs } from "../dist/cli/args.js";
import { HubClient } from "../dist/export/hub/client.js";
import { CACHE } from "./common.js";

const RESULTS = join(import.meta.dirname, "results");
const { positionals, flags } = parseArgs(process.argv.slice(2), BENCH_FLAGS);
const options = benchOptions(positionals[0], { output: RESULTS, ...flags });
const { result, files } = await runBench({
  ...options,
  cacheDir: join(CACHE, "models"),
  resolver: new HubClient(),
  command: commandLine("npm run bench --", positionals[0], flags),
  log: (message) => process.stderr.write(`${message}\n`),
});
if (result.model.id === DEFAULT_BENCH_MODEL && options.outputDir === RESULTS) {
  copyFileSync(files.markdown, join(RESULTS, "latest.md"));
  replaceReadmeTable(readFileSync(files.markdown, "utf8"));
}

process.stdout.write(`\n${readFileSync(files.markdown, "utf8")}\n${files.json}\n`);

/** docs/benchmarks.md's table (between its markers) becomes this run's, image links rebased. */
function replaceReadmeTable(markdown: string): void {
  const readme = join(import.meta.dirname, "..", "docs", "benchmarks.md");
  const [start, end] = ["<!-- bench:latest:start -->", "<!-- bench:latest:end -->"];
  const text = readFileSync(readme, "utf8");
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return;
  const table = markdown.trim().replace(/\]\((?!https?:)([^)/]+)\)/g, "](../bench/results/$1)");
  writeFileSync(readme, `${text.slice(0, from + start.length)}\n${table}\n${text.slice(to)}`);
}
