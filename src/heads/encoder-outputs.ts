// The feature-extraction outputs every embedding export has (SPEC): last_hidden_state, and
// pooler_output — the model's pooler (dense + tanh) when the template has one, else the first
// token (CLS fallback). Decoders' pooler_output comes from their sentence pipeline instead.
import { METADATA, OUTPUT } from "../artifact/names.js";
import * as ref from "../arch/reference/math.js";
import type { Head, HeadJudging } from "./head.js";

/** Judged as always: the pooler_output rows and last_hidden_state mean-pooled, by cosine. */
export const ENCODER_OUTPUTS_JUDGING: HeadJudging = { kind: "cosine", output: OUTPUT.poolerOutput, tokenOutput: OUTPUT.lastHiddenState };

/** last_hidden_state alone: a decoder's token vectors (its pooler_output is its pooling's). */
export function lastHiddenStateHead(hidden: number): Head {
  return {
    name: "decoder",
    outputs: [{ name: OUTPUT.lastHiddenState, dims: ["batch", "sequence", hidden], perToken: true }],
    emit: (_ctx, decoder) => ({
      values: { [OUTPUT.lastHiddenState]: decoder.hidden },
      metadata: { [METADATA.pooler]: "sentence_pooling" },
    }),
    reference: (_ctx, decoder) => ({ [OUTPUT.lastHiddenState]: decoder.hidden }),
  };
}

export function encoderOutputsHead(hidden: number): Head {
  return {
    name: "encoder",
    outputs: [
      { name: OUTPUT.lastHiddenState, dims: ["batch", "sequence", hidden], perToken: true },
      { name: OUTPUT.poolerOutput, dims: ["batch", hidden], perToken: false },
    ],
    judge: ENCODER_OUTPUTS_JUDGING,
    emit: ({ nn }, encoder) => ({
      values: { [OUTPUT.lastHiddenState]: encoder.hidden, [OUTPUT.poolerOutput]: encoder.pooled ?? nn.firstToken(encoder.hidden) },
      metadata: { [METADATA.pooler]: encoder.pooled ? "dense_tanh" : "cls" },
    }),
    reference: ({ batch }, encoder) => ({
      [OUTPUT.lastHiddenState]: encoder.hidden,
      [OUTPUT.poolerOutput]: encoder.pooled ?? ref.firstToken(encoder.hidden, batch.batch, batch.sequence),
    }),
  };
}
