// --optimize size|latency: the choice rule on hand-made rows, and the whole run on a synthetic
// BERT — every candidate exported, judged against FP32 and timed; the chosen one published alone
// (with its manifest naming optimization_report.json) and loadable.
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readManifest } from "../src/artifact/manifest.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import {
  CANDIDATES,
  type CandidateRow,
  OPTIMIZATION_REPORT_FILE,
  type OptimizationReport,
  chooseCandidate,
  optimizeExport,
} from "../src/optimize/optimize.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { Embedder } from "../src/runtime/embedder.js";
import { Reranker } from "../src/runtime/reranker.js";
import { InterruptedError } from "../src/common/abort.js";
import { existsSync } from "node:fs";
import { modelFolder, recordingLogger, runCli, tempDir } from "./helpers/index.js";

const row = (name: CandidateRow["name"], bytes: number, score: number, latencyRatio: number, bound = 0.99): CandidateRow => ({
  name,
  exported: true,
  bytes,
  score,
  passed: score >= bound,
  latencyRatio,
});

describe("chooseCandidate", () => {
  const rows = [row("fp32", 100, 1, 1), row("fp16", 50, 0.9999, 1.1), row("int8-static", 26, 0.995, 0.5), row("int4", 16, 0.97, 0.6)];

  it("size: the smallest file among those that keep the bound (int4 is below it)", () => {
    expect(chooseCandidate(rows, "size").name).toBe("int8-static");
  });

  it("latency: the lowest latency ratio among those that keep the bound; a tie goes to the smaller file", () => {
    expect(chooseCandidate(rows, "latency").name).toBe("int8-static");
    const tied = [row("fp32", 100, 1, 1), row("int8-dynamic", 30, 0.999, 0.7), row("int8-static", 26, 0.999, 0.7)];
    expect(chooseCandidate(tied, "latency").name).toBe("int8-static");
  });

  it("FP32 is chosen when nothing else keeps the bound", () => {
    expect(chooseCandidate([row("fp32", 100, 1, 1), row("int4", 16, 0.5, 0.6)], "size").name).toBe("fp32");
  });
});

