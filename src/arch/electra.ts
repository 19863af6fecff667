// ELECTRA (Clark et al. 2020), the discriminator used as an encoder: BERT whose embeddings are
// embedding_size wide and projected to hidden_size (embeddings_project) when the two differ.
// ElectraModel has no pooler (CLS fallback); ElectraForPreTraining & co. keep it under "electra.".
import { BERT_LAYER, type BertConfig, embeddingRefs, layerStack, parseBertConfig } from "./bert.js";
import type { ConfigReader } from "./config.js";
import { type EncoderPlan, SEQUENTIAL_POSITIONS, postNormArchitecture } from "./post-norm-encoder.js";
import { linearRef } from "./weight-refs.js";

export interface ElectraConfig extends BertConfig {
  embeddingSize: number;
}

export function parseElectraConfig(c: ConfigReader): ElectraConfig {
  return { ...parseBertConfig(c), embeddingSize: c.int("embedding_size", { min: 1, fallback: 128 }) };
}

function electraPlan(c: ElectraConfig): EncoderPlan {
  const projected = c.embeddingSize !== c.hiddenSize;
  return {
    embeddings: embeddingRefs(c, c.embeddingSize),
    positionIds: SEQUENTIAL_POSITIONS,
    ...(projected ? { projection: linearRef("embeddings_project", c.embeddingSize, c.hiddenSize) } : {}),
    layers: layerStack(c, "encoder.layer", BERT_LAYER),
    activation: c.activation,
  };
}

export const electra = postNormArchitecture<ElectraConfig>({
  name: "electra",
  modelTypes: ["electra"],
  checkpointPrefixes: ["electra."],
  parseConfig: parseElectraConfig,
  plan: electraPlan,
});
