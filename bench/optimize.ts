// `--optimize size` and `--optimize latency` on the bge-small-shaped model: the candidate table
// each goal produced (export, judge, interleaved latency) — bench/results/optimize.txt.
//   npm run bench:optimize [-- --min-cosine 0.99]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddingService, silentLogger } from "../dist/index.js";
import { type OptimizeGoal, optimizeExport, reportTable } from "../dist/optimize/optimize.js";
import { bgeSmallModel, keepOutput } from "./common.js";

const args = process.argv.slice(2);
const at = args.indexOf("--min-cosine");
const minCosine = at >= 0 ? Number(args[at + 1]) : 0.99;
keepOutput("optimize");
const model = bgeSmallModel();
for (const goal of ["size", "latency"] as OptimizeGoal[]) {
  const out = mkdtempSync(join(tmpdir(), "jazzmine-optimize-"));
  try {
    const started = performance.now();
    const { report } = await optimizeExport(new EmbeddingService(model, { logger: silentLogger }), out, {
      goal,
      minCosine,
      logger: silentLogger,
    });
    console.log(
      `## --optimize ${goal} --min-cosine ${minCosine} (synthetic bge-small, ${((performance.now() - started) / 1000).toFixed(1)} s in all)`,
    );
    for (const line of reportTable(report)) console.log(line);
    console.log(`rounds per shape: ${JSON.stringify(report.rounds)}\n`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
