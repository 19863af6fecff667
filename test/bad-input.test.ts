// Inputs no graph variant can fix are one error line, with no primary → portable retry and
// nothing left behind: non-finite weights (named by file, tensor and first bad index, an
// embedding row no text reaches included), a tokenizer whose ids do not fit the embedding table,
// a pad_token_id outside the vocabulary, and file-system errors (a full or read-only disk, no
// permission, /proc and /sys).
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_TOKENIZER, BUNDLED_VOCAB_SIZE, type SyntheticModel } from "../src/fixtures/model-folder.js";
import type { WeightDtype } from "../src/checkpoint/weights.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const DAMAGED = "the checkpoint is damaged — re-download it, or fix the weights";

/** The tiny BERT (vocab 1000, hidden 32) with `value` at `index` of tensor `name`. */
function poisoned(name: string, index: number, value: number, dtype: WeightDtype = "F32"): SyntheticModel {
  const model = syntheticBert({ seed: 81, dtype });
  const tensor = model.tensors.find((t) => t.name === name)!;
  (tensor.data as Float32Array)[index] = value;
  return model;
}

/** `jazzmine-embed export <source> -o <fresh folder> …` in this process: its output, and whether the folder exists. */
async function exportOf(source: string, ...flags: string[]) {
  const out = join(tempDir(), "out");
  const run = await runCli(["export", source, "-o", out, "-q", ...flags], { env: {} });
  return { ...run, created: existsSync(out) };
}

describe("non-finite weights", () => {
  it("NaN in a word-embedding row no verification text reaches: exit 1, file, tensor and index named, no folder", async () => {
    const source = modelFolder(poisoned("embeddings.word_embeddings.weight", 777 * 32 + 5, Number.NaN), {}, "nan-row");
    const run = await exportOf(source, "--fp32");
    expect(run).toMatchObject({ code: 1, stdout: "", created: false });
    expect(run.stderr).toBe(
      `jazzmine-embed: error: ${join(source, "model.safetensors")}: tensor "embeddings.word_embeddings.weight" holds NaN at element 24869 (index [777, 5] of shape [1000, 32]); ${DAMAGED}\n`,
    );
  });

  it("+Inf in an FP16 checkpoint's linear weight (converted on the way): named, and the INT8 export does not retry with the portable graph", async () => {
    const name = "encoder.layer.1.intermediate.dense.weight";
    const source = modelFolder(poisoned(name, 32 * 6 + 7, Number.POSITIVE_INFINITY, "F16"), {}, "inf-f16");
    const run = await exportOf(source);
    expect(run).toMatchObject({ code: 1, created: false });
    expect(run.stderr).toBe(
      `jazzmine-embed: error: ${join(source, "model.safetensors")}: tensor "${name}" holds +Inf at element 199 (index [6, 7] of shape [64, 32]); ${DAMAGED}\n`,
    );
  });

  it("-Inf in an F32 attention weight (read straight from the file): named", async () => {
    const name = "encoder.layer.0.attention.self.query.weight";
    const run = await exportOf(modelFolder(poisoned(name, 32 * 31 + 31, Number.NEGATIVE_INFINITY), {}, "inf-f32"), "--fp32");
    expect(run.stderr).toMatch(
      new RegExp(
        `^jazzmine-embed: error: .*model\\.safetensors: tensor "${name.replaceAll(".", "\\.")}" holds -Inf at element 1023 \\(index \\[31, 31\\] of shape \\[32, 32\\]\\); `,
      ),
    );
  });
});

