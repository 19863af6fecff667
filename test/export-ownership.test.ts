// An export owns only what it creates: intermediates stay in a private pid-stamped staging folder,
// verified files are published by rename under the folder's export lock, a failure removes only
// the export's own files, and the temp files of killed exports are swept. Concurrent exports run
// as real processes, as users start them.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, recordingLogger, tempDir } from "./helpers/index.js";

/** One layer, 32 wide, the bundled tokenizer's vocabulary: an INT8 export takes a second or two. */
const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
/** What every export writes beside its model file. */
const SHARED = ["config.json", "export_manifest.json", "tokenizer.json", "tokenizer_config.json"];
const listing = (dir: string) => readdirSync(dir).sort();

describe("a failed export keeps what was there", () => {
  afterEach(() => {
    delete process.env.JAZZMINE_SIMULATE_ORT_CRASH;
  });

  it("a failing FP32 re-export leaves the previous good export as it was", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 61 }), {}, "keep");
    const out = tempDir();
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    const before = readFileSync(join(out, "keep_fp32.onnx"));
    process.env.JAZZMINE_SIMULATE_ORT_CRASH = "keep_fp32"; // both variants fail verification
    await expect(new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false })).rejects.toThrow(
      /the portable graph did not verify \(onnxruntime crashed \(SIGSEGV\)/,
    );
    expect(listing(out)).toEqual(["keep_fp32.onnx", ...SHARED].sort());
    expect(readFileSync(join(out, "keep_fp32.onnx")).equals(before)).toBe(true); // (toEqual on bytes is slow)
  });

  it("an INT8 export keeps the FP32 export an earlier run wrote into the folder", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 62 }), {}, "both");
    const out = tempDir();
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    const fp32 = readFileSync(join(out, "both_fp32.onnx"));
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out);
    expect(path).toBe(join(out, "both_int8_qdq.onnx"));
    expect(listing(out)).toEqual(["both_fp32.onnx", "both_int8_qdq.onnx", "quantization_report.json", ...SHARED].sort());
    expect(readFileSync(join(out, "both_fp32.onnx")).equals(fp32)).toBe(true);
  });

  it("sweeps the temp files and staging folders of dead processes, never those of live ones", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 63 }), {}, "sweep");
    const out = tempDir();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const alive = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      mkdirSync(join(out, `.jazzmine-export-${dead}-k1ll3d`));
      writeFileSync(join(out, `.jazzmine-export-${dead}-k1ll3d`, "sweep_fp32.onnx"), "partial");
      writeFileSync(join(out, `.sweep_int8_qdq.onnx.calibration-${dead}-0a1b2c3d.onnx`), "133 MB once");
      writeFileSync(join(out, `.tokenizer.json.tmp-${dead}-abc123`), "half");
      const live = `.other_fp32.onnx.tmp-${alive.pid}-abc123`;
      writeFileSync(join(out, live), "another export at work");
      writeFileSync(join(out, "notes.txt"), "the user's own file");
      const logger = recordingLogger();
      await new EmbeddingService(source, { logger }).exportOnnxModel(out, { quantized: false });
      expect(listing(out)).toEqual([live, "notes.txt", "sweep_fp32.onnx", ...SHARED].sort());
      expect(logger.lines).toContain(
        `removed 3 temporary file(s) of exports that were killed: .jazzmine-export-${dead}-k1ll3d, .sweep_int8_qdq.onnx.calibration-${dead}-0a1b2c3d.onnx, .tokenizer.json.tmp-${dead}-abc123`,
      );
    } finally {
      alive.kill();
    }
  });
});

describe("concurrent exports into one folder (real processes)", () => {
  const models = {
    a: modelFolder(syntheticBert({ ...TINY, seed: 64 }), {}, "a"),
    b: modelFolder(syntheticBert({ ...TINY, seed: 65 }), {}, "b"),
    c: modelFolder(syntheticBert({ ...TINY, seed: 66 }), {}, "c"),
  };

  async function exportAll(out: string, runs: string[][]) {
    const results = await Promise.all(runs.map((args) => cliProcess(["export", ...args, "-o", out, "-q"])));
    // Every printed artifact exists once all have finished.
    for (const run of results.filter((r) => r.code === 0)) expect(existsSync(run.stdout.trim()), run.stdout).toBe(true);
    return results;
  }

  it("two INT8 exports of the same model: both succeed on the primary graph, no intermediate is shared", async () => {
    const out = tempDir();
    const runs = await exportAll(out, [[models.a], [models.a]]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(runs.map((r) => r.stdout)).toEqual([`${join(out, "a_int8_qdq.onnx")}\n`, `${join(out, "a_int8_qdq.onnx")}\n`]);
    expect(runs.map((r) => r.stderr)).toEqual(["", ""]); // no warning: neither fell back to the portable graph
    expect(listing(out)).toEqual(["a_int8_qdq.onnx", "quantization_report.json", ...SHARED].sort());
  });

  it("four at once — INT8 and FP32 of one model, an INT8 export failing late, another model: the failure removes only its own files", async () => {
    const out = tempDir();
    const runs = await exportAll(out, [[models.a], [models.a, "--fp32"], [models.a, "--fidelity-threshold", "1"], [models.b]]);
    expect(runs.map((r) => r.code)).toEqual([0, 0, 1, 0]);
    expect(runs[2]!.stderr).toMatch(/^jazzmine-embed: error: .*INT8 cannot reach a held-out cosine of 1/m);
    expect(listing(out)).toEqual(["a_fp32.onnx", "a_int8_qdq.onnx", "b_int8_qdq.onnx", "quantization_report.json", ...SHARED].sort());
  });

  it("two FP32 exports of different models", async () => {
    const out = join(tempDir(), "new", "folder");
    const runs = await exportAll(out, [
      [models.b, "--fp32"],
      [models.c, "--fp32"],
    ]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(listing(out)).toEqual(["b_fp32.onnx", "c_fp32.onnx", ...SHARED].sort());
  });
});
