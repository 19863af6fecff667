// Prompts and padding side through a real export: a BERT encoder given Qwen3-Embedding's tokenizer
// files (left padding, <|endoftext|> appended) and its config_sentence_transformers.json prompts.
// The prompts travel in the graph's metadata and beside it; embed() puts a prompt before each
// text exactly as sentence-transformers does (prompt + text); batches are padded on the side
// tokenizer_config.json names.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ModelPrompts, readPrompts, resolvePrompt } from "../src/arch/prompts.js";
import { EXIT_OK, EXIT_USAGE } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { QWEN3_EMBEDDING_PROMPTS, writeQwenTokenizerFiles, writeSentenceTransformersPrompts } from "../src/fixtures/decoder-tokenizers.js";
import { readOnnxMetadata } from "../src/ort/onnx-metadata.js";
import { Embedder, EmbedderError } from "../src/runtime/embedder.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";
import { folderFiles } from "../src/common/node-files.js";

const QUERY = QWEN3_EMBEDDING_PROMPTS.query!;
const TEXTS = ["yes", "What is the capital of France?", "A somewhat longer passage about rotary position embeddings."];
const env = { ...process.env, JAZZMINE_DEBUG: "" };

let source: string;
let dir: string;
let modelPath: string;
let embedder: Embedder;
let endOfText: number;

beforeAll(async () => {
  source = modelFolder(syntheticBert({ seed: 23, vocab: 700, hidden: 32, maxPositions: 64 }), { tokenizer: false }, "prompted");
  endOfText = writeQwenTokenizerFiles(source, { modelMaxLength: 64 }).endOfTextTokenId;
  writeSentenceTransformersPrompts(source, QWEN3_EMBEDDING_PROMPTS);
  dir = join(tempDir(), "exported");
  modelPath = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
  embedder = await Embedder.load(dir);
});

afterAll(async () => {
  await embedder?.close();
});

const asArrays = (vectors: Float32Array[]) => vectors.map((v) => Array.from(v));

describe("prompts travel with the export", () => {
  it("are in the graph's metadata and config_sentence_transformers.json beside it", () => {
    expect(JSON.parse(readOnnxMetadata(modelPath).prompts!)).toEqual({ prompts: QWEN3_EMBEDDING_PROMPTS, default_prompt_name: null });
    expect(existsSync(join(dir, "config_sentence_transformers.json"))).toBe(true);
    expect(readPrompts(folderFiles(dir))).toEqual({ prompts: QWEN3_EMBEDDING_PROMPTS });
    expect(
      JSON.parse(readFileSync(join(dir, "export_manifest.json"), "utf8")).exports[0].files.map((f: { path: string }) => f.path),
    ).toContain("config_sentence_transformers.json");
    expect(embedder.prompts).toEqual({ prompts: QWEN3_EMBEDDING_PROMPTS });
  });

  it("a default_prompt_name that is not among the prompts is refused, naming the file", () => {
    const folder = tempDir();
    writeSentenceTransformersPrompts(folder, { query: "q: " }, "passage");
    expect(() => readPrompts(folderFiles(folder))).toThrow(
      /config_sentence_transformers\.json: default_prompt_name "passage" is not among its prompts \("query"\)/,
    );
  });
});

