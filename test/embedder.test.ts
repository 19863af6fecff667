// Embedder: vectors equal pooling done by hand on the ONNX model's own outputs (FP32 and INT8
// files), tokenization equal to the tokenizer's with truncation to the model's limit, defaults
// from the sentence-transformers config, awkward texts, and clear errors.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { processTree } from "../src/bench/process-memory.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_TOKENIZER, BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder, EmbedderError, type PoolingMode } from "../src/runtime/embedder.js";
import { modelFolder, runInProcess, tempDir } from "./helpers/index.js";

const HIDDEN = 32;
const MAX_POSITIONS = 64;
const CLS = 101;
const SEP = 102;

const TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "",
  "Emoji 🙂🚀 and accents: café, naïve, Zürich",
  "中文句子，日本語の文、한국어 문장",
  "مرحبا بالعالم — Привет, мир",
  "word ".repeat(400), // far beyond the model's 64 positions
];

let fp32Dir: string;
let fp32Path: string;
let int8Dir: string;

beforeAll(async () => {
  // The bundled bert-base-uncased tokenizer needs its full vocabulary; 64 positions make truncation matter.
  // tokenizer_config's 512 above the graph's 64 positions: the Embedder must take the smaller limit.
  const source = modelFolder(
    syntheticBert({ seed: 41, vocab: BUNDLED_VOCAB_SIZE, hidden: HIDDEN, maxPositions: MAX_POSITIONS }),
    { modelMaxLength: 512 },
    "emb",
  );
  fp32Dir = join(tempDir(), "fp32");
  fp32Path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(fp32Dir, { quantized: false });
  int8Dir = join(tempDir(), "int8");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(int8Dir, { quantized: true });
});

const open: Embedder[] = [];
afterAll(async () => {
  for (const embedder of open.splice(0)) await embedder.close();
});

async function load(dir: string, options?: Parameters<typeof Embedder.load>[1]): Promise<Embedder> {
  const embedder = await Embedder.load(dir, options);
  open.push(embedder);
  return embedder;
}

/** Pooling written out plainly over the model's last_hidden_state for one row. */
function poolByHand(hidden: Float32Array, batch: TokenBatch, row: number, mode: PoolingMode, normalize: boolean): number[] {
  const tokens: number[][] = [];
  for (let t = 0; t < batch.sequence; t++) {
    if (batch.attentionMask[row * batch.sequence + t] === 1) {
      const start = (row * batch.sequence + t) * HIDDEN;
      tokens.push(Array.from(hidden.subarray(start, start + HIDDEN)));
    }
  }
  const columns = Array.from({ length: HIDDEN }, (_, i) => tokens.map((token) => token[i]!));
  const pooled =
    mode === "cls"
      ? Array.from(hidden.subarray(row * batch.sequence * HIDDEN, row * batch.sequence * HIDDEN + HIDDEN))
      : mode === "mean"
        ? columns.map((c) => c.reduce((a, b) => a + b, 0) / c.length)
        : columns.map((c) => Math.max(...c));
  if (!normalize) return pooled;
  const norm = Math.sqrt(pooled.reduce((a, b) => a + b * b, 0));
  return pooled.map((v) => v / norm);
}

function expectClose(actual: Float32Array, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  const worst = Math.max(...expected.map((v, i) => Math.abs(v - actual[i]!)));
  expect(worst / scale).toBeLessThanOrEqual(tolerance);
}

