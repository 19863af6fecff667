// Query/document pairs for quantizing a reranker: the calibration texts paired up (each text the
// query of the next: both segments and their token types see realistic activations), and the
// built-in held-out set (RERANK_HELD_OUT in builtin-corpora.ts: queries, each with eight
// documents of mixed relevance and a near-tied twin of each, the same document reworded by a few
// words — near ties are where a reranker's ranking breaks first) the fidelity judgement ranks. Pairs are encoded with the model's own pair
// template, the document truncated to the length limit.
import { PairEncoder, PairEncodingError, type PairTokenizer } from "../artifact/pairs.js";
import { RERANK_HELD_OUT } from "./builtin-corpora.js";
import { PromptPairEncoder, type RerankTemplate } from "../artifact/rerank-template.js";
import type { TextSource } from "./corpus.js";
import { type TextBatches, batchByLength } from "./tokenize.js";

export interface PairSet {
  pairs: Array<[query: string, document: string]>;
  /** Pair indices of each query (the held-out set; calibration pairs have none). */
  queries: number[][];
  origin: string;
}

/** The built-in held-out queries with their documents. */
export function builtinRerankHeldOut(): PairSet {
  const pairs: PairSet["pairs"] = [];
  const queries = RERANK_HELD_OUT.map(({ query, documents }) => documents.map((document) => pairs.push([query, document]) - 1));
  return { pairs, queries, origin: "built-in rerank pairs" };
}

/** Calibration texts as pairs, consecutive texts together, the shorter one as the query. */
export function calibrationPairs(source: TextSource): PairSet {
  const pairs: PairSet["pairs"] = [];
  for (let i = 0; i + 1 < source.texts.length; i += 2) {
    const [a, b] = [source.texts[i]!, source.texts[i + 1]!];
    pairs.push(a.length <= b.length ? [a, b] : [b, a]);
  }
  return { pairs, queries: [], origin: source.origin };
}

/**
 * Pairs encoded and batched by length, with their token type ids. A calibration pair whose query
 * alone fills the length limit is left out (`queries` empty); a held-out one is an error. With
 * `template` (an LLM reranker), each pair is the template's prompt.
 */
export function pairBatches(
  tokenizer: PairTokenizer,
  set: PairSet,
  maxLength: number,
  batchSize: number,
  padTokenId: number,
  template?: RerankTemplate,
): TextBatches {
  const encoder = template ? new PromptPairEncoder(tokenizer, maxLength, template) : new PairEncoder(tokenizer, maxLength);
  const encoded = set.pairs.flatMap(([query, document]) => {
    try {
      return [encoder.encode(query, document)];
    } catch (error) {
      if (error instanceof PairEncodingError && set.queries.length === 0) return [];
      throw error;
    }
  });
  const batches = batchByLength(
    encoded.map((e) => e.ids),
    batchSize,
    padTokenId,
    Infinity,
    encoded.map((e) => e.typeIds),
  );
  return { texts: encoded.length, truncated: encoded.filter((e) => e.truncated > 0).length, batches };
}
