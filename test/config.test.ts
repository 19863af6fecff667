// config.json parsing: typed access with one-line errors, and hostile input never escapes as
// anything but a ConfigError.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseBertConfig } from "../src/arch/bert.js";
import { ConfigError, ConfigReader } from "../src/arch/config.js";
import { architectureFor, supportedModelTypes } from "../src/arch/registry.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { folderFiles } from "../src/common/node-files.js";

const SOURCE = "models/x/config.json";
const valid = () => ({ ...syntheticBert().config }) as Record<string, unknown>;
const parse = (config: unknown) => parseBertConfig(ConfigReader.fromText(JSON.stringify(config), SOURCE));

/** Runs `f`; passes when it succeeds or throws a ConfigError naming the file. */
function onlyConfigErrors(f: () => unknown): void {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(SOURCE);
    expect((error as Error).message).not.toContain("\n");
  }
}

describe("ConfigReader on hostile bytes", () => {
  it("garbage bytes: a ConfigError or a JSON object, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => onlyConfigErrors(() => ConfigReader.fromBytes(bytes, SOURCE))),
      {
        numRuns: 500,
      },
    );
  });

  it("any JSON value as a whole config", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => onlyConfigErrors(() => parse(value))),
      { numRuns: 300 },
    );
  });

  it("a valid config with any field replaced by any JSON value parses or fails cleanly", () => {
    const keys = Object.keys(valid());
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue(), (key, value) => {
        const config = { ...valid(), [key]: value };
        onlyConfigErrors(() => {
          const c = parse(config);
          // whatever parsed must be usable
          expect(Number.isInteger(c.hiddenSize) && c.hiddenSize > 0).toBe(true);
          expect(c.hiddenSize % c.heads).toBe(0);
          expect(c.layerNormEps).toBeGreaterThan(0);
        });
      }),
      { numRuns: 500 },
    );
  });

  it("invalid UTF-8, non-object JSON and oversized files are named as such", () => {
    expect(() => ConfigReader.fromBytes(Uint8Array.of(0x7b, 0xff, 0x7d), SOURCE)).toThrow(/not UTF-8/);
    expect(() => ConfigReader.fromText("[1, 2]", SOURCE)).toThrow(`${SOURCE} must hold a JSON object, found [1,2]`);
    expect(() => ConfigReader.fromText("{", SOURCE)).toThrow(/not valid JSON/);
    expect(() => ConfigReader.fromBytes(new Uint8Array(5 * 1024 * 1024), SOURCE)).toThrow(/too large/);
  });

  it("a missing file says so", () => {
    expect(() => ConfigReader.fromFile(folderFiles("/nonexistent"), "config.json")).toThrow("/nonexistent/config.json does not exist");
  });
});

describe("BERT config semantics", () => {
  it("reads a bge-small-like config", () => {
    const c = parse(valid());
    expect(c).toMatchObject({
      modelType: "bert",
      hiddenSize: 32,
      heads: 4,
      layers: 2,
      activation: "gelu",
      layerNormEps: 1e-12,
      padTokenId: 0,
    });
  });

  it("defaults what transformers defaults", () => {
    const config = valid();
    delete config.hidden_act;
    delete config.layer_norm_eps;
    delete config.type_vocab_size;
    delete config.position_embedding_type;
    expect(parse(config)).toMatchObject({ activation: "gelu", layerNormEps: 1e-12, typeVocabSize: 2 });
  });

  it("maps gelu_new / gelu_pytorch_tanh to the tanh approximation", () => {
    expect(parse({ ...valid(), hidden_act: "gelu_new" }).activation).toBe("gelu_tanh");
    expect(parse({ ...valid(), hidden_act: "gelu_pytorch_tanh" }).activation).toBe("gelu_tanh");
  });

  it("names the missing field", () => {
    const config = valid();
    delete config.hidden_size;
    expect(() => parse(config)).toThrow(`${SOURCE} has no "hidden_size"`);
  });

  it("rejects heads that do not divide the hidden size", () => {
    expect(() => parse({ ...valid(), num_attention_heads: 5 })).toThrow("hidden_size 32 is not divisible by num_attention_heads 5");
  });

  it("rejects unsupported activations and position embeddings, listing what is supported", () => {
    expect(() => parse({ ...valid(), hidden_act: "mish" })).toThrow(/"hidden_act" is "mish"; supported values are "gelu"/);
    expect(() => parse({ ...valid(), position_embedding_type: "relative_key" })).toThrow(/supported values are "absolute"/);
  });

  it("rejects non-integer and negative sizes", () => {
    expect(() => parse({ ...valid(), num_hidden_layers: 2.5 })).toThrow(/"num_hidden_layers" is 2.5, expected an integer/);
    expect(() => parse({ ...valid(), vocab_size: -3 })).toThrow(/"vocab_size" is -3/);
  });

  it("unknown model_type lists the supported ones", () => {
    const reader = ConfigReader.fromText(JSON.stringify({ ...valid(), model_type: "gpt2" }), SOURCE);
    expect(() => architectureFor(reader)).toThrow(
      `${SOURCE}: model_type "gpt2" is not supported; supported model types: ${supportedModelTypes().join(", ")}`,
    );
    expect(supportedModelTypes()).toContain("bert");
  });
});
