// A minimal Qwen-style byte-level BPE tokenizer.json for LLM-reranker tests: the 256 byte
// symbols, merges that make "yes" and "no" single tokens, and the chat specials (<|endoftext|>,
// <|im_start|>, <|im_end|>, <think>, </think>) as added tokens; tokenizer_config.json pads on the
// left as Qwen3-Reranker's does. Every text tokenizes (byte by byte), so the built-in pairs do too.
// (To be replaced by the shared byte-level fixture of src/fixtures/decoder-tokenizers.ts.)
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** GPT-2's bytes_to_unicode: each byte as a printable character. */
function byteSymbols(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + shifted++));
}

export const QWEN_TEST_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"] as const;

/** Writes tokenizer.json and tokenizer_config.json into `dir`; returns the vocabulary size (ids below it). */
export function writeQwenTestTokenizer(dir: string): number {
  const vocab: Record<string, number> = {};
  byteSymbols().forEach((symbol, id) => (vocab[symbol] = id));
  const merges = ["y e", "ye s", "n o"];
  for (const merge of merges) vocab[merge.replace(" ", "")] = Object.keys(vocab).length;
  const added = QWEN_TEST_SPECIALS.map((content, i) => ({
    id: Object.keys(vocab).length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: !content.includes("think"),
  }));
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      tokenizer_class: "Qwen2Tokenizer",
      pad_token: "<|endoftext|>",
      eos_token: "<|im_end|>",
      padding_side: "left",
      model_max_length: 131072,
      added_tokens_decoder: Object.fromEntries(added.map((a) => [String(a.id), a])),
    }),
  );
  return Object.keys(vocab).length + added.length;
}
