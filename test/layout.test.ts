// Export layouts: the file names each one writes (flat, transformers.js, optimum), config.json
// (the source's) in every layout, ort_config.json describing the INT8 step, the sentence-
// transformers files kept, and the Embedder loading every layout to the same vectors.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPORT_LAYOUTS, type ExportLayout, isInt8ModelFile, modelFileName, resolveModelFile } from "../src/artifact/layout.js";
import { silentLogger } from "../src/common/log.js";
import { ortConfig } from "../src/export/layout-files.js";
import { EmbeddingService } from "../src/export/service.js";
import { DEFAULT_QUANTIZATION } from "../src/quant/options.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import type { QuantizationReport } from "../src/quant/report.js";
import { Embedder } from "../src/runtime/embedder.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TEXTS = ["a short text", "a somewhat longer text than the first one, with more tokens", ""];

let source: string;
let sourceConfig: string;

beforeAll(() => {
  source = modelFolder(
    syntheticBert({ seed: 61, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 }),
    { sentence: { pooling: "mean", normalize: true } },
    "lay-bert",
  );
  sourceConfig = readFileSync(join(source, "config.json"), "utf8");
});

function filesIn(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

async function vectorsOf(dir: string): Promise<number[][]> {
  const embedder = await Embedder.load(dir);
  try {
    return (await embedder.embed(TEXTS)).map((v) => Array.from(v));
  } finally {
    await embedder.close();
  }
}

const SENTENCE_FILES = ["1_Pooling", "1_Pooling/config.json", "modules.json"];
const TOKENIZER = ["tokenizer.json", "tokenizer_config.json"];

describe("FP32 export in each layout", () => {
  it("writes the layout's file names, the source's config.json and the sentence-transformers files; the Embedder loads each alike", async () => {
    const expected: Record<ExportLayout, string[]> = {
      flat: ["lay-bert_fp32.onnx"],
      "transformers.js": ["onnx", "onnx/model.onnx"],
      optimum: ["model.onnx", "ort_config.json"],
    };
    const vectors: number[][][] = [];
    for (const layout of EXPORT_LAYOUTS) {
      const out = join(tempDir(), layout);
      const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false, layout });
      expect(path).toBe(join(out, modelFileName(layout, "lay-bert", "fp32")));
      expect(filesIn(out)).toEqual([...expected[layout], ...SENTENCE_FILES, "config.json", "export_manifest.json", ...TOKENIZER].sort());
      if (layout === "transformers.js") {
        // The source's keys, model_type intact, and the dtype transformers.js picks onnx/model.onnx by.
        expect(json(join(out, "config.json"))).toEqual({ ...JSON.parse(sourceConfig), "transformers.js_config": { dtype: "fp32" } });
      } else {
        expect(readFileSync(join(out, "config.json"), "utf8")).toBe(sourceConfig);
      }
      if (layout === "optimum") {
        expect(json(join(out, "ort_config.json"))).toEqual({
          one_external_file: true,
          opset: 17,
          optimization: {},
          quantization: {},
          use_external_data_format: false,
        });
      }
      vectors.push(await vectorsOf(out));
    }
    expect(vectors[1]).toEqual(vectors[0]);
    expect(vectors[2]).toEqual(vectors[0]);
  });

  it("the CLI's --layout: the artifact path printed last is the layout's file", async () => {
    const out = join(tempDir(), "cli-optimum");
    const run = await runCli(["export", source, "-o", out, "--fp32", "--layout", "optimum", "--quiet"], { env: {} });
    expect(run).toMatchObject({ code: 0, stdout: `${join(out, "model.onnx")}\n` });
    expect(readdirSync(out)).toEqual(expect.arrayContaining(["config.json", "model.onnx", "ort_config.json"]));
  });

  it("an unknown layout is refused before anything is written (library and CLI)", async () => {
    const out = join(tempDir(), "bad");
    await expect(
      new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false, layout: "onnx" as ExportLayout }),
    ).rejects.toThrow("layout must be one of flat, transformers.js, optimum, not onnx");
    expect(() => readdirSync(out)).toThrow();
    const run = await runCli(["export", source, "-o", out, "--fp32", "--layout", "hub"], { env: {} });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--layout must be one of flat, transformers\.js, optimum, not hub/);
  });
});

