// The bench's building blocks: order statistics and interleaving, shape and variant parsing,
// rendering of failed exports and hostile names, the streamed fixture generator (same bytes
// as the in-memory one, so the large synthetic model is the model its seed names), and the
// allocator settings the onnxruntime worker is started with.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderChart } from "../src/bench/chart.js";
import { parseVariants } from "../src/bench/exports.js";
import { renderMarkdown } from "../src/bench/markdown.js";
import type { BenchResult } from "../src/bench/result.js";
import { parseShapes } from "../src/bench/shapes.js";
import { latencyTargets } from "../src/bench/suite.js";
import type { ShapeResult } from "../src/bench/latency.js";
import { median, medianRatio, quantile, roundOrder } from "../src/bench/stats.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { writeModelFolder } from "../src/fixtures/model-folder.js";
import { workerEnvironment } from "../src/ort/isolated-session.js";
import { referenceOutputs } from "../src/heads/graph.js";
import { FEATURE_EXTRACTION, headsFor } from "../src/heads/tasks.js";
import { WeightError } from "../src/checkpoint/weights.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { reloadsAsIs, startReference } from "../src/export/background-reference.js";
import { verificationBatch, verificationRows } from "../src/export/verify.js";
import { modelFolder, tempDir } from "./helpers/index.js";
import { truncateSync } from "node:fs";
import { DataType, type Initializer } from "../src/graph/ir.js";
import { readModel } from "../src/graph/onnx-file.js";
import { writeModel } from "../src/graph/onnx-file.js";
import { readTensorBytes } from "../src/graph/tensor-bytes.js";

describe("latency targets", () => {
  const shape = (batch: number, sequence: number, samples: Record<string, number[]>): ShapeResult => ({
    shape: { batch, sequence },
    rounds: 3,
    baseline: "fp32",
    results: [],
    samples,
  });

  it("portable ÷ primary at 1×16 and INT8 static ÷ FP32 at 8×128, from the paired rounds", () => {
    const targets = latencyTargets([
      shape(1, 16, { fp32: [10, 10, 10], "fp32-portable": [13, 12, 11] }),
      shape(8, 128, { fp32: [100, 200, 100], "int8-static": [50, 60, 45] }),
    ]);
    expect(targets.map((t) => [t.reached, t.met])).toEqual([
      ["1.20×", true],
      ["0.45×", false],
    ]);
  });

  it("says nothing about shapes or variants that were not measured", () => {
    expect(latencyTargets([shape(1, 128, { fp32: [1], "fp32-portable": [1] })])).toEqual([]);
    expect(latencyTargets([shape(1, 16, { fp32: [1] })])).toEqual([]);
  });
});

describe("statistics", () => {
  it("quantiles interpolate between order statistics", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.95)).toBeCloseTo(4.8);
    expect(quantile([7], 0.95)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("ratios are taken per round, then their median", () => {
    // Round 2 is slow for both (machine noise): the per-round ratio stays 0.5.
    expect(medianRatio([1, 10, 1], [2, 20, 2])).toBe(0.5);
    // Per round 0.5, 2, 0.5 → 0.5; the ratio of the medians (3 / 5 = 0.6) would be wrong.
    expect(medianRatio([1, 10, 3], [2, 5, 6])).toBe(0.5);
    expect(medianRatio([1, 2, 3], [1, 1, 1])).toBe(2);
  });

  it("rotates the order every round so each variant takes every position", () => {
    const orders = [0, 1, 2].map((r) => roundOrder(3, r));
    expect(orders).toEqual([
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
    ]);
  });
});

describe("parsing", () => {
  it("reads batch×sequence lists", () => {
    expect(parseShapes("1x16, 8×128,32X128")).toEqual([
      { batch: 1, sequence: 16 },
      { batch: 8, sequence: 128 },
      { batch: 32, sequence: 128 },
    ]);
    expect(() => parseShapes("0x16")).toThrow(/shape "0x16"/);
    expect(() => parseShapes(",")).toThrow(/no shapes/);
  });

  it("reads variant lists", () => {
    expect(parseVariants("int8-dynamic,fp32,fp32")).toEqual(["int8-dynamic", "fp32"]);
    expect(() => parseVariants("fp32,bf16")).toThrow(
      /unknown variant "bf16" \(variants: fp32, fp32-portable, int8-static, int8-dynamic, fp16, int4\)/,
    );
  });
});

