// Long texts in the Embedder: batches bounded by a padded-token budget (maxBatchTokens), and
// texts beyond maxLength chunked into windows that keep the special tokens (longText "chunk",
// stride), one vector per window plus their mean — checked against embedding each window's
// words directly.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { batchByLength } from "../src/quant/tokenize.js";
import { Embedder } from "../src/runtime/embedder.js";
import { chunkIds, meanVector } from "../src/runtime/long-text.js";
import { modelFolder, tempDir } from "./helpers/index.js";

// Each is one token of the bundled bert-base-uncased vocabulary (checked below).
const WORDS = [
  "the",
  "of",
  "and",
  "in",
  "to",
  "was",
  "is",
  "for",
  "on",
  "as",
  "with",
  "by",
  "he",
  "it",
  "at",
  "from",
  "his",
  "an",
  "were",
  "are",
];
const TEXT = WORDS.join(" ");
/** maxLength 8 = [CLS] + 6 text tokens + [SEP]. */
const MAX_LENGTH = 8;
const WINDOW = 6;

let dir: string;
const open: Embedder[] = [];
beforeAll(async () => {
  const source = modelFolder(syntheticBert({ seed: 61, vocab: BUNDLED_VOCAB_SIZE, hidden: 32, maxPositions: 64 }), {}, "long-text");
  dir = join(tempDir(), "fp32");
  await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
});
afterAll(async () => {
  for (const embedder of open.splice(0)) await embedder.close();
});

async function load(maxLength?: number): Promise<Embedder> {
  const embedder = await Embedder.load(dir, maxLength ? { maxLength } : {});
  open.push(embedder);
  return embedder;
}

const close = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
};

describe("chunking token ids", () => {
  it("windows keep [CLS] and [SEP], hold maxLength − 2 text tokens and share `stride` of them", () => {
    const ids = [101, ...Array.from({ length: 10 }, (_, i) => i + 1), 102];
    expect(chunkIds(ids, 6, { prefix: 1, suffix: 1 }, 1)).toEqual([
      [101, 1, 2, 3, 4, 102],
      [101, 4, 5, 6, 7, 102],
      [101, 7, 8, 9, 10, 102],
    ]);
    expect(chunkIds(ids, 12, { prefix: 1, suffix: 1 }, 0)).toEqual([ids]);
  });

  it("the mean of unit vectors, renormalized", () => {
    expect(Array.from(meanVector([Float32Array.of(1, 0), Float32Array.of(0, 1)], true))).toEqual([
      Math.fround(Math.SQRT1_2),
      Math.fround(Math.SQRT1_2),
    ]);
    expect(Array.from(meanVector([Float32Array.of(1, 0), Float32Array.of(0, 1)], false))).toEqual([0.5, 0.5]);
  });
});

describe("batches within a token budget", () => {
  it("rows × longest row stays within maxTokens; a longer sequence runs alone", () => {
    const lengths = [10, 3, 30, 1, 10, 4];
    const batches = batchByLength(
      lengths.map((n) => new Array<number>(n).fill(7)),
      8,
      0,
      20,
    );
    expect(batches.map((b) => b.rows.map((i) => lengths[i]))).toEqual([[1, 3, 4], [10, 10], [30]]);
    expect(batches.map((b) => [b.batch.batch, b.batch.sequence])).toEqual([
      [3, 4],
      [2, 10],
      [1, 30],
    ]);
  });

  it("the Embedder's vectors do not depend on the budget", async () => {
    const embedder = await load();
    const texts = ["short", TEXT, "a somewhat longer sentence than the first one", "x", `${TEXT} ${TEXT}`];
    const wide = await embedder.embed(texts);
    const narrow = await embedder.embed(texts, { maxBatchTokens: 16 });
    wide.forEach((v, i) => close(narrow[i]!, v));
  });
});

describe('longText: "chunk"', () => {
  it("one vector per window, each what embedding the window's words gives, and their mean", async () => {
    const embedder = await load(MAX_LENGTH);
    expect(embedder.tokenize([TEXT]).sequence).toBe(MAX_LENGTH); // truncated: the words are one token each
    expect((await load()).tokenize([TEXT]).sequence).toBe(WORDS.length + 2);
    const [chunked] = await embedder.embedChunks([TEXT], { stride: 2 });
    // Windows of 6 words starting every 4: 0, 4, 8, 12, 16 (the last one shorter).
    const starts = [0, 4, 8, 12, 16];
    expect(chunked!.chunks.length).toBe(starts.length);
    const direct = await embedder.embed(starts.map((s) => WORDS.slice(s, s + WINDOW).join(" ")));
    chunked!.chunks.forEach((v, i) => close(v, direct[i]!));
    close(chunked!.mean, meanVector(direct, true));
    close(await embedder.embed(TEXT, { longText: "chunk", stride: 2 }), chunked!.mean);
    // The default truncates: the first window.
    close(await embedder.embed(TEXT), direct[0]!);
  });

  it("a text that fits is one chunk, its own vector", async () => {
    const embedder = await load(MAX_LENGTH);
    const [chunked] = await embedder.embedChunks(["the of and"]);
    expect(chunked!.chunks.length).toBe(1);
    close(chunked!.chunks[0]!, await embedder.embed("the of and"));
    close(chunked!.mean, chunked!.chunks[0]!);
  });

  it("bad options: one clear error naming the option and its valid values", async () => {
    const embedder = await load(MAX_LENGTH);
    await expect(embedder.embed(TEXT, { maxBatchTokens: 0 })).rejects.toThrow(/maxBatchTokens must be a positive integer/);
    await expect(embedder.embed(TEXT, { longText: "chunk", stride: WINDOW })).rejects.toThrow(
      /stride must be an integer from 0 to 5 \(a window holds 6 text tokens\)/,
    );
    await expect(embedder.embed(TEXT, { stride: 2 })).rejects.toThrow(/stride applies to longText: "chunk" only/);
    await expect(embedder.embed(TEXT, { longText: "split" as never })).rejects.toThrow(/longText must be one of truncate, chunk/);
  });
});
