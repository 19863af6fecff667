// RoBERTa (Liu et al. 2019), and XLM-RoBERTa / CamemBERT which share its modeling code: BERT with
// position ids that skip padding — padding_idx + 1 + the token's rank among non-pad tokens —
// so the position table has pad_token_id + 1 extra rows (514 rows for 512 tokens).
// Task-head checkpoints (RobertaForMaskedLM & co.) keep the encoder under "roberta.".
import { type BertConfig, bertPlan, maxSequenceAfterPadding, parseBertConfig } from "./bert.js";
import type { ConfigReader } from "./config.js";
import { postNormArchitecture } from "./post-norm-encoder.js";

export function parseRobertaConfig(c: ConfigReader): BertConfig {
  const config = parseBertConfig(c, { padTokenId: 1 });
  return { ...config, maxSequence: maxSequenceAfterPadding(c, config.maxPositions, config.padTokenId, "pad_token_id") };
}

export const roberta = postNormArchitecture<BertConfig>({
  name: "roberta",
  modelTypes: ["roberta", "xlm-roberta", "camembert"],
  checkpointPrefixes: ["roberta."],
  parseConfig: parseRobertaConfig,
  plan: (c, weights) => bertPlan(c, weights, { kind: "afterPadding", paddingIdx: c.padTokenId }),
});
