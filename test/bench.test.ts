// The benchmark suite end to end on a tiny model (one shape, few runs; no timing assertions):
// every variant is exported in fresh processes and timed in onnxruntime, and the JSON, Markdown
// and SVG it writes have the structure their readers rely on; `jazzmine-embed bench` runs the
// same library.
import { existsSync, readFileSync, statSync } from "node:fs";
import { platform } from "node:os";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { VARIANT_KEYS } from "../src/bench/exports.js";
import { type BenchOutput, runBench } from "../src/bench/suite.js";
import { RESULT_KIND, RESULT_VERSION, type BenchResult } from "../src/bench/result.js";
import { EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

/** Small enough to export in a second, with the bundled tokenizer's vocabulary so INT8 calibrates. */
const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, seed: 41 };

/** Every element closed in order: enough to know a browser will parse it. */
function expectWellFormedXml(text: string): void {
  const open: string[] = [];
  for (const [, closing, name, selfClosing] of text.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (closing) expect(open.pop()).toBe(name);
    else open.push(name!);
  }
  expect(open).toEqual([]);
}

describe("runBench", () => {
  let output: BenchOutput;
  let dir: string;
  let out: string;

  beforeAll(async () => {
    dir = modelFolder(syntheticBert(TINY), {}, "tiny-bench");
    out = join(tempDir(), "results");
    output = await runBench({
      model: dir,
      shapes: [{ batch: 2, sequence: 8 }],
      runs: 2,
      exportRuns: 1,
      outputDir: out,
      workDir: tempDir(),
      command: "test",
    });
    // Six exports in fresh processes: on a loaded two-core machine this took past 120 s.
  }, 300_000);

  it("exports every variant in fresh processes and records time, memory, file and graph", () => {
    const { exports } = output.result;
    expect(exports.map((e) => e.variant)).toEqual([...VARIANT_KEYS]);
    for (const e of exports) {
      expect(e.error).toBeUndefined();
      expect(e.runs).toHaveLength(1);
      expect(e.wallMs).toBeGreaterThan(0);
      expect(e.processMs).toBeGreaterThan(e.wallMs!);
      expect(e.maxRssBytes).toBeGreaterThanOrEqual(e.baselineRssBytes!);
      expect(e.artifact!.bytes).toBe(statSync(e.artifact!.path).size);
      // The verification worker's memory is sampled from /proc (Linux only).
      if (platform() === "linux") expect(e.helperPeakRssBytes!["session-worker"]).toBeGreaterThan(10 * 2 ** 20);
      expect(e.log!.some((line) => /^verified (primary|portable) graph: max relative error/.test(line))).toBe(true);
    }
    const byKey = Object.fromEntries(exports.map((e) => [e.variant, e]));
    expect(byKey.fp32!.graphVariant).toBe("primary");
    expect(byKey["fp32-portable"]!.graphVariant).toBe("portable");
    expect(basename(byKey["int8-static"]!.artifact!.path)).toBe("tiny-bench_int8_qdq.onnx");
    expect(basename(byKey.fp16!.artifact!.path)).toBe("tiny-bench_fp16.onnx");
    expect(basename(byKey.int4!.artifact!.path)).toBe("tiny-bench_int4.onnx");
    expect(byKey.fp16!.artifact!.bytes).toBeLessThan(byKey.fp32!.artifact!.bytes * 0.6);
    for (const key of ["int8-static", "int8-dynamic", "int4"] as const) {
      expect(byKey[key]!.quantization!.worstCosine).toBeGreaterThan(0.9);
      expect(byKey[key]!.artifact!.bytes).toBeLessThan(byKey.fp32!.artifact!.bytes);
    }
  });

  it("times every exported model at every shape, interleaved, with ratios to FP32", () => {
    const { sessions, latency, settings } = output.result;
    expect(sessions.map((s) => s.variant)).toEqual([...VARIANT_KEYS]);
    for (const s of sessions) expect(s.samples).toHaveLength(settings.sessionLoads);
    expect(latency).toHaveLength(1);
    const [shape] = latency;
    expect(shape!.shape).toEqual({ batch: 2, sequence: 8 });
    expect(shape!.rounds).toBe(2);
    expect(shape!.baseline).toBe("fp32");
    for (const r of shape!.results) {
      expect(shape!.samples[r.variant]).toHaveLength(2);
      expect(r.p95Ms).toBeGreaterThanOrEqual(r.p50Ms);
      expect(r.tokensPerSecond).toBeCloseTo((16 * 1000) / r.p50Ms, 6);
    }
    expect(shape!.results.find((r) => r.variant === "fp32")!.ratioToBaseline).toBe(1);
  });

  it("writes <model>-<date>.json, .md and .svg", () => {
    const { result, files } = output;
    const stem = join(out, `tiny-bench-${result.startedAt.slice(0, 10)}`);
    expect(files).toEqual({ json: `${stem}.json`, markdown: `${stem}.md`, svg: `${stem}.svg` });
    const json = JSON.parse(readFileSync(files.json, "utf8")) as BenchResult;
    expect(json).toEqual(JSON.parse(JSON.stringify(result)));
    expect(json).toMatchObject({
      kind: RESULT_KIND,
      version: RESULT_VERSION,
      command: "test",
      model: { slug: "tiny-bench", source: "folder" },
    });
    expect(json.model.weightsBytes).toBe(statSync(join(dir, "model.safetensors")).size);
    expect(json.machine.onnxruntime).toMatch(/^\d+\.\d+/);
    expect(json.machine.pageFaultMsPerMiB.end).toBeGreaterThan(0);
    expect(json.settings.threads).toBeGreaterThan(0);
    expect(json.settings.spinning).toBe(false);

    const markdown = readFileSync(files.markdown, "utf8");
    for (const label of ["FP32", "FP32 portable", "INT8 static", "INT8 dynamic"])
      expect(markdown).toMatch(new RegExp(`^\\| ${label} \\|`, "m"));
    expect(markdown).toContain("| variant | session load | 2×8 |");
    expect(markdown).toContain("portable latency ÷ primary latency");
    expect(markdown).toContain(`![latency per variant and shape](${basename(files.svg)})`);

    const svg = readFileSync(files.svg, "utf8");
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expectWellFormedXml(svg);
    expect(svg.match(/<rect x=/g)).toHaveLength(VARIANT_KEYS.length); // one bar per variant and shape
    expect(svg).toContain("2×8 (batch × sequence)");
  });
});