describe("tokenizer and model vocabulary", () => {
  it("a tokenizer of 30522 tokens for a table of 1000 rows: one line before anything runs, INT8 included", async () => {
    const source = modelFolder(syntheticBert({ seed: 82 }), {}, "mismatch"); // vocab 1000
    copyFileSync(BUNDLED_TOKENIZER, join(source, "tokenizer.json"));
    for (const flags of [["--fp32"], []]) {
      const run = await exportOf(source, ...flags);
      expect(run).toMatchObject({ code: 1, created: false });
      expect(run.stderr).toBe(
        `jazzmine-embed: error: ${join(source, "tokenizer.json")} has token ids up to 30521 ("##～") but the model's embedding table has 1000 rows ` +
          `(vocab_size in ${join(source, "config.json")}); the tokenizer does not belong to these weights — use the model's own tokenizer.json\n`,
      );
    }
  });

  it("a pad_token_id outside the vocabulary", async () => {
    const source = modelFolder(syntheticBert({ seed: 83 }), {}, "bad-pad");
    const configFile = join(source, "config.json");
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), pad_token_id: 5000 }));
    const run = await exportOf(source, "--fp32");
    expect(run).toMatchObject({ code: 1, created: false });
    expect(run.stderr).toBe(
      `jazzmine-embed: error: ${configFile}: pad_token_id 5000 is outside the vocabulary (vocab_size 1000: ids 0 to 999); set it to the tokenizer's padding token id\n`,
    );
  });
});

describe("file-system errors: one line naming the path and what to do, nothing left, no retry (real processes)", () => {
  const source = modelFolder(
    syntheticBert({ seed: 84, vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 }),
    {},
    "disk",
  );
  /** The CLI with file-system calls under `under` failing with `code` (test/helpers/fs-faults.ts). */
  const faulty = (args: string[], fault: { code: string; under: string; afterBytes?: number }) =>
    cliProcess(args, {
      nodeArgs: ["--import", "./test/helpers/fs-faults.ts"],
      env: { ...process.env, JAZZMINE_TEST_FS_FAULT: JSON.stringify(fault) },
    });

  it("ENOSPC while writing the FP32 graph, and while writing a calibration model: the folder as it was, the graph built once", async () => {
    const out = tempDir();
    writeFileSync(join(out, "notes.txt"), "the user's own file");
    // The FP32 graph is about 4 MB (the 30522-row table): full at 1 MB, or at 6 MB, in the INT8 step.
    for (const [flags, afterBytes] of [
      [["--fp32"], 1_000_000],
      [[], 6_000_000],
    ] as const) {
      const run = await faulty(["export", source, "-o", out, "-q", ...flags], { code: "ENOSPC", under: out, afterBytes });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `jazzmine-embed: error: cannot write the export into ${out}: no space left on the device; free some space or choose a folder on another disk\n`,
      );
      expect(readdirSync(out)).toEqual(["notes.txt"]);
    }
  });

  it("EACCES creating the output folder, EROFS writing into an existing one", async () => {
    const parent = tempDir();
    const denied = await faulty(["export", source, "-o", join(parent, "new", "out"), "--fp32"], { code: "EACCES", under: parent });
    expect(denied).toMatchObject({ code: 1, stdout: "" });
    expect(denied.stderr.trimEnd().split("\n").at(-1)).toBe(
      `jazzmine-embed: error: cannot create the output folder ${join(parent, "new", "out")}: permission denied; choose a folder you can write to (or fix its permissions)`,
    );
    expect(denied.stderr).not.toContain("warning:");
    const readOnly = await faulty(["export", source, "-o", parent, "--fp32", "-q"], { code: "EROFS", under: parent });
    expect(readOnly.stderr).toBe(
      `jazzmine-embed: error: cannot write into ${parent}: the file system is read-only; choose a folder on a writable disk\n`,
    );
    expect(readdirSync(parent)).toEqual([]);
  });

  for (const [path, kind] of [
    ["/proc/jazz", "proc"],
    ["/sys/kernel/jazz/out", "sysfs"],
  ] as const) {
    it(`${path}: refused at once (a recursive mkdir there never returns), before the model is read`, async () => {
      const run = await runCli(["export", "/no/such/model", "-o", path, "--fp32"], { env: {} });
      const base = path
        .split("/")
        .slice(0, path.startsWith("/proc") ? 2 : 3)
        .join("/");
      expect(run).toEqual({
        code: 1,
        stdout: "",
        stderr: `jazzmine-embed: error: cannot create the output folder ${path}: ${base} is on the kernel's ${kind} file system, which stores no files; choose a folder on a disk\n`,
      });
    });
  }
});
