// The export as a pipeline of stages (#22): every option checked once by resolveExportPlan (a
// UsageError: exit 2, one line naming the CLI's flag; the library names its option), runtime
// failures exit 1, runExport's result says what was published (the CLI's --json precision is the
// manifest's), and one folder holds several exports that load by precision.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ExportManifest, MANIFEST_FILE, mergeExports, readManifest } from "../src/artifact/manifest.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { UsageError } from "../src/common/usage.js";
import { resolveExportPlan } from "../src/export/plan.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const env = { ...process.env, JAZZMINE_DEBUG: "" };
const CALIBRATION = Array.from({ length: 12 }, (_, i) => `calibration text number ${i} about the pipeline`);

let source: string;
let calibrationFile: string;

beforeAll(() => {
  source = modelFolder(syntheticBert({ ...TINY, seed: 221 }), {}, "pipeline-model");
  calibrationFile = join(tempDir(), "texts.txt");
  writeFileSync(calibrationFile, `${CALIBRATION.join("\n")}\n`);
});

describe("one plan, validated once", () => {
  it("every option error exits 2 with one line naming the flag, and creates nothing", async () => {
    const cases: Array<[string[], string]> = [
      [["--opset", "99"], "--opset 99 is not supported: choose an integer from 13 to 21 (default 17)"],
      [["--layout", "bogus"], "--layout must be one of flat, transformers.js, optimum, not bogus"],
      [["--dtype", "fp8"], "--dtype must be one of fp32, fp16, not fp8"],
      [["--task", "ner"], "--task must be one of feature-extraction, rerank, sparse, colbert, bge-m3, not ner"],
      [["--variant", "fast"], "--variant must be one of primary, portable, not fast"],
      [["--vector", "float"], "--vector must be one of int8, binary, not float"],
      [["--outputs", "dense,nope"], "--outputs takes a list of dense, sparse, colbert, not nope"],
      [["--pooling", "sum"], "--pooling must be one of cls, mean, max, lasttoken, not sum"],
      [["--dimensions", "0", "--pooling", "mean"], "--dimensions must be an integer of at least 1, not 0"],
      [["--mode", "fast"], "--mode must be one of static, dynamic, int4, not fast"],
      [["--calibration-method", "kl"], "--calibration-method must be one of minmax, percentile, entropy, mse, not kl"],
      [["--calibration-max-length", "1"], "--calibration-max-length must be an integer from 2 to 1048576, not 1"],
      [["--fidelity-threshold", "2"], "--fidelity-threshold must be a cosine in (0, 1], not 2"],
      [["--optimize", "smallest"], "--optimize must be one of size, latency, not smallest"],
      [["--optimize", "size", "--min-cosine", "2"], "--min-cosine must be a score in (0, 1], not 2"],
      [
        ["--optimize", "size", "--optimize-candidates", "int3"],
        "--optimize-candidates must be among fp32, fp16, int8-static, int8-dynamic, int4, not int3",
      ],
      // Checked against the model once it is read: still the option's fault.
      [["--dimensions", "999", "--pooling", "mean"], "--dimensions must be an integer from 1 to the model's hidden size 32, not 999"],
      [
        ["--sentence-embedding"],
        `${source} has no modules.json, so it does not say how to pool a sentence embedding; choose the pooling explicitly with --pooling (cls, mean, max, lasttoken; L2-normalized)`,
      ],
    ];
    for (const [flags, message] of cases) {
      const out = join(tempDir(), "never");
      const run = await runCli(["export", source, "-o", out, ...flags], { env });
      expect(run.code, flags.join(" ")).toBe(EXIT_USAGE);
      expect(run.stdout).toBe("");
      expect(run.stderr, flags.join(" ")).toBe(`jazzmine-embed: error: ${message}\nRun 'jazzmine-embed --help' for usage.\n`);
      expect(existsSync(out), flags.join(" ")).toBe(false);
    }
  }, 60_000);

  it("the library names its options as it spells them, in a UsageError", async () => {
    const service = new EmbeddingService(source, { logger: silentLogger });
    const out = join(tempDir(), "never");
    for (const [options, message] of [
      [{ opset: 99 }, "opset 99 is not supported: choose an integer from 13 to 21 (default 17)"],
      [
        { sentenceEmbedding: { pooling: "sum" as "cls", normalize: true } },
        "sentenceEmbedding.pooling must be one of cls, mean, max, lasttoken, not sum",
      ],
      [{ fidelityThreshold: 2 }, "fidelityThreshold must be a cosine in (0, 1], not 2"],
      [
        { dtype: "fp16" as const, quantized: true },
        "dtype fp16 is a float export: it does not combine with INT8 quantization (drop quantized, or the dtype)",
      ],
    ] as const) {
      const exporting = service.exportOnnxModel(out, options);
      await expect(exporting).rejects.toThrow(UsageError);
      await expect(exporting).rejects.toThrow(message);
    }
    await expect(service.exportOnnxModel(out, { sentenceEmbedding: true, quantized: false })).rejects.toThrow(
      "choose the pooling explicitly with sentenceEmbedding.pooling (cls, mean, max, lasttoken; L2-normalized)",
    );
    expect(existsSync(out)).toBe(false);
  });

  it("resolveExportPlan: the defaults, and the precision each option combination publishes", () => {
    expect(resolveExportPlan("m", {})).toMatchObject({
      opset: 17,
      layout: "flat",
      precision: "int8-static",
      variants: ["primary", "portable"],
    });
    expect(resolveExportPlan("m", { quantized: false }).precision).toBe("fp32");
    expect(resolveExportPlan("m", { dtype: "fp16" }).precision).toBe("fp16");
    expect(resolveExportPlan("m", { mode: "dynamic" }).precision).toBe("int8-dynamic");
    expect(resolveExportPlan("m", { mode: "int4", variant: "portable" })).toMatchObject({ precision: "int4", variants: ["portable"] });
  });

  it("runtime failures exit 1: a missing model, an output under a file, an unreadable calibration file", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "x");
    for (const args of [
      ["export", join(tempDir(), "no-such-model"), "-o", join(tempDir(), "out"), "--fp32"],
      ["export", source, "-o", join(file, "out"), "--fp32"],
      ["export", source, "-o", join(tempDir(), "out"), "--calibration", join(tempDir(), "missing.txt")],
    ]) {
      const run = await runCli(args, { env });
      expect(run.code, args.join(" ")).toBe(EXIT_FAILURE);
      expect(run.stderr.split("\n").filter(Boolean), args.join(" ")).toHaveLength(1);
    }
  });
});