describe("jazzmine-embed bench", () => {
  it("runs the suite and prints the table, the JSON path last", async () => {
    const dir = modelFolder(syntheticBert(TINY), {}, "cli-bench");
    const out = join(tempDir(), "cli-results");
    const { code, stdout, stderr } = await runCli(
      [
        "bench",
        dir,
        "--variants",
        "fp32",
        "--shapes",
        "1x4",
        "--runs",
        "1",
        "--export-runs",
        "1",
        "--threads",
        "1",
        "--spin",
        "--output",
        out,
      ],
      { env: {} },
    );
    expect(stderr).toContain("export FP32, run 1/1");
    expect(code).toBe(EXIT_OK);
    const last = stdout.trim().split("\n").at(-1)!;
    expect(existsSync(last)).toBe(true);
    const result = JSON.parse(readFileSync(last, "utf8")) as BenchResult;
    expect(result.settings).toMatchObject({ threads: 1, spinning: true, variants: ["fp32"], shapes: [{ batch: 1, sequence: 4 }] });
    expect(result.command).toContain("--shapes 1x4");
    expect(stdout).toContain("| FP32 | primary | 1 |");
  }, 60_000);

  it("rejects bad shapes, variants and counts as usage errors", async () => {
    for (const [flag, value, message] of [
      ["--shapes", "8by128", /shape "8by128" is not BATCHxSEQUENCE/],
      ["--variants", "fp8", /unknown variant "fp8"/],
      ["--runs", "0", /--runs must be a positive integer, not 0/],
    ] as const) {
      const { code, stderr } = await runCli(["bench", "--output", tempDir(), flag, value], { env: {} });
      expect(code).toBe(EXIT_USAGE);
      expect(stderr).toMatch(message);
    }
  });

  it("is listed in the help", async () => {
    const { stdout } = await runCli(["--help"], { env: {} });
    expect(stdout).toMatch(/^ {2}bench +measure a model/m);
  });
});

describe("runBench on a reranker", () => {
  it("times pairs at 1×128 and 32×256 by default, with the INT8 Spearman on held-out pairs", async () => {
    const dir = modelFolder(
      syntheticReranker("bert", {
        seed: 42,
        vocab: BUNDLED_VOCAB_SIZE,
        shape: { layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 512 },
      }),
      {},
      "tiny-reranker",
    );
    const { result, files } = await runBench({
      model: dir,
      variants: ["fp32", "int8-dynamic"],
      runs: 2,
      exportRuns: 1,
      outputDir: join(tempDir(), "results"),
      workDir: tempDir(),
      command: "test",
    });
    expect(result.model.task).toBe("rerank");
    expect(result.latency.map((s) => `${s.shape.batch}x${s.shape.sequence}`)).toEqual(["1x128", "32x256"]);
    const int8 = result.exports.find((e) => e.variant === "int8-dynamic")!;
    expect(int8.quantization!.spearman).toBeGreaterThanOrEqual(0.98);
    expect(int8.quantization!.worstCosine).toBeUndefined();
    const markdown = readFileSync(files.markdown, "utf8");
    expect(markdown).toContain("| pairs/s (ratio) | 1×128 | 32×256 |");
    expect(markdown).toContain("INT8 Spearman (held-out pairs)");
  }, 120_000);
});
