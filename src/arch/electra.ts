// ELECTRA (Clark et al. 2020), the discriminator used as an encoder: BERT whose embeddings are
// embedding_size wide and projected to hidden_size (embeddings_project) when the two differ.
// ElectraModel has no pooler (CLS fallback); ElectraForPreTraining & co. keep it under "electra.".
import type { Architecture } from "./architecture.js";
import {
  BERT_LAYER,
  type BertConfig,
  type EncoderPlan,
  SEQUENTIAL_POSITIONS,
  embeddingRefs,
  emitEncoder,
  layerStack,
  parseBertConfig,
  referenceEncoder,
} from "./bert.js";
import type { ConfigReader } from "./config.js";
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

export const electra: Architecture<ElectraConfig> = {
  name: "electra",
  modelTypes: ["electra"],
  checkpointPrefixes: ["electra."],
  parseConfig: parseElectraConfig,
  emit: (ctx, c, inputs) => emitEncoder(ctx, electraPlan(c), inputs),
  reference: (weights, c, batch) => referenceEncoder(weights, electraPlan(c), batch),
};
