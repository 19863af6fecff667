// The FP32 graph is built once per export and once per --optimize run: the transforms (INT8,
// INT4, FP16) start from the FP32 stage's verified in-memory graph, never rebuilding it. Counted
// on the one function that builds a task's graph.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as graph from "../src/heads/graph.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { optimizeExport } from "../src/optimize/optimize.js";
import { modelFolder, tempDir } from "./helpers/index.js";

vi.mock("../src/heads/graph.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../src/heads/graph.js")>();
  return { ...original, buildTaskGraph: vi.fn(original.buildTaskGraph) };
});

const builds = vi.mocked(graph.buildTaskGraph);
const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const CALIBRATION = Array.from({ length: 12 }, (_, i) => `calibration text number ${i} about counting builds`);

beforeEach(() => {
  builds.mockClear();
});

describe("the FP32 graph is built once", () => {
  it("by an INT8 export (static), an INT4 export and an FP16 export", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 231 }), {}, "counted");
    const service = new EmbeddingService(source, { logger: silentLogger });
    for (const options of [
      { calibrationTexts: CALIBRATION },
      { mode: "int4" as const, calibrationTexts: CALIBRATION },
      { dtype: "fp16" as const },
    ]) {
      builds.mockClear();
      const result = await service.runExport(tempDir(), options);
      expect(builds, JSON.stringify(options)).toHaveBeenCalledTimes(1);
      // The FP32 intermediate is not published.
      expect(
        result.files.some((file) => file.endsWith("_fp32.onnx")),
        JSON.stringify(options),
      ).toBe(false);
    }
  }, 60_000);

  it("by --optimize over four candidates, whose report names only the published model", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 232 }), {}, "optimized");
    const out = tempDir();
    const result = await optimizeExport(new EmbeddingService(source, { logger: silentLogger }), out, {
      goal: "size",
      candidates: ["fp32", "fp16", "int8-dynamic", "int4"],
      calibrationTexts: CALIBRATION,
      shapes: [{ batch: 1, sequence: 8 }],
      budgetMs: 100,
      logger: silentLogger,
    });
    expect(builds).toHaveBeenCalledTimes(1);
    const { report } = result;
    expect(report.candidates.filter((c) => c.exported).map((c) => c.name)).toEqual(["fp32", "fp16", "int8-dynamic", "int4"]);
    const named = report.candidates.filter((c) => c.file !== undefined);
    expect(named.map((c) => c.name)).toEqual([report.chosen]);
    expect(join(out, named[0]!.file!)).toBe(result.path);
    expect(result.precision).toBe(report.chosen);
    for (const path of [result.path, ...result.reports]) expect(existsSync(path), path).toBe(true);
  }, 120_000);
});
