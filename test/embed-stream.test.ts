// Corpus-scale embedding: Embedder.embedStream gives embed()'s vectors in order with bounded
// memory; `embed --output` writes JSONL / .npy / raw files as the vectors come, resumes the
// .partial file a kill left (checked first), and keeps its memory flat on 200,000 lines.
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from "../src/cli/cli.js";
import { processTree, processTreeRss } from "../src/bench/process-memory.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import type { ProgressEvent } from "../src/common/progress.js";
import { Reporter } from "../src/export/progress.js";
import { Embedder } from "../src/runtime/embedder.js";
import { ROOT, cliArgs } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const HIDDEN = 32;
const env = { ...process.env, JAZZMINE_DEBUG: "" };
let dir: string;

beforeAll(async () => {
  const source = modelFolder(syntheticBert({ seed: 71, vocab: BUNDLED_VOCAB_SIZE, hidden: HIDDEN, maxPositions: 64 }), {}, "stream-src");
  dir = join(tempDir(), "exported");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
});

const WORDS = ["memory", "store", "vector", "search", "query", "model", "short", "text", "alpha", "beta"];
/** Short texts of 2 to 9 words, each one distinct. */
const corpus = (n: number) => Array.from({ length: n }, (_, i) => `${WORDS.slice(0, 2 + (i % 8)).join(" ")} ${i}`);

function writeTexts(texts: readonly string[], name = "texts.txt"): string {
  const path = join(tempDir(), name);
  writeFileSync(path, `${texts.join("\n")}\n`);
  return path;
}

/** Rows of a raw vector file: its header line and float32 rows. */
function readRaw(path: string): { header: Record<string, unknown>; rows: number[][] } {
  const bytes = readFileSync(path);
  const newline = bytes.indexOf(0x0a);
  const header = JSON.parse(bytes.subarray(0, newline).toString()) as Record<string, unknown>;
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + newline + 1, bytes.byteOffset + bytes.length));
  const width = header.width as number;
  return { header, rows: Array.from({ length: values.length / width }, (_, i) => Array.from(values.subarray(i * width, (i + 1) * width))) };
}

/** Shape and rows of a .npy file of float32 (NumPy format 1.0). */
function readNpy(path: string): { shape: number[]; rows: number[][] } {
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
  const length = bytes.readUInt16LE(8);
  expect((10 + length) % 64).toBe(0);
  const dict = bytes.subarray(10, 10 + length).toString("latin1");
  expect(dict).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(\d+, \d+\), \} *\n$/);
  const shape = /\((\d+), (\d+)\)/.exec(dict)!.slice(1).map(Number);
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + length, bytes.byteOffset + bytes.length));
  return { shape, rows: Array.from({ length: shape[0]! }, (_, i) => Array.from(values.subarray(i * shape[1]!, (i + 1) * shape[1]!))) };
}

function expectClose(actual: number[][], expected: number[][], tolerance = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  actual.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - expected[i]![j]!)))));
  expect(worst).toBeLessThan(tolerance);
}

/** embed()'s vectors with onnxruntime in this process: the stream (in its child, the default) must give the same. */
async function embedAll(texts: readonly string[]): Promise<number[][]> {
  const embedder = await Embedder.load(dir, { isolated: false });
  try {
    return (await embedder.embed(texts)).map((v) => Array.from(v));
  } finally {
    await embedder.close();
  }
}

describe("Embedder.embedStream", () => {
  it("yields embed()'s vectors in order from an async iterable, window after window; stops when the loop does", async () => {
    const texts = corpus(300);
    const expected = await embedAll(texts);
    const embedder = await Embedder.load(dir);
    try {
      async function* slowly() {
        for (const text of texts) {
          if (text.endsWith("0")) await new Promise((resolve) => setImmediate(resolve));
          yield text;
        }
      }
      const streamed: number[][] = [];
      for await (const vector of embedder.embedStream(slowly(), { windowTexts: 64, batchSize: 16 })) streamed.push(Array.from(vector));
      expectClose(streamed, expected);

      let taken = 0;
      for await (const vector of embedder.embedStream(texts, { windowTexts: 50 })) {
        expect(vector).toHaveLength(HIDDEN);
        if (++taken === 70) break;
      }
      // The session is still usable after a loop that stopped in the middle.
      expectClose([Array.from((await embedder.embed(texts[299]!)) as Float32Array)], [expected[299]!]);
      const bad = embedder.embedStream(["ok", 42 as unknown as string]);
      await expect(bad.next()).rejects.toThrow("embedStream() takes strings, but text 1 is number");
      expect(() => embedder.embedStream(texts, { vector: "int8" })).toThrow(
        /has no sentence_embedding_int8 output; export it with --vector int8$/,
      );
    } finally {
      await embedder.close();
    }
  });
});

