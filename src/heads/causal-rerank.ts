// LLM rerankers scored by their language-model head (Qwen3-Reranker): the model judges a
// prompted query/document pair by the logits of two answer tokens at the last position, and the
// official score softmax([no, yes])[yes] equals sigmoid(logit_yes − logit_no). Only those two rows
// of the LM head matter: logit_yes − logit_no = h_last · (W[yes] − W[no]), so the graph takes the
// last real token's hidden state (either padding side) times one [hidden, 1] constant computed at
// export — the full-vocabulary projection is never computed. W is lm_head.weight or, when the
// checkpoint has none (tied, as Qwen3-Reranker-0.6B ships), the token embeddings.
import { METADATA, OUTPUT } from "../artifact/names.js";
import type { RerankTemplate } from "../artifact/rerank-template.js";
import type { LoadedEncoder } from "../arch/encoder.js";
import * as ref from "../arch/reference/math.js";
import { tensorRef } from "../arch/weight-refs.js";
import { ExportError } from "../common/errors.js";
import type { Head } from "./head.js";
import { graphSteps, referenceSteps } from "./pooling.js";

/** An answer token: as given and its id in the model's tokenizer. */
export interface AnswerToken {
  token: string;
  id: number;
}

/** What a causal-LM reranker export needs beyond the decoder (plain data: it crosses to the reference worker). */
export interface CausalRerankSpec {
  /** Its logit counts for relevance ("yes"). */
  positive: AnswerToken;
  /** Its logit counts against ("no"). */
  negative: AnswerToken;
  /** The prompt pairs are encoded with (recorded in the graph's metadata). */
  template: RerankTemplate;
}

/** Qwen3-Reranker's answer tokens: positive, negative. */
export const DEFAULT_RERANK_TOKENS: readonly [string, string] = ["yes", "no"];

/** The part of @huggingface/tokenizers' Tokenizer used here. */
interface WordTokenizer {
  encode(text: string, options: { add_special_tokens: false }): { ids: number[] };
}

/** The ids of the two answer tokens; each must be exactly one token of `tokenizer`. */
export function resolveAnswerTokens(
  tokenizer: WordTokenizer,
  tokens: readonly string[] = DEFAULT_RERANK_TOKENS,
  where = "tokenizer.json",
): { positive: AnswerToken; negative: AnswerToken } {
  if (tokens.length !== 2 || tokens.some((t) => typeof t !== "string" || t === "") || tokens[0] === tokens[1]) {
    throw new ExportError(
      `rerank tokens must be two different non-empty tokens, positive then negative (e.g. yes,no), not ${JSON.stringify(tokens)}`,
    );
  }
  const [positive, negative] = tokens.map((token) => {
    const ids = tokenizer.encode(token, { add_special_tokens: false }).ids;
    if (ids.length !== 1)
      throw new ExportError(
        `the rerank token ${JSON.stringify(token)} is ${ids.length} tokens in ${where} (ids ${ids.join(", ")}), not one; choose answer tokens the model's vocabulary holds whole (--rerank-tokens)`,
      );
    return { token, id: ids[0]! };
  }) as [AnswerToken, AnswerToken];
  return { positive, negative };
}

/** The table whose rows are the answer tokens' output weights: lm_head.weight, else the (tied) token embeddings. */
export function answerWeightsName(encoder: Pick<LoadedEncoder, "checkpoint" | "prefix" | "configFile">): string {
  if (encoder.checkpoint.has("lm_head.weight")) return "lm_head.weight";
  const embeddings = `${encoder.prefix}embed_tokens.weight`;
  if (encoder.configFile.raw("tie_word_embeddings") === false || !encoder.checkpoint.has(embeddings)) {
    throw new ExportError(
      `${encoder.checkpoint.store.source} has no lm_head.weight${encoder.configFile.raw("tie_word_embeddings") === false ? " and config.json says tie_word_embeddings: false" : ` nor ${embeddings}`}: ` +
        `a yes/no reranker reads two rows of the language-model head; export the full causal-LM checkpoint`,
    );
  }
  return embeddings;
}

/** The causal-LM reranker's `logits` [batch, 1] head: h_last · (W[positive] − W[negative]). */
export function answerTokenHead(encoder: LoadedEncoder, spec: CausalRerankSpec): Head {
  const softcap = encoder.configFile.raw("final_logit_softcapping");
  if (typeof softcap === "number") {
    throw encoder.configFile.fail(
      `final_logit_softcapping ${softcap} bends each logit on its own, so logit_yes − logit_no is not one projection; a yes/no reranker of this model is not supported`,
    );
  }
  const hidden = encoder.config.hiddenSize;
  const name = answerWeightsName(encoder);
  const vocab = encoder.checkpoint.store.info(name).shape[0]!;
  for (const { token, id } of [spec.positive, spec.negative]) {
    if (id >= vocab) throw new ExportError(`the rerank token ${JSON.stringify(token)} has id ${id}, beyond ${name}'s ${vocab} rows`);
  }
  const rows = encoder.checkpoint.rows(tensorRef(name, [vocab, hidden]), [spec.positive.id, spec.negative.id]);
  // One row [1, hidden] (Linear's layout) = W[positive] − W[negative].
  const difference = rows.subarray(0, hidden).map((w, i) => w - rows[hidden + i]!);
  return {
    name: "rerank:answer_tokens",
    outputs: [{ name: OUTPUT.logits, dims: ["batch", 1], perToken: false }],
    judge: { kind: "spearman", output: OUTPUT.logits, template: spec.template },
    emit({ g, nn, ops, inputs }, result) {
      const last = graphSteps(nn, result.hidden, inputs.attentionMask).pool("lasttoken"); // [B, H]
      const logits = ops.matMul(last, g.constFloat(difference, [hidden, 1], "rerank_answer_difference"));
      return {
        values: { [OUTPUT.logits]: logits },
        metadata: {
          [METADATA.head]: `${encoder.architecture.name}:answer_tokens`,
          [METADATA.numLabels]: "1",
          [METADATA.rerankTokens]: JSON.stringify({ positive: spec.positive, negative: spec.negative, weights: name }),
          [METADATA.rerankTemplate]: JSON.stringify(spec.template),
        },
      };
    },
    reference({ batch }, result) {
      const steps = referenceSteps(result.hidden, batch.attentionMask, { batch: batch.batch, sequence: batch.sequence, hidden });
      return {
        [OUTPUT.logits]: ref.linear(steps.pool("lasttoken"), batch.batch, { weight: difference, inFeatures: hidden, outFeatures: 1 }),
      };
    },
  };
}
