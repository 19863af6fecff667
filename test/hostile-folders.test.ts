// Folders that fight back: a listed file symlinked to /dev/zero, a FIFO where the manifest or a
// tokenizer file should be, a listed file grown to gigabytes, terminal escapes in a model's
// files. Every listed file's type and size are checked against the manifest before anything is
// read; a FIFO or a device is refused at once (never waited on, never read endlessly); strings
// from a model's files reach the terminal with their control characters escaped.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILURE, EXIT_USAGE } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { escapeControlCharacters } from "../src/common/messages.js";
import { FileKindError, readRegularFile } from "../src/common/regular-file.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const env = { ...process.env, HF_HUB_OFFLINE: "1", JAZZMINE_DEBUG: "" };

let source: string;
let exported: string;

beforeAll(async () => {
  source = modelFolder(syntheticBert({ ...TINY, seed: 71 }), {}, "hostile");
  exported = join(tempDir(), "exported");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(exported, { quantized: false });
});

/** A copy of the exported folder with `file` replaced by what `make` puts at its path. */
function copyWith(file: string, make: (path: string) => void): string {
  const dir = join(tempDir(), "copy");
  cpSync(exported, dir, { recursive: true });
  rmSync(join(dir, file));
  make(join(dir, file));
  return dir;
}

const fifo = (path: string) => execFileSync("mkfifo", [path]);

describe("an export folder is checked before it is read", () => {
  it("a listed file symlinked to /dev/zero is refused at once (exit 1, naming it), not read", async () => {
    const dir = copyWith("tokenizer.json", (path) => symlinkSync("/dev/zero", path));
    const run = await cliProcess(["embed", dir, "hello"], { env });
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/tokenizer\.json is a character device, not a regular file/)]);
  });

  it("an export_manifest.json that is a FIFO is refused at once, not waited on", async () => {
    const dir = copyWith("export_manifest.json", fifo);
    const run = await cliProcess(["embed", dir, "hello"], { env });
    expect([run.code, run.stderr]).toEqual([
      EXIT_FAILURE,
      expect.stringMatching(/export_manifest\.json is a FIFO \(named pipe\), not a regular file/),
    ]);
  });

  it("a folder without a manifest: a tokenizer file that is a FIFO, a model symlinked to a device, are refused", async () => {
    const legacy = copyWith("export_manifest.json", () => {});
    rmSync(join(legacy, "tokenizer_config.json"));
    fifo(join(legacy, "tokenizer_config.json"));
    await expect(Embedder.load(legacy)).rejects.toThrow(/tokenizer_config\.json is a FIFO \(named pipe\), not a regular file/);
    const model = readdirSync(legacy).find((file) => file.endsWith(".onnx"))!;
    rmSync(join(legacy, model));
    symlinkSync("/dev/zero", join(legacy, model));
    await expect(Embedder.load(legacy)).rejects.toThrow(new RegExp(`${model} is a character device, not a regular file`));
  });

  it("a listed file grown to 3 GiB is refused by its size before it is read", async () => {
    const dir = copyWith("tokenizer.json", (path) => {
      writeFileSync(path, "");
      truncateSync(path, 3 * 2 ** 30); // sparse: no disk used
    });
    const run = await runCli(["embed", dir, "hello"], { env });
    expect([run.code, run.stderr]).toEqual([
      EXIT_FAILURE,
      expect.stringMatching(/tokenizer\.json is not the file this export wrote \(3221225472 bytes; /),
    ]);
  });
});

describe("readRegularFile", () => {
  it("refuses a FIFO, a device and a folder without reading them; reads at most the bound", () => {
    const dir = tempDir();
    fifo(join(dir, "pipe"));
    expect(() => readRegularFile(join(dir, "pipe"), 100)).toThrow(FileKindError);
    expect(() => readRegularFile("/dev/zero", 100)).toThrow(/is a character device/);
    mkdirSync(join(dir, "folder"));
    expect(() => readRegularFile(join(dir, "folder"), 100)).toThrow(/is a folder/);
    writeFileSync(join(dir, "text"), "0123456789");
    expect(readRegularFile(join(dir, "text"), 10).toString()).toBe("0123456789");
    expect(() => readRegularFile(join(dir, "text"), 9)).toThrow(/10 bytes, more than the 9/);
  });
});

describe("terminal escapes from a model's files", () => {
  it("a modules.json type with ESC sequences reaches stderr escaped", async () => {
    const dir = modelFolder(syntheticBert({ ...TINY, seed: 72 }), { sentence: { pooling: "cls", normalize: false } }, "escapes");
    writeFileSync(
      join(dir, "modules.json"),
      JSON.stringify([
        { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
        { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
        { idx: 2, name: "2", path: "2", type: "Evil\u001b[2J\u001b]0;owned\u0007\u009b31m" },
      ]),
    );
    const run = await cliProcess(["export", dir, "-o", join(tempDir(), "out"), "--fp32", "--sentence-embedding"], { env });
    expect(run.code).toBe(EXIT_USAGE); // the pipeline cannot be met by the graph: a usage error
    expect(run.stderr).toContain("Evil\\u001b[2J\\u001b]0;owned\\u0007\\u009b31m");
    expect(run.stderr).not.toMatch(/[\u001b\u0007\u009b]/);
  });

  it("escapeControlCharacters leaves no terminal control character and keeps every other text as it is", () => {
    const controls = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const escaped = escapeControlCharacters(text);
        return !controls.test(escaped) && (controls.test(text) || escaped === text) && escapeControlCharacters(escaped) === escaped;
      }),
    );
  });
});