describe("runExport's result", () => {
  it("--json precision is the manifest's for fp32, int8, int8-dynamic, fp16 and int4", async () => {
    const cases: Array<[string[], string]> = [
      [["--fp32"], "fp32"],
      [["--calibration", "CALIBRATION"], "int8-static"],
      [["--mode", "dynamic", "--calibration", "CALIBRATION"], "int8-dynamic"],
      [["--dtype", "fp16"], "fp16"],
      [["--mode", "int4", "--calibration", "CALIBRATION"], "int4"],
    ];
    for (const [flags, precision] of cases) {
      const out = tempDir();
      const args = flags.map((flag) => (flag === "CALIBRATION" ? calibrationFile : flag));
      const run = await runCli(["export", source, "-o", out, "--json", "-q", ...args], { env });
      expect(run.code, run.stderr).toBe(EXIT_OK);
      const summary = JSON.parse(run.stdout) as { precision: string; artifact: string; variant: string; reports: string[] };
      const entry = readManifest(out)!.exports.at(-1)!;
      expect(summary.precision, flags.join(" ")).toBe(precision);
      expect(entry.settings.precision).toBe(summary.precision);
      expect(summary.artifact).toBe(join(out, entry.model));
      expect(summary.variant).toBe(entry.settings.variant);
      for (const report of summary.reports) expect(existsSync(report), report).toBe(true);
      expect(summary.reports.length).toBe(precision.startsWith("int") ? 1 : 0);
    }
  }, 120_000);
});

