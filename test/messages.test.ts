// Messages that say what happened: memory exhaustion named as such (and no portable retry for
// it), stdout that cannot be written, paths that are files or dangling links, and no warning
// about sentence-transformers files for SPLADE / PyLate exports.
import { spawnSync } from "node:child_process";
import { existsSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_FAILURE } from "../src/cli/cli.js";
import { ExportError } from "../src/common/errors.js";
import { outOfMemoryMessage } from "../src/common/out-of-memory.js";
import { failureNoVariantFixes } from "../src/export/failures.js";
import { EmbeddingService } from "../src/export/service.js";
import { writePylateFolder, writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { IsolatedSession, SessionError } from "../src/ort/isolated-session.js";
import { ROOT, cliCommand } from "./helpers/cli-process.js";
import { recordingLogger, runCli, tempDir } from "./helpers/index.js";

describe("out of memory", () => {
  it("is recognised in onnxruntime's, the C++ runtime's, the loader's and V8's words, with the failed allocation's size", () => {
    for (const said of [
      "onnxruntime failed on x.onnx: std::bad_alloc",
      "Error: libonnxruntime.so.1: failed to map segment from shared object",
      "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
      "onnxruntime ran out of memory (SIGTRAP) while working on m.onnx",
    ]) {
      expect(outOfMemoryMessage(new Error("verification failed", { cause: new Error(said) })), said).toMatch(/^out of memory/);
    }
    expect(
      outOfMemoryMessage(new Error("[ONNXRuntimeError] : 6 : Failed to allocate memory for requested buffer of size 536870912")),
    ).toMatch(/^out of memory \(an allocation of 537 MB failed\)(; this process may use .* of address space \(ulimit -v\))?: free memory/);
    expect(outOfMemoryMessage(new Error("Gather: indices out of range"))).toBeUndefined();
  });

  it("stops the export instead of retrying with the portable graph", () => {
    const fatal = failureNoVariantFixes(new SessionError("onnxruntime failed on m.onnx: std::bad_alloc"));
    expect(fatal).toBeInstanceOf(ExportError);
    expect((fatal as Error).message).toMatch(/^the export ran out of memory.*: free memory/);
    expect(failureNoVariantFixes(new SessionError("Gather: indices out of range"))).toBeUndefined();
  });

  it("an onnxruntime worker ended by SIGTRAP (the allocator's stop) is reported as memory, not as a crash", async () => {
    const session = IsolatedSession.start();
    const loading = session.load(join(tempDir(), "m.onnx"));
    process.kill(session.pid!, "SIGTRAP"); // the worker is still booting: the load is pending
    await expect(loading).rejects.toThrow(/^onnxruntime ran out of memory \(SIGTRAP\)/);
  });
});

describe("output and paths", () => {
  it("stdout on a full device: one line and exit 1, no stack trace", () => {
    const run = spawnSync("bash", ["-c", `${cliCommand()} embed --help > /dev/full`], { cwd: ROOT, encoding: "utf8" });
    expect(run.status).toBe(EXIT_FAILURE);
    expect(run.stderr).toBe(
      "jazzmine-embed: error: cannot write the results to stdout: no space left on the device; free some space or choose a folder on another disk\n",
    );
  });

  it("a file where a folder is expected, and a dangling -o symlink, are one line each", async () => {
    expect(await runCli(["rerank", "/etc/passwd", "--query", "q", "doc"], { env: {} })).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr:
        "jazzmine-embed: error: /etc/passwd is a file, not a folder; pass the folder an export wrote (model .onnx + tokenizer.json)\n",
    });
    const link = join(tempDir(), "out");
    const target = join(tempDir(), "gone", "folder");
    symlinkSync(target, link);
    expect(await runCli(["tokenizer", "./no-such-model", "-o", link], { env: {} })).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: cannot create the output folder ${link}: ${link} is a symbolic link to ${target}, which does not exist; create that folder or choose another path\n`,
    });
    expect(existsSync(target)).toBe(false);
  });
});

describe("retrieval exports", () => {
  it("SPLADE and PyLate exports say nothing about a missing Pooling module", async () => {
    for (const [name, write] of [
      ["splade", writeSpladeFolder],
      ["pylate", writePylateFolder],
    ] as const) {
      const source = write(join(tempDir(), name));
      const logger = recordingLogger();
      await new EmbeddingService(source, { logger }).exportOnnxModel(join(tempDir(), "out"), { quantized: false });
      expect(logger.warnings, name).toEqual([]);
    }
  });
});
