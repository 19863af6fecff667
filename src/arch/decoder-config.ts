// Config fields the decoder templates (Qwen3, Qwen2, Gemma 3) read alike: the head layout
// (head_dim may differ from hidden / heads; fewer key/value heads under grouped-query attention)
// and the rotary settings in either form transformers has written — rope_theta with rope_scaling
// (≤ 4.5x), or rope_parameters (≥ 5, one section per layer type where layers differ).
import type { ConfigReader } from "./config.js";
import { type RotarySpec, ropeInverseFrequencies } from "./positions.js";

export interface HeadShape {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** num_attention_heads, num_key_value_heads (default: the heads) and head_dim (default: hidden / heads). */
export function readHeadShape(c: ConfigReader, hiddenSize: number): HeadShape {
  const heads = c.int("num_attention_heads", { min: 1 });
  const kvHeads = c.int("num_key_value_heads", { min: 1, fallback: heads });
  if (heads % kvHeads !== 0) throw c.fail(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  if (!c.has("head_dim") && hiddenSize % heads !== 0) {
    throw c.fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${heads} and there is no head_dim`);
  }
  const headDim = c.int("head_dim", { min: 2, fallback: hiddenSize / heads });
  if (headDim % 2 !== 0) throw c.fail(`head_dim ${headDim} must be even for rotary positions`);
  return { heads, kvHeads, headDim };
}

/** rope_scaling / rope_parameters types whose frequencies this project computes. */
const ROPE_TYPES = ["default", "linear"] as const;

/**
 * Rotary frequencies over `headDim` features: `theta` when no section says otherwise. `section` is
 * the rope_parameters entry (or the legacy rope_scaling object) that applies; "linear" divides
 * every frequency by its factor (positions / factor), as transformers' linear scaling does.
 */
export function readRotary(section: ConfigReader | undefined, theta: number, headDim: number): RotarySpec {
  const type = section ? readRopeType(section) : "default";
  const base = section?.has("rope_theta") ? section.positive("rope_theta") : theta;
  const frequencies = ropeInverseFrequencies(base, headDim);
  if (type === "linear") {
    const factor = section!.positive("factor");
    return { inverseFrequencies: frequencies.map((f) => Math.fround(f / factor)), interleaved: false };
  }
  return { inverseFrequencies: frequencies, interleaved: false };
}

function readRopeType(section: ConfigReader): (typeof ROPE_TYPES)[number] {
  const field = section.has("rope_type") ? "rope_type" : "type";
  const value = section.raw(field);
  if (typeof value === "string" && !(ROPE_TYPES as readonly string[]).includes(value)) {
    throw section.fail(`rotary scaling "${value}" is not implemented; supported: ${ROPE_TYPES.join(", ")}`);
  }
  return section.oneOf(field, ROPE_TYPES, "default");
}

/**
 * The rotary settings of a model whose layers all rotate alike (Qwen): rope_parameters, else
 * rope_theta with rope_scaling.
 */
export function readUniformRotary(c: ConfigReader, headDim: number, defaultTheta: number): RotarySpec {
  const parameters = c.section("rope_parameters");
  if (parameters) return readRotary(parameters, parameters.positive("rope_theta", { fallback: defaultTheta }), headDim);
  return readRotary(c.section("rope_scaling"), c.positive("rope_theta", { fallback: defaultTheta }), headDim);
}