describe("optimizeExport", () => {
  it("exports, judges and times every candidate, publishes the chosen one alone, with the table in optimization_report.json", async () => {
    const dir = modelFolder(syntheticBert({ seed: 73, vocab: BUNDLED_VOCAB_SIZE }), {}, "pick");
    const out = tempDir();
    const calibration = Array.from({ length: 20 }, (_, i) => `calibration text number ${i} about things`);
    const logger = recordingLogger();
    const service = new EmbeddingService(dir, { logger });
    const { path, report } = await optimizeExport(service, out, {
      goal: "size",
      minCosine: 0.99,
      calibrationTexts: calibration,
      budgetMs: 200,
      logger,
    });
    expect(report.candidates.map((c) => c.name)).toEqual([...CANDIDATES]);
    const exported = report.candidates.filter((c) => c.exported);
    for (const c of exported) {
      expect(c.score).toBeGreaterThan(0.5);
      expect(c.bytes).toBeGreaterThan(0);
    }
    // The choice is the smallest candidate that kept the bound, by the report's own figures.
    const passing = report.candidates.filter((c) => c.passed);
    expect(passing.every((c) => c.score! >= 0.99 && c.latencyRatio! > 0)).toBe(true);
    const smallest = passing.reduce((a, b) => (b.bytes! < a.bytes! ? b : a));
    expect(report.chosen).toBe(smallest.name);
    const fp32 = report.candidates[0]!;
    expect(fp32).toMatchObject({ name: "fp32", score: 1, passed: true, sizeRatio: 1 });
    expect(Object.keys(fp32.latency!)).toEqual(["1×16", "8×128"]);
    // Candidates that fail the bound say why; quantized ones state how mixed they are.
    for (const c of report.candidates.filter((c) => !c.passed)) expect(c.rejected).toBeTruthy();
    for (const c of report.candidates.filter((c) => c.exported && c.name.startsWith("int")))
      expect(c.matMuls!.quantized).toBeGreaterThan(0);

    // Published: the chosen model and its files, nothing of the other candidates, no staging folder.
    const chosen = report.candidates.find((c) => c.name === report.chosen)!;
    // The report names published files only: the chosen model, relative to the output folder.
    expect(report.candidates.filter((c) => c.file !== undefined).map((c) => c.name)).toEqual([report.chosen]);
    expect(join(out, chosen.file!)).toBe(path);
    expect(statSync(path).size).toBeLessThanOrEqual(chosen.bytes!);
    const files = readdirSync(out);
    expect(files.filter((f) => f.endsWith(".onnx"))).toEqual([path.split("/").at(-1)]);
    expect(files.some((f) => f.startsWith(".jazzmine-export-"))).toBe(false);
    const written = JSON.parse(readFileSync(join(out, OPTIMIZATION_REPORT_FILE), "utf8")) as OptimizationReport;
    expect(written.chosen).toBe(report.chosen);
    const manifest = readManifest(out)!.exports.at(-1)!;
    expect(manifest.files.map((f) => f.path)).toContain(OPTIMIZATION_REPORT_FILE);
    expect(manifest.settings.optimize).toEqual({ goal: "size", minCosine: 0.99, chosen: report.chosen });
    expect(logger.lines.some((l) => l.startsWith(`optimize (size, worstCosine ≥ 0.99`))).toBe(true);

    const embedder = await Embedder.load(out);
    try {
      const [vector] = await embedder.embed(["picked for me"]);
      expect(vector!.length).toBe(32);
    } finally {
      await embedder.close();
    }
  }, 120_000);

  it("the CLI: --optimize latency at a strict bound (0.99999) over three candidates; bad values are usage errors", async () => {
    const dir = modelFolder(syntheticBert({ seed: 74, vocab: BUNDLED_VOCAB_SIZE }), {}, "fast");
    const out = tempDir();
    const texts = join(tempDir(), "texts.txt");
    writeFileSync(texts, Array.from({ length: 20 }, (_, i) => `a calibration line ${i}`).join("\n"));
    const env = { HF_HUB_OFFLINE: "1" };
    const run = await runCli(
      [
        "export",
        dir,
        "-o",
        out,
        "--optimize",
        "latency",
        "--min-cosine",
        "0.99999",
        "--optimize-candidates",
        "fp32,fp16,int8-dynamic",
        "--calibration",
        texts,
      ],
      { env },
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, OPTIMIZATION_REPORT_FILE), "utf8")) as OptimizationReport;
    expect(report.candidates.map((c) => c.name)).toEqual(["fp32", "fp16", "int8-dynamic"]);
    expect(report.goal).toBe("latency");
    const passing = report.candidates.filter((c) => c.passed);
    // The lowest latency ratio; a tie (ratios are kept to 4 decimals) goes to the smaller file.
    const fastest = [...passing].sort((a, b) => a.latencyRatio! - b.latencyRatio! || a.bytes! - b.bytes!)[0]!;
    expect(report.chosen).toBe(fastest.name);
    expect(run.stdout.trim()).toBe(join(out, readManifest(out)!.exports.at(-1)!.model));
    expect(run.stderr).toMatch(/optimize \(latency/);

    for (const args of [
      ["--optimize", "smallest"],
      ["--optimize", "size", "--fp32"],
      ["--optimize", "size", "--mode", "int4"],
      ["--min-cosine", "0.9"],
      ["--optimize", "size", "--min-cosine", "2"],
      ["--optimize", "size", "--optimize-candidates", "int2"],
    ]) {
      const bad = await runCli(["export", dir, "-o", tempDir(), ...args], { env });
      expect(bad.code, args.join(" ")).toBe(2);
      // One line naming the flag (then the --help hint).
      expect(bad.stderr.split("\n")[0], args.join(" ")).toMatch(/^jazzmine-embed: error: --(optimize|min-cosine|optimize-candidates)\b/);
    }
  }, 120_000);

  it("a reranker is judged by the rank score of its held-out pair scores (per-query Spearman, top-3 agreement); the chosen one reranks", async () => {
    const dir = modelFolder(syntheticReranker("bert", { seed: 75, vocab: BUNDLED_VOCAB_SIZE }), {}, "rr");
    const out = tempDir();
    const service = new EmbeddingService(dir, { logger: recordingLogger() });
    const { report } = await optimizeExport(service, out, {
      goal: "latency",
      minCosine: 0.95,
      candidates: ["int8-dynamic"],
      calibrationTexts: Array.from({ length: 20 }, (_, i) => `a calibration passage ${i}`),
      budgetMs: 100,
      logger: recordingLogger(),
    });
    expect(report.score).toBe("rankScore");
    expect(report.candidates.map((c) => c.name)).toEqual(["fp32", "int8-dynamic"]);
    const dynamic = report.candidates[1]!;
    expect(dynamic.score).toBeGreaterThan(0.9);
    expect(dynamic.score).toBeLessThanOrEqual(1);
    const reranker = await Reranker.load(out);
    try {
      const ranked = await reranker.rerank("query", ["one document", "another document"]);
      expect(ranked).toHaveLength(2);
    } finally {
      await reranker.close();
    }
  }, 120_000);

  it("stopped by its signal while a candidate exports: rejects with InterruptedError and leaves nothing behind", async () => {
    const dir = modelFolder(syntheticBert({ seed: 76, vocab: BUNDLED_VOCAB_SIZE }), {}, "stop");
    const out = join(tempDir(), "fresh");
    const controller = new AbortController();
    const logger = recordingLogger();
    const stopping = {
      ...logger,
      info: (message: string) => {
        logger.info(message);
        if (message.includes("exporting the int8-static candidate")) controller.abort("SIGINT");
      },
    };
    const service = new EmbeddingService(dir, { logger: stopping });
    await expect(
      optimizeExport(service, out, { signal: controller.signal, logger: stopping, calibrationTexts: ["one text", "two texts", "three"] }),
    ).rejects.toBeInstanceOf(InterruptedError);
    expect(existsSync(out)).toBe(false); // the folder it created is gone with the staged candidates
  }, 120_000);
});