describe("INT8 export, optimum layout", () => {
  for (const mode of ["static", "dynamic"] as const) {
    it(`${mode}: model_quantized.onnx alone, ort_config.json describes the quantization as the report states it`, async () => {
      const out = join(tempDir(), `opt-${mode}`);
      const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, {
        quantized: true,
        mode,
        layout: "optimum",
      });
      expect(path).toBe(join(out, "model_quantized.onnx"));
      expect(filesIn(out).filter((f) => f.endsWith(".onnx"))).toEqual(["model_quantized.onnx"]);
      const report = json(join(out, "quantization_report.json")) as unknown as QuantizationReport;
      const { quantization, ...rest } = json(join(out, "ort_config.json"));
      expect(rest).toEqual({ one_external_file: true, opset: 17, optimization: {}, use_external_data_format: false });
      expect(quantization).toMatchObject({
        is_static: mode === "static",
        format: mode === "static" ? "QDQ" : "QOperator",
        mode: mode === "static" ? "QLinearOps" : "IntegerOps",
        activations_dtype: mode === "static" ? "QInt8" : "QUInt8",
        weights_dtype: "QInt8",
        per_channel: true,
        nodes_to_exclude: report.matMuls.float.map(({ node }) => node),
      });
      expect((await vectorsOf(out)).length).toBe(TEXTS.length);
    });
  }
});

describe("ort_config.json", () => {
  it("lists the MatMuls the report left in float as nodes_to_exclude; external data as stated", () => {
    const dir = tempDir();
    const report = {
      matMuls: { quantized: 10, float: [{ node: "/layer.0/attention/query/MatMul", reason: "kept in float for fidelity" }] },
    } as QuantizationReport;
    const config = ortConfig({
      layout: "optimum",
      sourceDir: source,
      outputDir: dir,
      modelPath: join(dir, "model_quantized.onnx"),
      precision: "int8-static",
      opset: 14,
      quantization: { settings: { ...DEFAULT_QUANTIZATION, activationType: "uint8" }, report },
    });
    expect(config).toMatchObject({ opset: 14, use_external_data_format: false });
    expect(config.quantization).toMatchObject({ activations_dtype: "QUInt8", nodes_to_exclude: ["/layer.0/attention/query/MatMul"] });
    writeFileSync(join(dir, "model_quantized.onnx.data"), "");
    expect(
      ortConfig({
        layout: "optimum",
        sourceDir: source,
        outputDir: dir,
        modelPath: join(dir, "model_quantized.onnx"),
        precision: "fp32",
        opset: 17,
      }),
    ).toMatchObject({
      quantization: {},
      use_external_data_format: true,
    });
  });
});

describe("finding the model file", () => {
  it("in any layout: the only file, else the only INT8 one; several are an error listing them", () => {
    const fail = (message: string) => new Error(message);
    const dir = tempDir();
    mkdirSync(join(dir, "onnx"));
    const model = join(tempDir(), "m.onnx");
    copyFileSync(join(source, "config.json"), model); // resolution goes by name only
    copyFileSync(model, join(dir, "onnx", "model.onnx"));
    expect(resolveModelFile(dir, undefined, fail)).toBe(join(dir, "onnx", "model.onnx"));
    copyFileSync(model, join(dir, "onnx", "model_quantized.onnx"));
    expect(resolveModelFile(dir, undefined, fail)).toBe(join(dir, "onnx", "model_quantized.onnx"));
    expect(resolveModelFile(dir, "onnx/model.onnx", fail)).toBe(join(dir, "onnx", "model.onnx"));
    copyFileSync(model, join(dir, "model_quantized.onnx"));
    expect(() => resolveModelFile(dir, undefined, fail)).toThrow(
      `${dir} holds several ONNX files (model_quantized.onnx, onnx/model.onnx, onnx/model_quantized.onnx); choose one with { file }`,
    );
    expect(["x_int8_qdq.onnx", "x_int8_dynamic.onnx", "model_quantized.onnx", "onnx/model_quantized.onnx"].every(isInt8ModelFile)).toBe(
      true,
    );
    expect(["x_fp32.onnx", "model.onnx", "onnx/model_fp16.onnx", "my_model_quantized.onnx.bak"].some(isInt8ModelFile)).toBe(false);
  });
});
