// The synthetic folders' tokenizer_config.json is the Hub's kind: special tokens by name (other
// runtimes pad and add them from it), added_tokens_decoder matching tokenizer.json, and a
// model_max_length that fits the config's position table.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_TOKENIZER } from "../src/fixtures/model-folder.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { modelFolder } from "./helpers/index.js";

function tokenizerConfigOf(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
}

describe("fixture tokenizer_config.json", () => {
  it("names the special tokens the tokenizer has, with their ids in added_tokens_decoder", () => {
    const config = tokenizerConfigOf(modelFolder(syntheticBert({ maxPositions: 64 })));
    const tokenizer = new Tokenizer(JSON.parse(readFileSync(BUNDLED_TOKENIZER, "utf8")), {});
    const decoder = config.added_tokens_decoder as Record<string, { content: string; special: boolean }>;
    const expectedIds = { pad_token: 0, unk_token: 100, cls_token: 101, sep_token: 102, mask_token: 103 };
    for (const [key, id] of Object.entries(expectedIds)) {
      const token = config[key] as string;
      expect(tokenizer.token_to_id(token)).toBe(id);
      expect(decoder[String(id)]).toMatchObject({ content: token, special: true });
    }
    expect(Object.keys(decoder).sort()).toEqual(["0", "100", "101", "102", "103"]);
    expect(config).toMatchObject({ tokenizer_class: "BertTokenizer", do_lower_case: true, model_max_length: 64 });
  });

  it("model_max_length: the positions a text may use (XLM-R's start after padding), or as asked", () => {
    expect(tokenizerConfigOf(modelFolder(syntheticRoberta({ modelType: "xlm-roberta", maxPositions: 130 }))).model_max_length).toBe(128);
    expect(tokenizerConfigOf(modelFolder(syntheticBert({ maxPositions: 64 }), { modelMaxLength: 512 })).model_max_length).toBe(512);
  });
});