describe("a folder holds several exports", () => {
  it("INT8 (dynamic) then FP32 into one folder: the manifest lists both, each loads by precision or file, the most recent by default", async () => {
    const out = tempDir();
    const service = new EmbeddingService(source, { logger: silentLogger });
    const int8 = await service.runExport(out, { mode: "dynamic", calibrationTexts: CALIBRATION });
    const fp32 = await service.runExport(out, { quantized: false });
    // A reused FP32 stage is for other precisions: an FP32 export with one would publish that export's own file.
    const elsewhere = join(tempDir(), "again");
    await expect(service.runExport(elsewhere, { quantized: false }, fp32.fp32)).rejects.toThrow(UsageError);
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync(fp32.path)).toBe(true);
    expect(readManifest(out)!.exports.map((e) => [e.model, e.settings.precision])).toEqual([
      ["pipeline-model_int8_dynamic.onnx", "int8-dynamic"],
      ["pipeline-model_fp32.onnx", "fp32"],
    ]);
    for (const [options, path] of [
      [{}, fp32.path],
      [{ precision: "fp32" }, fp32.path],
      [{ precision: "int8" }, int8.path],
      [{ precision: "int8-dynamic" }, int8.path],
      [{ file: "pipeline-model_int8_dynamic.onnx" }, int8.path],
    ] as const) {
      const embedder = await Embedder.load(out, options);
      try {
        expect(embedder.modelPath, JSON.stringify(options)).toBe(path);
        expect((await embedder.embed(["one folder, two exports"]))[0]!.length).toBe(32);
      } finally {
        await embedder.close();
      }
    }
    await expect(Embedder.load(out, { precision: "int4" })).rejects.toThrow(
      `${out} holds no export of precision int4 (export_manifest.json lists int8-dynamic (pipeline-model_int8_dynamic.onnx), fp32 (pipeline-model_fp32.onnx))`,
    );
    const embed = await runCli(["embed", out, "x", "--precision", "int8", "--json", "-q"], { env });
    expect(embed.code, embed.stderr).toBe(EXIT_OK);
    expect(JSON.parse(embed.stdout)).toMatchObject({ model: int8.path });

    // Exporting FP32 again replaces its own entry and keeps INT8's; a stale entry is reported by name when loaded.
    await service.runExport(out, { quantized: false });
    expect(readManifest(out)!.exports.map((e) => e.settings.precision)).toEqual(["int8-dynamic", "fp32"]);
    writeFileSync(fp32.path, "not the model any more");
    await expect(Embedder.load(out, { precision: "fp32" })).rejects.toThrow(`${fp32.path} is not the file this export wrote`);
    // Its file gone, the next export drops the entry.
    rmSync(fp32.path);
    await service.runExport(out, { quantized: false, dtype: "fp16" });
    expect(readManifest(out)!.exports.map((e) => e.settings.precision)).toEqual(["int8-dynamic", "fp16"]);
  }, 120_000);

  it("a version 1 manifest (one export) is still read", async () => {
    const out = tempDir();
    const { path } = await new EmbeddingService(source, { logger: silentLogger }).runExport(out, { quantized: false });
    const [entry] = readManifest(out)!.exports;
    writeFileSync(join(out, MANIFEST_FILE), JSON.stringify({ format: "jazzmine-export-manifest", version: 1, ...entry }));
    expect(readManifest(out)!.exports).toEqual([entry]);
    const embedder = await Embedder.load(out);
    expect(embedder.modelPath).toBe(path);
    await embedder.close();
  });

  it("mergeExports: replaces the same model's entry, drops one whose model is gone or whose read files were rewritten, keeps the rest", () => {
    const entry = (model: string, files: Record<string, string>): ExportManifest => ({
      producer: "test",
      created: "2026-12-07T00:00:00.000Z",
      source: { model: "m" },
      settings: {},
      model,
      files: Object.entries(files).map(([path, sha]) => ({ path, bytes: 1, sha256: sha.repeat(64) })),
    });
    const added = entry("m_int4.onnx", { "m_int4.onnx": "a", "tokenizer.json": "t", "quantization_report.json": "r" });
    const previous = [
      entry("m_fp32.onnx", { "m_fp32.onnx": "b", "tokenizer.json": "t" }),
      entry("m_int8_qdq.onnx", { "m_int8_qdq.onnx": "c", "tokenizer.json": "t", "quantization_report.json": "q" }),
      entry("m_fp16.onnx", { "m_fp16.onnx": "d" }),
      entry("other_fp32.onnx", { "other_fp32.onnx": "e", "tokenizer.json": "u" }),
      entry("m_int4.onnx", { "m_int4.onnx": "f" }),
    ];
    const { exports, dropped } = mergeExports(previous, added, (path) => path !== "m_fp16.onnx");
    expect(exports.map((e) => e.model)).toEqual(["m_fp32.onnx", "m_int8_qdq.onnx", "m_int4.onnx"]);
    // INT8 keeps its model, losing the report INT4 rewrote (reports are not read by runtimes).
    expect(exports[1]!.files.map((f) => f.path)).toEqual(["m_int8_qdq.onnx", "tokenizer.json"]);
    expect(dropped).toEqual([
      { model: "m_fp16.onnx", why: "its model file is gone" },
      { model: "other_fp32.onnx", why: "tokenizer.json was replaced" },
    ]);
  });
});
