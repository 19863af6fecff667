// The decoder fixtures' tokenizers are laid out as Qwen3-Embedding / Qwen3-Reranker and
// EmbeddingGemma publish theirs, and @huggingface/tokenizers (what the runtimes use) encodes with
// them as with the real ones: Qwen's pre-tokenizer split and byte-level symbols (checked against
// an independent BPE here), <|endoftext|> appended; Gemma's <bos> … <eos> with byte fallback.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkTokenizerFiles } from "../src/artifact/tokenizer-files.js";
import { loadTokenizer } from "../src/artifact/tokenizer-folder.js";
import {
  QWEN_SPLIT_PATTERN,
  applyMerges,
  byteLevelPieces,
  mergeRanks,
  qwenVocabulary,
  writeGemmaTokenizerFiles,
  writeQwenTokenizerFiles,
} from "../src/fixtures/decoder-tokenizers.js";
import { tempDir } from "./helpers/index.js";
import { folderFiles } from "../src/common/node-files.js";

const readJson = (dir: string, file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, any>;

const qwenDir = tempDir();
const qwen = writeQwenTokenizerFiles(qwenDir);
const qwenTokenizer = loadTokenizer(qwenDir).tokenizer;
const gemmaDir = tempDir();
const gemma = writeGemmaTokenizerFiles(gemmaDir);
const gemmaTokenizer = loadTokenizer(gemmaDir).tokenizer;

/** Ids an independent byte-level BPE gives: the pieces of Qwen's split, each merged by rank. */
function referenceQwenIds(text: string): number[] {
  const { vocab, merges } = qwenVocabulary();
  const ranks = mergeRanks(merges);
  return byteLevelPieces(text).flatMap((piece) => applyMerges(Array.from(piece), ranks).map((token) => vocab.get(token)!));
}

/** Any Unicode scalar value (no lone surrogates: a JavaScript string that is not valid text). */
const anyCharacter = fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((n) => String.fromCodePoint(n < 0xd800 ? n : n + 0x800));

const TEXTS = [
  "Hello world",
  "it's 12345 apples, isn't it?",
  "café naïve 👋 — done.\n\nNext line\ttab",
  "   leading spaces and trailing   ",
  "How do I reset my router password",
];

describe("Qwen tokenizer fixture (Qwen3-Embedding-0.6B layout)", () => {
  it("has the published files and settings: Split regex + ByteLevel, <|endoftext|> appended, left padding", () => {
    expect(qwen.files.sort()).toEqual(["merges.txt", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"]);
    const json = readJson(qwenDir, "tokenizer.json");
    expect(json.normalizer).toEqual({ type: "NFC" });
    expect(json.pre_tokenizer.pretokenizers[0]).toEqual({
      type: "Split",
      pattern: { Regex: QWEN_SPLIT_PATTERN },
      behavior: "Isolated",
      invert: false,
    });
    expect(json.pre_tokenizer.pretokenizers[1]).toMatchObject({ type: "ByteLevel", add_prefix_space: false, use_regex: false });
    expect(json.post_processor.type).toBe("TemplateProcessing");
    expect(json.model).toMatchObject({ type: "BPE", byte_fallback: false, unk_token: null });
    const config = readJson(qwenDir, "tokenizer_config.json");
    expect(config).toMatchObject({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", padding_side: "left", bos_token: null });
    for (const token of json.added_tokens)
      expect(config.added_tokens_decoder[String(token.id)]).toMatchObject({ content: token.content, special: token.special });
    // The slow-tokenizer files agree with tokenizer.json.
    expect(readJson(qwenDir, "vocab.json")).toEqual(json.model.vocab);
    const mergeLines = readFileSync(join(qwenDir, "merges.txt"), "utf8").trim().split("\n");
    expect(mergeLines[0]).toBe("#version: 0.2");
    expect(mergeLines.slice(1)).toEqual(json.model.merges.map((m: string[]) => m.join(" ")));
    // The 256 byte symbols first, as in Qwen's vocabulary; the specials right after the merges.
    const byteSymbols = Object.entries(json.model.vocab as Record<string, number>).filter(([, id]) => id < 256);
    expect(byteSymbols.map(([token]) => Array.from(token).length)).toEqual(new Array(256).fill(1));
    expect(json.model.vocab["!"]).toBe(0);
    expect(json.model.vocab["Ġ"]).toBe(220);
    expect(qwen.endOfTextTokenId).toBe(Object.keys(json.model.vocab).length);
    expect([qwen.imStartTokenId, qwen.imEndTokenId]).toEqual([qwen.endOfTextTokenId + 1, qwen.endOfTextTokenId + 2]);
    expect(qwen).toMatchObject({
      padTokenId: qwen.endOfTextTokenId,
      eosTokenId: qwen.imEndTokenId,
      appendedTokenIds: [qwen.endOfTextTokenId],
    });
    // An export checks the model's vocab_size against the highest id: vocabSize covers it.
    expect(checkTokenizerFiles(folderFiles(qwenDir))!.id).toBe(qwen.vocabSize - 1);
  });

  it("encodes as byte-level BPE over Qwen's split, <|endoftext|> last", () => {
    for (const text of TEXTS) {
      expect(qwenTokenizer.encode(text).ids).toEqual([...referenceQwenIds(text), qwen.endOfTextTokenId]);
      expect(qwenTokenizer.encode(text, { add_special_tokens: false }).ids).toEqual(referenceQwenIds(text));
    }
    // Digits one at a time, contractions split off, a space leads the next word (Ġ).
    expect(qwenTokenizer.encode("12345", { add_special_tokens: false }).tokens).toEqual(["1", "2", "3", "4", "5"]);
    expect(qwenTokenizer.encode("it's", { add_special_tokens: false }).tokens).toEqual(["it", "'s"]);
    expect(qwenTokenizer.encode("Hello world", { add_special_tokens: false }).tokens.join("")).toBe("HelloĠworld");
    // An emoji is its four UTF-8 bytes' symbols, merged or not.
    expect(qwenTokenizer.encode("👋", { add_special_tokens: false }).tokens.join("")).toBe("ðŁĳĭ");
    // Special tokens in the text are kept whole.
    expect(qwenTokenizer.encode("<|im_start|>user", { add_special_tokens: false }).ids[0]).toBe(qwen.imStartTokenId);
  });

  it('"yes" and "no" are single tokens; the reranker layout appends nothing', () => {
    expect(qwenTokenizer.encode("yes", { add_special_tokens: false }).ids).toEqual([qwen.yesTokenId]);
    expect(qwenTokenizer.encode("no", { add_special_tokens: false }).ids).toEqual([qwen.noTokenId]);
    expect(qwen.yesTokenId).not.toBe(qwen.noTokenId);
    const rerankerDir = tempDir();
    const reranker = writeQwenTokenizerFiles(rerankerDir, { appendEndOfText: false });
    expect(readJson(rerankerDir, "tokenizer.json").post_processor.type).toBe("ByteLevel");
    expect(reranker.appendedTokenIds).toEqual([]);
    expect(loadTokenizer(rerankerDir).tokenizer.encode("yes").ids).toEqual([reranker.yesTokenId]);
  });

  it("round-trips any unicode text (NFC) through encode → decode", () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.oneof(anyCharacter, fc.constantFrom(" ", "\n", "'s", "1", "yes")),
        }),
        (text) => {
          const ids = qwenTokenizer.encode(text).ids;
          expect(ids.at(-1)).toBe(qwen.endOfTextTokenId);
          expect(qwenTokenizer.decode(ids, { skip_special_tokens: true })).toBe(text.normalize("NFC"));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("Gemma tokenizer fixture (EmbeddingGemma-300m layout)", () => {
  it("has the published files and settings: ▁ for spaces, byte fallback, <bos> … <eos>", () => {
    expect(gemma.files.sort()).toEqual(["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    const json = readJson(gemmaDir, "tokenizer.json");
    expect(json.model).toMatchObject({ type: "BPE", byte_fallback: true, unk_token: "<unk>", fuse_unk: true });
    expect(json.normalizer).toEqual({ type: "Replace", pattern: { String: " " }, content: "▁" });
    expect(json.pre_tokenizer).toBeNull();
    expect(json.model.vocab["<0x00>"]).toBeDefined();
    expect(json.model.vocab["<0xFF>"]).toBe(json.model.vocab["<0x00>"] + 255);
    expect(gemma).toMatchObject({
      padTokenId: 0,
      eosTokenId: 1,
      bosTokenId: 2,
      prependedTokenIds: [2],
      appendedTokenIds: [1],
      paddingSide: "right",
    });
    expect(readJson(gemmaDir, "tokenizer_config.json")).toMatchObject({
      bos_token: "<bos>",
      eos_token: "<eos>",
      pad_token: "<pad>",
      padding_side: "right",
    });
    expect(checkTokenizerFiles(folderFiles(gemmaDir))!.id).toBe(gemma.vocabSize - 1);
  });

  it("wraps a text in <bos> … <eos>; an emoji falls back to its UTF-8 bytes", () => {
    const hello = gemmaTokenizer.encode("Hello world");
    expect(hello.ids[0]).toBe(2);
    expect(hello.ids.at(-1)).toBe(1);
    expect(hello.tokens.slice(1, -1).join("")).toBe("Hello▁world");
    const wave = gemmaTokenizer.encode("hi 👋", { add_special_tokens: false }).tokens;
    expect(wave.slice(-4)).toEqual(["<0xF0>", "<0x9F>", "<0x91>", "<0x8B>"]);
    expect(gemmaTokenizer.decode(gemmaTokenizer.encode("hi 👋").ids, { skip_special_tokens: true })).toBe("hi 👋");
    const noEos = tempDir();
    writeGemmaTokenizerFiles(noEos, { appendEos: false });
    expect(loadTokenizer(noEos).tokenizer.encode("hi").ids.at(-1)).not.toBe(1);
  });

  it("round-trips any unicode text through encode → decode", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.oneof(anyCharacter, fc.constantFrom(" ", "  ", "\n", "the")) }).filter((t) => !t.includes("▁")),
        (text) => {
          const ids = gemmaTokenizer.encode(text).ids;
          expect([ids[0], ids.at(-1)]).toEqual([2, 1]);
          expect(gemmaTokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("tokenizer_config.json's add_bos_token / add_eos_token (Llama and Gemma tokenizer classes)", () => {
  /** A Gemma folder whose tokenizer.json adds only <bos>, its tokenizer_config.json edited. */
  function gemmaFolder(edit: Record<string, unknown>): string {
    const dir = tempDir();
    writeGemmaTokenizerFiles(dir, { appendEos: false });
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...readJson(dir, "tokenizer_config.json"), ...edit }));
    return dir;
  }

  it("decide the template over tokenizer.json's, as transformers' fast tokenizer builds it (e5-mistral: <s> … </s>)", () => {
    const both = loadTokenizer(gemmaFolder({ add_eos_token: true })).tokenizer;
    const ids = both.encode("hi").ids;
    expect([ids[0], ids.at(-1)]).toEqual([2, 1]);
    expect(both.encode("hi", { text_pair: "yo" }).ids.filter((id: number) => id === 2 || id === 1)).toEqual([2, 1, 2, 1]);
    const neither = loadTokenizer(gemmaFolder({ add_bos_token: false, tokenizer_class: "LlamaTokenizerFast" })).tokenizer;
    expect(neither.encode("hi").ids).toEqual(neither.encode("hi", { add_special_tokens: false }).ids);
  });

  it("other classes keep tokenizer.json's template (Qwen2Tokenizer has no add_eos_token)", () => {
    const dir = tempDir();
    writeQwenTokenizerFiles(dir, { appendEndOfText: false });
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...readJson(dir, "tokenizer_config.json"), add_eos_token: true }));
    const tokenizer = loadTokenizer(dir).tokenizer;
    expect(tokenizer.encode("yes").ids).toEqual(tokenizer.encode("yes", { add_special_tokens: false }).ids);
  });

  it("a flag whose token is missing is an error naming the file", () => {
    expect(() => loadTokenizer(gemmaFolder({ add_eos_token: true, eos_token: "</s>" }))).toThrow(
      /tokenizer_config\.json sets add_eos_token but its eos_token "<\/s>" is not in tokenizer\.json; fix the file/,
    );
  });
});