/** A result as the suite writes it, with one failed export and a model id that needs escaping. */
function sampleResult(): BenchResult {
  return {
    kind: "jazzmine-embed-bench",
    version: 1,
    startedAt: "2025-01-02T03:04:05.000Z",
    durationSeconds: 12,
    command: "test",
    model: { id: "org/<odd>&name", slug: "org-odd", source: "hub", description: "bert, 2 layers", weightsBytes: 2 ** 20 },
    machine: {
      cpu: "CPU",
      cores: 2,
      memoryGiB: 8,
      os: "linux",
      node: "v20",
      onnxruntime: "1.30.0",
      tool: "0.1.0",
      loadAverage: { start: 0.5, end: 0.7 },
      pageFaultMsPerMiB: { start: 0.3, end: 0.4 },
    },
    settings: {
      threads: 2,
      spinning: false,
      shapes: [{ batch: 1, sequence: 16 }],
      variants: ["fp32", "int8-static"],
      exportRuns: { fp32: 1, "int8-static": 1 },
      latencyRounds: { budgetMs: 1, min: 1, max: 1 },
      sessionLoads: 1,
      quick: true,
    },
    exports: [
      {
        variant: "fp32",
        label: "FP32",
        runs: [],
        wallMs: 900,
        processMs: 1300,
        maxRssBytes: 1.25 * 2 ** 20,
        baselineRssBytes: 2 ** 19,
        graphVariant: "primary",
        artifact: { path: "/x/m.onnx", bytes: 2 ** 20, externalData: false },
      },
      { variant: "int8-static", label: "INT8 static", runs: [], error: "calibration failed: a | b\nsecond line" },
    ],
    sessions: [{ variant: "fp32", loadMs: 12.5, samples: [12.5] }],
    latency: [
      {
        shape: { batch: 1, sequence: 16 },
        rounds: 1,
        baseline: "fp32",
        results: [{ variant: "fp32", p50Ms: 2, p95Ms: 3, tokensPerSecond: 8000, ratioToBaseline: 1 }],
        samples: { fp32: [2] },
      },
    ],
    targets: [{ name: "FP32 export wall", target: "≤ 1 s", reached: "0.90 s", met: true }],
  };
}

describe("rendering", () => {
  it("shows a failed export as a row with its one-line message", () => {
    const markdown = renderMarkdown(sampleResult());
    expect(markdown).toContain("| INT8 static | failed: calibration failed: a \\| b second line |");
    expect(markdown).toContain("| FP32 | primary | 0 | 0.90 s | 1.30 s | 1.3 MiB | 1.25× |");
    expect(markdown).toContain("| 2.00 ms / 3.00 ms |");
    expect(markdown).toContain("| FP32 export wall ≤ 1 s | 0.90 s | met |");
  });

  it("escapes text in the SVG", () => {
    const svg = renderChart(sampleResult());
    expect(svg).toContain("org/&lt;odd&gt;&amp;name");
    expect(svg).not.toContain("<odd>");
  });
});

describe("streamed synthetic weights", () => {
  it("write the same bytes as the in-memory fixture, shards included, and load as the same model", () => {
    const shape = { layers: 2, hidden: 16, heads: 2, intermediate: 32, vocab: 300, maxPositions: 34, typeVocab: 1, seed: 9 };
    const eager = writeModelFolder(join(tempDir(), "eager"), syntheticRoberta(shape), { tokenizer: false });
    const streamed = writeModelFolder(join(tempDir(), "streamed"), syntheticRoberta({ ...shape, streamed: true }), { tokenizer: false });
    expect(syntheticRoberta({ ...shape, streamed: true }).tensors).toEqual([]);
    expect(readFileSync(join(streamed, "model.safetensors"))).toEqual(readFileSync(join(eager, "model.safetensors")));
    const sharded = writeModelFolder(join(tempDir(), "sharded"), syntheticRoberta({ ...shape, streamed: true }), {
      tokenizer: false,
      shardBytes: 40_000,
    });
    expect(readdirSync(sharded).filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(1);
    const [a, b] = [loadEncoder(eager), loadEncoder(sharded)];
    for (const name of b.weights.store.names()) expect(b.weights.store.float32(name)).toEqual(a.weights.store.float32(name));
    a.close();
    b.close();
  });
});

describe("the onnxruntime worker's allocator settings", () => {
  it("are added to GLIBC_TUNABLES without overriding what the user set", () => {
    const env = workerEnvironment({ PATH: "/bin", GLIBC_TUNABLES: "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2" });
    expect(env.PATH).toBe("/bin");
    const entries = env.GLIBC_TUNABLES!.split(":");
    expect(entries).toContain("glibc.malloc.hugetlb=0");
    expect(entries).toContain("glibc.malloc.arena_max=2");
    expect(entries).not.toContain("glibc.malloc.hugetlb=1");
    expect(entries).toContain("glibc.malloc.trim_threshold=4294967295");
    expect(workerEnvironment({}).GLIBC_TUNABLES).toBe(
      "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295",
    );
  });
});

describe("the reference forward in a child process", () => {
  it("gives exactly the numbers computed in this process, sentence pooling included", async () => {
    const encoder = loadEncoder(modelFolder(syntheticBert({ seed: 51, layers: 2 })));
    const pooling = { pooling: "mean" as const, normalize: true };
    const batches = verificationRows(verificationBatch(encoder.config));
    const task = { task: "feature-extraction" as const, sentenceEmbedding: pooling };
    const pending = startReference(encoder, batches, task, true);
    expect(pending.batches).toBe(batches);
    const heads = headsFor(encoder, task);
    expect(await pending.outputs()).toEqual(batches.map((batch) => referenceOutputs(encoder, heads, batch)));
    encoder.close();
  }, 30_000);

  it("runs out of process only for encoders loadEncoder gives back as they are", () => {
    const encoder = loadEncoder(modelFolder(syntheticBert({ seed: 53 })));
    expect(reloadsAsIs(encoder)).toBe(true);
    expect(reloadsAsIs({ ...encoder, architecture: { ...encoder.architecture } })).toBe(false);
    expect(reloadsAsIs({ ...encoder, config: { ...encoder.config, hiddenSize: 8 } })).toBe(false);
    expect(reloadsAsIs({ ...encoder, dir: tempDir() })).toBe(false);
    encoder.close();
  });

  it("reports a broken checkpoint as the same WeightError", async () => {
    const dir = modelFolder(syntheticBert({ seed: 52 }));
    const encoder = loadEncoder(dir);
    truncateSync(join(dir, "model.safetensors"), 1000);
    const error = await startReference(encoder, [verificationBatch(encoder.config)], FEATURE_EXTRACTION, true)
      .outputs()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightError);
    expect((error as Error).message).toMatch(/truncated|ends/);
    encoder.close();
  }, 30_000);
});

