// model_type → architecture template.
import type { Architecture, EncoderConfig } from "./architecture.js";
import { albert } from "./albert.js";
import { bert } from "./bert.js";
import { ConfigError, type ConfigReader } from "./config.js";
import { distilbert } from "./distilbert.js";
import { electra } from "./electra.js";
import { gemma3 } from "./gemma3.js";
import { gte } from "./gte.js";
import { jinaBert } from "./jina-bert.js";
import { modernBert } from "./modernbert.js";
import { mpnet } from "./mpnet.js";
import { nomicBert } from "./nomic-bert.js";
import { qwen2, qwen3 } from "./qwen.js";
import { roberta } from "./roberta.js";

export const ARCHITECTURES: ReadonlyArray<Architecture<any>> = [
  bert,
  roberta,
  distilbert,
  electra,
  albert,
  mpnet,
  jinaBert,
  nomicBert,
  gte,
  modernBert,
  qwen3,
  qwen2,
  gemma3,
];

export function supportedModelTypes(): string[] {
  return [...new Set(ARCHITECTURES.flatMap((a) => a.modelTypes))].sort();
}

/** The template of model_type; among templates sharing it, one whose predicate accepts the config, else the generic one. */
export function architectureFor(config: ConfigReader): Architecture<EncoderConfig> {
  const modelType = config.string("model_type");
  const candidates = ARCHITECTURES.filter((a) => a.modelTypes.includes(modelType));
  const found = candidates.find((a) => a.matches?.(config)) ?? candidates.find((a) => !a.matches);
  if (!found) {
    throw new ConfigError(
      `${config.source}: model_type "${modelType}" is not supported; supported model types: ${supportedModelTypes().join(", ")}`,
    );
  }
  return found;
}