describe("Embedder vectors = pooling by hand on the ONNX outputs", () => {
  for (const precision of ["fp32", "int8"] as const) {
    it(`${precision}: cls, mean and max, normalized or not, batched in twos or all at once`, async () => {
      const dir = precision === "fp32" ? fp32Dir : int8Dir;
      const embedder = await load(dir);
      expect(embedder.modelPath).toMatch(precision === "fp32" ? /_fp32\.onnx$/ : /_int8_qdq\.onnx$/);
      const batch = embedder.tokenize(TEXTS);
      const { lastHiddenState } = await runInProcess(readFileSync(embedder.modelPath), batch);
      for (const mode of ["cls", "mean", "max"] as const) {
        for (const normalize of [true, false]) {
          for (const batchSize of [2, 32]) {
            const vectors = await embedder.embed(TEXTS, { pooling: mode, normalize, batchSize });
            expect(vectors).toHaveLength(TEXTS.length);
            // Batches of two pad differently from the reference batch: float noise only.
            vectors.forEach((v, row) =>
              expectClose(v, poolByHand(lastHiddenState, batch, row, mode, normalize), batchSize === 2 ? 1e-4 : 1e-5),
            );
          }
        }
      }
      const [unit] = await embedder.embed([TEXTS[0]!]);
      expect(Math.hypot(...unit!)).toBeCloseTo(1, 5);
    });
  }

  it("INT8 vectors stay close to FP32 ones (cosine)", async () => {
    const [fp32, int8] = [await load(fp32Dir), await load(int8Dir)];
    const a = await fp32.embed(TEXTS, { pooling: "mean" });
    const b = await int8.embed(TEXTS, { pooling: "mean" });
    a.forEach((v, i) => expect(v.reduce((sum, x, j) => sum + x * b[i]![j]!, 0)).toBeGreaterThan(0.95));
  });
});

describe("a graph with a sentence_embedding output", () => {
  it("is used when it pools as asked (its pooling is the default), last_hidden_state otherwise", async () => {
    const source = modelFolder(
      syntheticBert({ seed: 42, vocab: BUNDLED_VOCAB_SIZE, hidden: HIDDEN, maxPositions: MAX_POSITIONS }),
      {},
      "se",
    );
    const dir = join(tempDir(), "se");
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, {
      quantized: false,
      sentenceEmbedding: { pooling: "mean", normalize: true },
    });
    const embedder = await load(dir);
    expect(embedder.graphPooling).toEqual({ pooling: "mean", normalize: true });
    expect(embedder.pooling).toBe("mean");
    const batch = embedder.tokenize(TEXTS);
    const { lastHiddenState, sentenceEmbedding } = await runInProcess(readFileSync(embedder.modelPath), batch);
    expect(sentenceEmbedding).toBeDefined();
    const fromGraph = await embedder.embed(TEXTS);
    fromGraph.forEach((v, row) => {
      expectClose(v, poolByHand(lastHiddenState, batch, row, "mean", true), 1e-5);
      expect(Array.from(v)).toEqual(Array.from(sentenceEmbedding!.subarray(row * HIDDEN, (row + 1) * HIDDEN)));
    });
    const max = await embedder.embed(TEXTS, { pooling: "max", normalize: false });
    max.forEach((v, row) => expectClose(v, poolByHand(lastHiddenState, batch, row, "max", false), 1e-5));
  });
});

describe("tokenization", () => {
  it("equals the tokenizer's ids; truncates to the model's limit keeping [CLS] … [SEP]; pads per batch", async () => {
    const embedder = await load(fp32Dir);
    expect(embedder.maxLength).toBe(MAX_POSITIONS); // from the graph's metadata, below tokenizer_config's 512
    const tokenizer = new Tokenizer(JSON.parse(readFileSync(BUNDLED_TOKENIZER, "utf8")), {});
    const batch = embedder.tokenize(TEXTS);
    expect(batch.sequence).toBe(MAX_POSITIONS);
    TEXTS.forEach((text, row) => {
      const ids = Array.from(batch.inputIds.subarray(row * batch.sequence, (row + 1) * batch.sequence));
      const length = batch.attentionMask.subarray(row * batch.sequence, (row + 1) * batch.sequence).reduce((a, b) => a + b, 0);
      const expected = tokenizer.encode(text).ids;
      if (expected.length <= MAX_POSITIONS) {
        expect(ids.slice(0, length)).toEqual(expected);
      } else {
        expect(length).toBe(MAX_POSITIONS);
        expect(ids).toEqual([...expected.slice(0, MAX_POSITIONS - 1), SEP]);
      }
      expect(ids.slice(length).every((id) => id === 0)).toBe(true); // [PAD]
    });
    expect(Array.from(embedder.tokenize([""]).inputIds)).toEqual([CLS, SEP]);
    const short = await load(fp32Dir, { maxLength: 8 });
    expect(Array.from(short.tokenize([TEXTS[0]!]).inputIds)).toEqual([...tokenizer.encode(TEXTS[0]!).ids.slice(0, 7), SEP]);
    expect(await embedder.embed([])).toEqual([]);
    expect(embedder.tokenize([])).toMatchObject({ batch: 0, sequence: 1 });
  });
});

