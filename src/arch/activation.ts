// Hidden activations named in config.json (`hidden_act`, `activation`), mapped onto the few
// functions they denote, following transformers' ACT2FN.
import type { ConfigReader } from "./config.js";

/** gelu: exact (erf); gelu_tanh: the tanh approximation; quick_gelu: x·sigmoid(1.702x). */
export type Activation = "gelu" | "gelu_tanh" | "relu" | "silu" | "quick_gelu";

const BY_CONFIG_NAME: Readonly<Record<string, Activation>> = {
  gelu: "gelu",
  gelu_python: "gelu",
  gelu_new: "gelu_tanh",
  gelu_fast: "gelu_tanh",
  gelu_pytorch_tanh: "gelu_tanh",
  relu: "relu",
  silu: "silu",
  swish: "silu",
  quick_gelu: "quick_gelu",
};

export function readActivation(config: ConfigReader, field: string, fallback?: string): Activation {
  return BY_CONFIG_NAME[config.oneOf(field, Object.keys(BY_CONFIG_NAME), fallback)]!;
}