describe("the streaming writer's overlapped writes", () => {
  /** A float tensor whose `fill` writes values that identify the tensor and the position. */
  function patterned(name: string, index: number, elements: number, fill = true): Initializer {
    const values = (out: Float32Array) => {
      for (let i = 0; i < out.length; i++) out[i] = index * 1e6 + (i % 999_983);
    };
    const read = () => {
      const out = new Float32Array(elements);
      values(out);
      return new Uint8Array(out.buffer);
    };
    return {
      name,
      dataType: DataType.FLOAT,
      dims: [elements],
      data: { kind: "lazy", length: elements * 4, read, ...(fill ? { fill: (target: Uint8Array) => target.set(read()) } : {}) },
    };
  }

  it("writes every tensor intact while the next one is being filled", async () => {
    // Large fills (above the 4 MiB buffers) alternate between two scratch buffers; small ones
    // share the two write buffers; read() results and file ranges go in between.
    const sizes = [1_500_000, 3_000, 1_300_000, 200_000, 2_000_000, 700_000, 1_100_000, 10, 1_200_000];
    const initializers = sizes.map((n, i) => patterned(`t${i}`, i + 1, n, i !== 3));
    const model = {
      irVersion: 8,
      opsetImports: [{ domain: "", version: 17 }],
      producerName: "t",
      producerVersion: "0",
      metadata: {},
      graph: { name: "g", nodes: [], initializers, inputs: [], outputs: [], valueInfo: [] },
    };
    for (const externalData of ["never", "always"] as const) {
      const path = join(tempDir(), "m.onnx");
      await writeModel(model, path, { externalData });
      const written = readModel(path).graph.initializers;
      const intact = written.map((init, i) =>
        Buffer.from(readTensorBytes(init.data)).equals((initializers[i]!.data as { read: () => Uint8Array }).read()),
      );
      expect(intact).toEqual(sizes.map(() => true));
    }
  });

  it("fails cleanly when a fill throws after earlier writes were handed to the file system", async () => {
    const initializers = [
      patterned("a", 1, 1_500_000),
      patterned("b", 2, 1_500_000),
      {
        ...patterned("c", 3, 1_500_000),
        data: {
          kind: "lazy" as const,
          length: 6_000_000,
          read: () => new Uint8Array(0),
          fill: () => {
            throw new Error("fill exploded");
          },
        },
      },
    ];
    const model = {
      irVersion: 8,
      opsetImports: [{ domain: "", version: 17 }],
      producerName: "t",
      producerVersion: "0",
      metadata: {},
      graph: { name: "g", nodes: [], initializers, inputs: [], outputs: [], valueInfo: [] },
    };
    const dir = tempDir();
    await expect(writeModel(model, join(dir, "m.onnx"))).rejects.toThrow(/fill exploded/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