describe("Embedder prompts", () => {
  it("{ prompt } puts the named prompt before each text: prompt + text, as sentence-transformers", async () => {
    const { tokenizer } = loadTokenizer(dir);
    const batch = embedder.tokenize(["Paris"], { prompt: "query" });
    expect([...batch.inputIds]).toEqual(tokenizer.encode(`${QUERY}Paris`).ids);
    const prompted = asArrays(await embedder.embed(TEXTS, { prompt: "query" }));
    expect(prompted).toEqual(asArrays(await embedder.embed(TEXTS.map((t) => QUERY + t))));
    expect(asArrays(await embedder.embed(TEXTS, { promptText: QUERY }))).toEqual(prompted);
    // Qwen3-Embedding's document prompt is empty: documents embed as they are.
    expect(asArrays(await embedder.embed(TEXTS, { prompt: "document" }))).toEqual(asArrays(await embedder.embed(TEXTS)));
    expect(prompted[0]).not.toEqual(asArrays(await embedder.embed(TEXTS))[0]);
  });

  it("with longText chunk, the prompt leads the text once (not every window)", async () => {
    const long = "word ".repeat(120);
    const chunked = await embedder.embed([long], { prompt: "query", longText: "chunk" });
    expect(asArrays(chunked)).toEqual(asArrays(await embedder.embed([QUERY + long], { longText: "chunk" })));
  });

  it("an unknown prompt name is an error listing the model's prompts", async () => {
    await expect(embedder.embed(TEXTS, { prompt: "passage" })).rejects.toThrow(EmbedderError);
    // embedInt8 / embedBinary resolve the prompt the same way (before looking for their output).
    await expect(embedder.embedInt8(TEXTS, { prompt: "passage" })).rejects.toThrow(/prompt "passage" is not one of/);
    await expect(embedder.embed(TEXTS, { prompt: "passage" })).rejects.toThrow(
      /prompt "passage" is not one of .*'s prompts \("query", "document"\)/,
    );
  });

  it("resolves promptText over a name, then the name, then default_prompt_name, else nothing", () => {
    const model: ModelPrompts = { prompts: { query: "q: ", document: "d: " }, defaultPromptName: "document" };
    expect(resolvePrompt(model, { prompt: "query", promptText: "t: " }, "m.onnx")).toBe("t: ");
    expect(resolvePrompt(model, { promptText: "" }, "m.onnx")).toBe("");
    expect(resolvePrompt(model, { prompt: "query" }, "m.onnx")).toBe("q: ");
    expect(resolvePrompt(model, {}, "m.onnx")).toBe("d: ");
    expect(resolvePrompt({ prompts: {} }, {}, "m.onnx")).toBe("");
    expect(() => resolvePrompt({ prompts: {} }, { prompt: "query" }, "m.onnx")).toThrow(/m\.onnx's prompts \(none\)/);
  });
});

describe("embed --prompt / --prompt-text", () => {
  it("--prompt-text embeds as { promptText } does; a --prompt name the model lacks is a usage error", async () => {
    const expected = asArrays(await embedder.embed(["Paris"], { prompt: "query" }));
    const run = await runCli(["embed", dir, "Paris", "--prompt-text", QUERY, "-q"], { env });
    expect(run.code).toBe(EXIT_OK);
    const actual = JSON.parse(run.stdout) as number[][];
    expect(Math.max(...actual[0]!.map((v, j) => Math.abs(v - expected[0]![j]!)))).toBeLessThan(1e-6);
    const unknown = await runCli(["embed", dir, "Paris", "--prompt", "passage"], { env });
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.stderr).toMatch(/prompt "passage" is not one of .*'s prompts \("query", "document"\)/);
  });
});

describe("padding side", () => {
  it("tokenizer_config.json's padding_side left: padding before the tokens, <|endoftext|> last in every row", () => {
    const batch = embedder.tokenize(TEXTS);
    for (let row = 0; row < batch.batch; row++) {
      const ids = [...batch.inputIds.subarray(row * batch.sequence, (row + 1) * batch.sequence)];
      const mask = [...batch.attentionMask.subarray(row * batch.sequence, (row + 1) * batch.sequence)];
      const real = mask.filter(Boolean).length;
      expect(mask).toEqual([...new Array(batch.sequence - real).fill(0), ...new Array(real).fill(1)]);
      expect(ids.at(-1)).toBe(endOfText);
    }
    expect(batch.attentionMask[0]).toBe(0); // the shortest text ("yes") is padded, on the left
    // Truncation keeps the appended token, as the tokenizer's own truncation does.
    const long = embedder.tokenize(["word ".repeat(200)]);
    expect([long.sequence, long.inputIds.at(-1)]).toEqual([64, endOfText]);
  });
});