describe("defaults from the folder", () => {
  it("pooling from sentence-transformers' modules.json; CLS without it", async () => {
    const dir = join(tempDir(), "st");
    mkdirSync(join(dir, "1_Pooling"), { recursive: true });
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(fp32Dir, file), join(dir, file));
    copyFileSync(fp32Path, join(dir, "emb_fp32.onnx"));
    writeFileSync(
      join(dir, "modules.json"),
      JSON.stringify([
        { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
        { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      ]),
    );
    writeFileSync(join(dir, "1_Pooling", "config.json"), JSON.stringify({ pooling_mode_mean_tokens: true }));
    writeFileSync(join(dir, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: 16 }));
    const st = await load(dir);
    expect(st.pooling).toBe("mean");
    expect(st.maxLength).toBe(16);
    const plain = await load(fp32Dir);
    expect(plain.pooling).toBe("cls");
    const [fromSt] = await st.embed([TEXTS[0]!]);
    const [explicitMean] = await (await load(fp32Dir, { maxLength: 16 })).embed([TEXTS[0]!], { pooling: "mean" });
    expect(Array.from(fromSt!)).toEqual(Array.from(explicitMean!));

    writeFileSync(
      join(dir, "modules.json"),
      JSON.stringify([
        { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
        { idx: 2, name: "2", path: "2_Dense", type: "sentence_transformers.models.Dense" },
      ]),
    );
    mkdirSync(join(dir, "2_Dense"), { recursive: true });
    writeFileSync(
      join(dir, "2_Dense", "config.json"),
      JSON.stringify({ in_features: 32, out_features: 8, bias: false, activation_function: "torch.nn.modules.linear.Identity" }),
    );
    await expect(Embedder.load(dir)).rejects.toThrow(/has Dense after pooling, which the ONNX model does not include/);
  });

  it("picks the INT8 file when both precisions are there; clear errors otherwise", async () => {
    const both = join(tempDir(), "both");
    mkdirSync(both);
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(fp32Dir, file), join(both, file));
    copyFileSync(fp32Path, join(both, "m_fp32.onnx"));
    copyFileSync(join(int8Dir, "emb_int8_qdq.onnx"), join(both, "m_int8_qdq.onnx"));
    expect((await load(both)).modelPath).toBe(join(both, "m_int8_qdq.onnx"));
    expect((await load(both, { file: "m_fp32.onnx" })).modelPath).toBe(join(both, "m_fp32.onnx"));
    copyFileSync(join(int8Dir, "emb_int8_qdq.onnx"), join(both, "other_int8_qdq.onnx"));
    await expect(Embedder.load(both)).rejects.toThrow(
      /several ONNX files \(m_fp32\.onnx, m_int8_qdq\.onnx, other_int8_qdq\.onnx\); choose one with \{ file \}/,
    );

    // A dynamic INT8 export is the INT8 file too (the choice goes by name; the QDQ bytes serve).
    const dynamic = join(tempDir(), "dynamic");
    mkdirSync(dynamic);
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(fp32Dir, file), join(dynamic, file));
    copyFileSync(fp32Path, join(dynamic, "m_fp32.onnx"));
    copyFileSync(join(int8Dir, "emb_int8_qdq.onnx"), join(dynamic, "m_int8_dynamic.onnx"));
    expect((await load(dynamic)).modelPath).toBe(join(dynamic, "m_int8_dynamic.onnx"));
    copyFileSync(join(int8Dir, "emb_int8_qdq.onnx"), join(dynamic, "m_int8_qdq.onnx"));
    await expect(Embedder.load(dynamic)).rejects.toThrow(
      /several ONNX files \(m_fp32\.onnx, m_int8_dynamic\.onnx, m_int8_qdq\.onnx\); choose one with \{ file \}/,
    );

    await expect(Embedder.load(tempDir())).rejects.toThrow(/holds no \.onnx file; export a model into it first/);
    await expect(Embedder.load(fp32Dir, { maxLength: 1000 })).rejects.toThrow(`maxLength 1000 exceeds the ${MAX_POSITIONS} tokens`);
    const embedder = await load(fp32Dir);
    await expect(embedder.embed(["x"], { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    await expect(embedder.embed(["x"], { pooling: "sum" as PoolingMode })).rejects.toThrow(/pooling must be one of cls, mean, max/);
  });
});

describe("embed() input", () => {
  it("a string gives its one vector, the same as in an array", async () => {
    const embedder = await load(fp32Dir);
    const single = await embedder.embed(TEXTS[0]!);
    expect(single).toBeInstanceOf(Float32Array);
    const [inArray] = await embedder.embed([TEXTS[0]!, TEXTS[2]!]);
    expect(Array.from(single)).toEqual(Array.from(inArray!));
    expect((await embedder.embed("", { pooling: "mean" })).length).toBe(HIDDEN);
  });

  it("anything else is an EmbedderError naming what was passed", async () => {
    const embedder = await load(fp32Dir);
    const embedAny = (input: unknown) => embedder.embed(input as string[]);
    const cases: Array<[unknown, RegExp]> = [
      [42, /embed\(\) takes a string or an array of strings, not a number \(42\)/],
      [undefined, /not undefined$/],
      [null, /not null$/],
      [new Set(["a"]), /not a Set$/],
      [{ text: "a" }, /not an object$/],
      [["a", 7], /embed\(\) takes strings, but texts\[1\] is a number \(7\)/],
      [["a", undefined], /texts\[1\] is undefined/],
    ];
    for (const [input, message] of cases) {
      const error = await embedAny(input).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmbedderError);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe("where onnxruntime runs", () => {
  const workers = () => processTree(process.pid).filter((pid) => /session-worker/.test(commandLine(pid)));

  it("in a child process by default; { isolated: false } in this one, with the same vectors", async () => {
    const before = workers().length;
    const isolated = await load(fp32Dir);
    expect(workers().length).toBe(before + 1);
    const inProcess = await load(fp32Dir, { isolated: false });
    expect(workers().length).toBe(before + 1);
    const [a, b] = await Promise.all([isolated.embed(TEXTS), inProcess.embed(TEXTS)]);
    expect(a.map((v) => Array.from(v))).toEqual(b.map((v) => Array.from(v)));
  });

  it("the child keeps no process alive that never closed its Embedder", async () => {
    const script = join(tempDir(), "unclosed.mts");
    const embedderModule = pathToFileURL(join(import.meta.dirname, "..", "src", "runtime", "embedder.ts")).href;
    writeFileSync(
      script,
      `const { Embedder } = await import(${JSON.stringify(embedderModule)});\n` +
        `const embedder = await Embedder.load(${JSON.stringify(fp32Dir)});\n` +
        `process.stdout.write(String((await embedder.embed("hello")).length));\n`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: join(import.meta.dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    // A hang is the defect: the process is stopped after a generous minute and the test fails.
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((done) => child.once("exit", (c, s) => done([c, s])));
    clearTimeout(killer);
    expect({ code, signal, output }).toEqual({ code: 0, signal: null, output: String(HIDDEN) });
  }, 90_000);
});

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}
