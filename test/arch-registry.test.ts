// model_type → template: every BERT-family and decoder type this project supports, a clear error
// listing them for any other, and each template's config parsing failing only with ConfigErrors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, ConfigReader } from "../src/arch/config.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { architectureFor, supportedModelTypes } from "../src/arch/registry.js";
import { syntheticAlbert } from "../src/fixtures/albert.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { syntheticGemma3, syntheticQwen2, syntheticQwen3 } from "../src/fixtures/decoders.js";
import { syntheticDistilBert } from "../src/fixtures/distilbert.js";
import { syntheticElectra } from "../src/fixtures/electra.js";
import { syntheticGte } from "../src/fixtures/gte.js";
import { syntheticJinaBert } from "../src/fixtures/jina-bert.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { syntheticModernBert } from "../src/fixtures/modernbert.js";
import { syntheticMpnet } from "../src/fixtures/mpnet.js";
import { syntheticNomicBert } from "../src/fixtures/nomic-bert.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { modelFolder } from "./helpers/index.js";

const SOURCE = "models/x/config.json";
const reader = (config: Record<string, unknown>) => ConfigReader.fromText(JSON.stringify(config), SOURCE);

const FIXTURES: Array<[string, SyntheticModel]> = [
  ["bert", syntheticBert()],
  ["roberta", syntheticRoberta()],
  ["distilbert", syntheticDistilBert()],
  ["electra", syntheticElectra()],
  ["albert", syntheticAlbert()],
  ["mpnet", syntheticMpnet()],
  ["jina_bert", syntheticJinaBert()],
  ["nomic_bert", syntheticNomicBert()],
  ["gte", syntheticGte()],
  ["modernbert", syntheticModernBert()],
];

/** Decoders: head_dim may differ from hidden / heads; key/value heads divide the query heads. */
const DECODER_FIXTURES: Array<[string, SyntheticModel]> = [
  ["qwen3", syntheticQwen3()],
  ["qwen2", syntheticQwen2()],
  ["gemma3_text", syntheticGemma3()],
];

describe("architecture registry", () => {
  it("supports the BERT family's and the decoders' model types", () => {
    expect(supportedModelTypes()).toEqual([
      "albert",
      "bert",
      "camembert",
      "distilbert",
      "electra",
      "gemma3_text",
      "modernbert",
      "mpnet",
      "new",
      "nomic_bert",
      "qwen2",
      "qwen3",
      "roberta",
      "xlm-roberta",
    ]);
  });

  it("an unknown model_type is one clear error listing every supported type", () => {
    const dir = modelFolder({ ...syntheticBert(), config: { ...syntheticBert().config, model_type: "gpt2" } });
    expect(() => loadEncoder(dir)).toThrow(
      `${dir}/config.json: model_type "gpt2" is not supported; supported model types: albert, bert, camembert, distilbert, electra, gemma3_text, modernbert, mpnet, new, nomic_bert, qwen2, qwen3, roberta, xlm-roberta`,
    );
  });

  for (const [name, model] of DECODER_FIXTURES) {
    it(`${name}: any field replaced by any JSON value parses to a usable config or fails with a ConfigError`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...Object.keys(model.config)), fc.jsonValue(), (key, value) => {
          try {
            const config = { ...model.config, [key]: value };
            const parsed = architectureFor(reader(config)).parseConfig(reader(config)) as unknown as Record<string, number>;
            expect(parsed.heads! % parsed.kvHeads!).toBe(0);
            expect(parsed.headDim! % 2).toBe(0);
            expect(parsed.maxSequence).toBeGreaterThanOrEqual(1);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            expect((error as Error).message).toContain(SOURCE);
          }
        }),
        { numRuns: 150 },
      );
    });
  }

  for (const [name, model] of FIXTURES) {
    it(`${name}: any field replaced by any JSON value parses to a usable config or fails with a ConfigError`, () => {
      const keys = Object.keys(model.config);
      fc.assert(
        fc.property(fc.constantFrom(...keys), fc.jsonValue(), (key, value) => {
          try {
            const config = { ...model.config, [key]: value };
            const parsed = architectureFor(reader(config)).parseConfig(reader(config));
            expect(parsed.hiddenSize % (parsed as unknown as { heads: number }).heads).toBe(0);
            expect(parsed.maxSequence).toBeGreaterThanOrEqual(1);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            expect((error as Error).message).toContain(SOURCE);
          }
        }),
        { numRuns: 150 },
      );
    });
  }

  it("template-specific config errors name the field and the fix", () => {
    const parse = (model: SyntheticModel, changes: Record<string, unknown>) => {
      const config = reader({ ...model.config, ...changes });
      return architectureFor(config).parseConfig(config);
    };
    expect(() => parse(syntheticRoberta(), { max_position_embeddings: 2 })).toThrow(
      /max_position_embeddings 2 leaves no positions after pad_token_id 1/,
    );
    expect(() => parse(syntheticDistilBert(), { n_heads: 5 })).toThrow(`${SOURCE}: dim 32 is not divisible by n_heads 5`);
    expect(() => parse(syntheticDistilBert(), { activation: "mish" })).toThrow(/"activation" is "mish"; supported values are "gelu"/);
    expect(() => parse(syntheticMpnet(), { relative_attention_num_buckets: 16 })).toThrow(
      /"relative_attention_num_buckets" is 16, expected an integer from 32/,
    );
    expect(() => parse(syntheticAlbert(), { num_hidden_groups: 0 })).toThrow(/"num_hidden_groups" is 0/);
  });

  it("defaults what each config class defaults", () => {
    const without = (model: SyntheticModel, ...keys: string[]) => {
      const config = { ...model.config };
      for (const key of keys) delete config[key];
      return architectureFor(reader(config)).parseConfig(reader(config));
    };
    expect(without(syntheticRoberta(), "pad_token_id")).toMatchObject({ padTokenId: 1, maxSequence: 128 });
    expect(without(syntheticAlbert(), "hidden_act", "num_hidden_groups", "inner_group_num")).toMatchObject({
      activation: "gelu_tanh",
      hiddenGroups: 1,
      innerGroupLayers: 1,
    });
    expect(without(syntheticElectra(), "embedding_size")).toMatchObject({ embeddingSize: 128 });
    expect(without(syntheticDistilBert(), "activation", "sinusoidal_pos_embds")).toMatchObject({
      activation: "gelu",
      sinusoidalPositions: false,
    });
    expect(without(syntheticMpnet(), "relative_attention_num_buckets", "pad_token_id")).toMatchObject({
      relativeBuckets: 32,
      padTokenId: 1,
    });
  });
});
