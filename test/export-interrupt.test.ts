// Interrupted exports leave nothing behind: SIGINT / SIGTERM stop the workers, remove what the
// export wrote, keep what was there and exit 130 / 143 with one line; after kill -9 the next
// export sweeps the dead process's files. The library's AbortSignal does the same in-process.
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InterruptedError } from "../src/common/abort.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, recordingLogger, tempDir } from "./helpers/index.js";

/** Big enough that calibrating on CALIBRATION's texts takes seconds: a signal lands mid-export. */
const source = modelFolder(
  syntheticBert({ seed: 71, vocab: BUNDLED_VOCAB_SIZE, layers: 4, hidden: 128, heads: 4, intermediate: 256, maxPositions: 128 }),
  {},
  "mid",
);
const WORDS = "the of and to in a is that for on with as by at from it be this are was or an".split(" ");
const CALIBRATION = join(tempDir(), "texts.txt");
writeFileSync(
  CALIBRATION,
  Array.from({ length: 5000 }, (_, i) => Array.from({ length: 40 }, (_, j) => WORDS[(i * 7 + j * 13) % WORDS.length]).join(" ")).join("\n"),
);

const SHARED = ["config.json", "export_manifest.json", "tokenizer.json", "tokenizer_config.json"];
const listing = (dir: string) => readdirSync(dir).sort();

/** Runs an INT8 export of `source` into `out` and sends `signal` once it is quantizing. */
function exportSignalled(out: string, signal: NodeJS.Signals) {
  let child: ChildProcessWithoutNullStreams | undefined;
  let sent = false;
  const run = cliProcess(["export", source, "-o", out, "--calibration", CALIBRATION], {
    started: (c) => {
      child = c;
      c.stderr.on("data", (chunk: Buffer) => {
        if (!sent && chunk.toString().includes("quantizing to INT8")) {
          sent = true;
          child!.kill(signal);
        }
      });
    },
  });
  return run.then((result) => ({ ...result, pid: child!.pid!, lastLine: result.stderr.trimEnd().split("\n").at(-1)! }));
}

describe("signals during an export (real processes)", () => {
  it("SIGINT: exit 130, one line naming what was removed, the folder exactly as before", async () => {
    const out = tempDir();
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    writeFileSync(join(out, "notes.txt"), "the user's own file");
    const before = listing(out);
    const fp32 = readFileSync(join(out, "mid_fp32.onnx"));
    const run = await exportSignalled(out, "SIGINT");
    expect(run.code).toBe(130);
    expect(run.stdout).toBe("");
    // The staged copies went; the earlier export's files of the same names are the user's, kept — and said apart.
    expect(run.lastLine).toMatch(
      new RegExp(
        `^jazzmine-embed: interrupted \\(SIGINT\\); removed its staged (.+, )?mid_fp32\\.onnx(, .+)?; kept your (.+, )?mid_fp32\\.onnx(, .+)? in ${out} as they were$`,
      ),
    );
    expect(listing(out)).toEqual(before);
    expect(before).toEqual(["mid_fp32.onnx", "notes.txt", ...SHARED].sort());
    expect(readFileSync(join(out, "mid_fp32.onnx")).equals(fp32)).toBe(true); // the earlier export's file, not the intermediate
  });

  it("SIGTERM: exit 143, and the output folder the export created is gone", async () => {
    const parent = tempDir();
    const out = join(parent, "new");
    const run = await exportSignalled(out, "SIGTERM");
    expect(run.code).toBe(143);
    expect(run.lastLine).toMatch(new RegExp(`^jazzmine-embed: interrupted \\(SIGTERM\\); removed .*mid_fp32\\.onnx.*, ${out}/$`));
    expect(listing(parent)).toEqual([]);
  });

  it("kill -9 leaves the staging folder; the next export into the folder sweeps it", async () => {
    const out = tempDir();
    const killed = await exportSignalled(out, "SIGKILL");
    expect(killed.code).toBe(null);
    const staging = `.jazzmine-export-${killed.pid}-`;
    expect(listing(out).filter((f) => f.startsWith(staging))).toHaveLength(1);
    const rerun = await cliProcess(["export", source, "-o", out, "--fp32"]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(
      new RegExp(`^removed 1 temporary file\\(s\\) of exports that were killed: \\.jazzmine-export-${killed.pid}-[0-9a-z]+$`, "m"),
    );
    expect(listing(out)).toEqual(["mid_fp32.onnx", ...SHARED].sort());
  });
});

describe("AbortSignal in the library", () => {
  it("exportOnnxModel rejects with an InterruptedError naming what it removed, and leaves nothing", async () => {
    const out = join(tempDir(), "out");
    const controller = new AbortController();
    const logger = recordingLogger();
    const watching = { ...logger, info: (m: string) => (logger.info(m), m.startsWith("quantizing to INT8") && controller.abort()) };
    const error = await new EmbeddingService(source, { logger: watching })
      .exportOnnxModel(out, { calibrationFile: CALIBRATION, signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect((error as InterruptedError).removed).toContain("mid_fp32.onnx");
    expect((error as Error).message).toMatch(/^interrupted; removed .*mid_fp32\.onnx/);
    expect(logger.warnings).toEqual([]); // no portable retry for a stop
    expect(existsSync(out)).toBe(false);
  });

  it("an aborted signal stops exportOnnxModel before it reads anything, and Embedder.embed before it runs", async () => {
    const out = join(tempDir(), "out");
    const stop = AbortSignal.abort("stop");
    await expect(new EmbeddingService("/does/not/exist").exportOnnxModel(out, { signal: stop })).rejects.toThrow(
      "interrupted; removed nothing",
    );
    expect(existsSync(out)).toBe(false);
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    const embedder = await Embedder.load(out);
    try {
      await expect(embedder.embed(["a", "b"], { signal: stop })).rejects.toBe("stop");
      expect(await embedder.embed(["a", "b"], { signal: new AbortController().signal })).toHaveLength(2);
    } finally {
      await embedder.close();
    }
  });
});
