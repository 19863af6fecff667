// model_type → architecture template.
import type { Architecture, EncoderConfig } from "./architecture.js";
import { bert } from "./bert.js";
import { ConfigError, type ConfigReader } from "./config.js";

export const ARCHITECTURES: ReadonlyArray<Architecture<any>> = [bert];

export function supportedModelTypes(): string[] {
  return ARCHITECTURES.flatMap((a) => a.modelTypes).sort();
}

export function architectureFor(config: ConfigReader): Architecture<EncoderConfig> {
  const modelType = config.string("model_type");
  const found = ARCHITECTURES.find((a) => a.modelTypes.includes(modelType));
  if (!found) {
    throw new ConfigError(
      `${config.source}: model_type "${modelType}" is not supported; supported model types: ${supportedModelTypes().join(", ")}`,
    );
  }
  return found;
}