describe("progress of a long run on a terminal", () => {
  it("shows texts/s of this run (a resumed run's earlier rows aside) and the time left", () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const screen: string[] = [];
      const tty = new Reporter({ write: (t: string) => screen.push(t), isTTY: true, columns: 120 });
      const event = (status: ProgressEvent["status"], done: number): ProgressEvent => ({
        stage: "embed",
        label: "embedding",
        unit: "texts",
        total: 10_000,
        done,
        status,
      });
      tty.onProgress(event("start", 4000));
      vi.advanceTimersByTime(2000);
      tty.onProgress(event("progress", 5000));
      vi.advanceTimersByTime(100);
      // 1000 texts in 2.1 s here (the 4000 before were the resumed file's): 476 texts/s, 5000 left: 10.5 s.
      expect(screen.at(-1)).toContain("embedding 5000/10000 · 2 s · 476 texts/s · ETA 11 s");
      tty.onProgress(event("done", 10_000));
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("embed --output", () => {
  it("writes JSONL (ids from JSONL input), .npy and raw files equal to embed()'s vectors; --resume continues each cut anywhere", async () => {
    const texts = corpus(700);
    const expected = await embedAll(texts);
    const txt = writeTexts(texts);
    const out = tempDir();

    const npy = await runCli(["embed", dir, "--input", txt, "-o", join(out, "v.npy"), "-q"], { env });
    expect(npy, npy.stderr).toEqual({ code: EXIT_OK, stdout: `${join(out, "v.npy")}\n`, stderr: "" });
    const fromNpy = readNpy(join(out, "v.npy"));
    expect(fromNpy.shape).toEqual([700, HIDDEN]);
    expectClose(fromNpy.rows, expected);

    const raw = await runCli(["embed", dir, "--input", txt, "-o", join(out, "v.f32"), "-q"], { env });
    expect(raw.code, raw.stderr).toBe(EXIT_OK);
    const fromRaw = readRaw(join(out, "v.f32"));
    expect(fromRaw.header).toMatchObject({
      format: "jazzmine-vectors",
      dtype: "float32",
      width: HIDDEN,
      count: 700,
      pooling: "cls",
      normalized: true,
    });
    expectClose(fromRaw.rows, expected);

    const jsonl = join(tempDir(), "texts.jsonl");
    writeFileSync(jsonl, `${texts.map((text, i) => JSON.stringify(i % 3 === 0 ? { id: `doc-${i}`, text } : { text })).join("\n")}\n`);
    const lines = await runCli(["embed", dir, "--input", jsonl, "-o", join(out, "v.jsonl"), "-q"], { env });
    expect(lines.code, lines.stderr).toBe(EXIT_OK);
    const rows = readFileSync(join(out, "v.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: unknown; embedding: number[] });
    expect(rows.map((r) => r.id)).toEqual(texts.map((_, i) => (i % 3 === 0 ? `doc-${i}` : i)));
    expectClose(
      rows.map((r) => r.embedding),
      expected,
    );
    // Plain text in: bare arrays, one per line.
    const plain = await runCli(["embed", dir, "-", "-o", join(out, "plain.jsonl"), "-q"], {
      env,
      stdin: `${texts.slice(0, 3).join("\n")}\n`,
    });
    expect(plain.code, plain.stderr).toBe(EXIT_OK);
    expectClose(
      readFileSync(join(out, "plain.jsonl"), "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as number[]),
      expected.slice(0, 3),
    );
    expect(readdirSync(out).sort()).toEqual(["plain.jsonl", "v.f32", "v.jsonl", "v.npy"]);

    // --resume on each file as a kill leaves it: the .partial file, its last row cut in the middle, the count not yet written.
    const rowsOf = (path: string) =>
      path.endsWith(".npy")
        ? readNpy(path).rows
        : path.endsWith(".f32")
          ? readRaw(path).rows
          : readFileSync(path, "utf8")
              .trimEnd()
              .split("\n")
              .map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
    for (const [name, input] of [
      ["v.npy", txt],
      ["v.f32", txt],
      ["v.jsonl", jsonl],
    ] as const) {
      const file = join(out, name);
      const whole = readFileSync(file);
      renameSync(file, `${file}.partial`);
      truncateSync(`${file}.partial`, Math.floor(whole.length * 0.61));
      const resumed = await runCli(["embed", dir, "--input", input, "-o", file, "--resume"], { env });
      expect(resumed.code, resumed.stderr).toBe(EXIT_OK);
      expect(resumed.stderr).toMatch(new RegExp(`^resuming ${file}\\.partial: \\d+ vector\\(s\\) in it\\n`));
      expect(existsSync(`${file}.partial`)).toBe(false);
      expect(readFileSync(file).length, name).toBe(whole.length);
      expectClose(rowsOf(file), expected);
    }
  });

  it("--resume refuses a file of another run: settings, a shorter input, other texts", async () => {
    const texts = corpus(300);
    const txt = writeTexts(texts);

    const out = join(tempDir(), "v.f32");
    expect((await runCli(["embed", dir, "--input", txt, "-o", out, "-q"], { env })).code).toBe(EXIT_OK);
    renameSync(out, `${out}.partial`);
    const otherSettings = await runCli(["embed", dir, "--input", txt, "-o", out, "--resume", "--no-normalize", "-q"], { env });
    expect(otherSettings.code).toBe(EXIT_FAILURE);
    expect(otherSettings.stderr).toBe(
      `jazzmine-embed: error: ${out}.partial was written with other settings (normalized true, now false); remove it, or resume with the settings it was started with\n`,
    );
    const shorter = await runCli(["embed", dir, "--input", writeTexts(texts.slice(0, 20)), "-o", out, "--resume", "-q"], { env });
    expect(shorter.stderr).toBe(
      `jazzmine-embed: error: ${out}.partial holds 300 vectors but the input has only 20 texts: it was written for another input; remove it or drop --resume\n`,
    );
    const reordered = await runCli(["embed", dir, "--input", writeTexts([...texts].reverse()), "-o", out, "--resume", "-q"], { env });
    expect(reordered.stderr).toMatch(
      /^jazzmine-embed: error: .*v\.f32\.partial does not continue this run: its last vector \(text 300\) differs/,
    );
    // Still there for the right command.
    expect((await runCli(["embed", dir, "--input", txt, "-o", out, "--resume", "-q"], { env })).code).toBe(EXIT_OK);
    expect(readRaw(out).header.count).toBe(300);
  });

  it("Ctrl-C: exit 130, the .partial file kept with whole rows, and the line says how to go on", async () => {
    const txt = writeTexts(corpus(3000));
    const out = join(tempDir(), "v.npy");
    const signals = new EventEmitter();
    let stderr = "";
    // One signal (a second one ends the process at once, as it should).
    const poll = setInterval(() => {
      if (!existsSync(`${out}.partial`) || statSync(`${out}.partial`).size <= 128) return;
      clearInterval(poll);
      signals.emit("SIGINT");
    }, 5);
    const code = await main(["embed", dir, "--input", txt, "-o", out, "-q"], {
      stdout: { write: () => true },
      stderr: { write: (text: string) => (stderr += text) },
      env,
      signals,
    }).finally(() => clearInterval(poll));
    expect(code).toBe(130);
    const kept = statSync(`${out}.partial`).size;
    const rows = (kept - 128) / (HIDDEN * 4);
    expect(Number.isInteger(rows) && rows > 0 && rows < 3000).toBe(true);
    expect(stderr).toBe(
      `jazzmine-embed: interrupted (SIGINT); kept ${out}.partial with ${rows} vector(s): run the same command with --resume to continue\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it("usage: --resume / --format / --vector need --output; --sparse has no --output; an empty input writes nothing", async () => {
    for (const [args, message] of [
      [["x", "--resume"], "--resume goes with --output <file>"],
      [["x", "--format", "npy"], "--format goes with --output <file>"],
      [["x", "-o", "v.bin", "--format", "csv"], "--format must be one of jsonl, npy, raw, not csv"],
      [["x", "-o", "v.bin", "--sparse"], "--output writes dense vectors; --sparse prints JSON on stdout, without --output"],
    ] as const) {
      const run = await runCli(["embed", dir, ...args], { env });
      expect([run.code, run.stderr.split("\n")[0]]).toEqual([EXIT_USAGE, `jazzmine-embed: error: ${message}`]);
    }
    const empty = writeTexts([], "empty.txt");
    writeFileSync(empty, "");
    const out = join(tempDir(), "v.npy");
    expect(await runCli(["embed", dir, "--input", empty, "-o", out, "-q"], { env })).toEqual({
      code: EXIT_FAILURE,
      stdout: "",
      stderr: `jazzmine-embed: error: input file ${empty} holds no texts\n`,
    });
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
  });
});

interface Watched {
  code: number | null;
  stderr: string;
  /** Largest resident memory of the CLI and its onnxruntime worker together, sampled. */
  peakRss: number;
}

/** Runs the CLI in a child process with a watchdog that kills the tree above `capBytes` (or once `killWhen` says so). */
function watchedCli(args: string[], options: { capBytes: number; killWhen?: () => boolean }): Promise<Watched> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [...cliArgs(), ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let peakRss = 0;
    const timer = setInterval(() => {
      const rss = processTreeRss(child.pid!);
      peakRss = Math.max(peakRss, rss);
      if (rss > options.capBytes || options.killWhen?.()) for (const pid of processTree(child.pid!)) tryKill(pid);
    }, 50);
    child.on("close", (code) => {
      clearInterval(timer);
      resolve({ code, stderr, peakRss });
    });
  });
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

describe("a corpus in a real process", () => {
  it("killed mid-run, --resume gives the uninterrupted run's file", async () => {
    const txt = writeTexts(corpus(3000));
    const whole = join(tempDir(), "whole.npy");
    const cut = join(tempDir(), "cut.npy");
    const cap = 1 << 30;
    expect((await watchedCli(["embed", dir, "--input", txt, "-o", whole, "-q"], { capBytes: cap })).code).toBe(EXIT_OK);
    const rowBytes = HIDDEN * 4;
    const killed = await watchedCli(["embed", dir, "--input", txt, "-o", cut, "-q"], {
      capBytes: cap,
      killWhen: () => existsSync(`${cut}.partial`) && statSync(`${cut}.partial`).size > 800 * rowBytes,
    });
    expect(killed.code).toBe(null); // SIGKILL: no chance to tidy up
    const kept = statSync(`${cut}.partial`).size;
    expect(kept).toBeLessThan(3000 * rowBytes);
    const again = await watchedCli(["embed", dir, "--input", txt, "-o", cut, "--resume"], { capBytes: cap });
    expect(again.code, again.stderr).toBe(EXIT_OK);
    const [a, b] = [readNpy(whole), readNpy(cut)];
    expect(b.shape).toEqual(a.shape);
    expectClose(b.rows, a.rows);
  }, 120_000);

  // Printing the same 200,000 vectors as one JSON array (embed --input without --output) peaked at
  // 659 MB in the CLI process alone when this was written: the cap holds both processes under that.
  it("200,000 lines stay under a memory cap: rows are written as they come", async () => {
    const txt = writeTexts(corpus(200_000));
    const out = join(tempDir(), "v.npy");
    const run = await watchedCli(["embed", dir, "--input", txt, "-o", out, "--batch-size", "128", "-q"], { capBytes: 400 * 2 ** 20 });
    expect(run.code, `${run.stderr} (peak ${run.peakRss} bytes)`).toBe(EXIT_OK);
    expect(readNpy(out).shape).toEqual([200_000, HIDDEN]);
  }, 300_000);
});
