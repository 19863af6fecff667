// How far INT8 token vectors (ColBERT's token_vectors) stay from FP32, in the terms late
// interaction uses them: MaxSim scores of the built-in held-out query/document pairs, compared
// by Spearman's rank correlation (the fallback's score), per query and by top-k agreement
// (rank-fidelity.ts). Queries and documents are encoded as plain texts (no ColBERT markers or
// [MASK] augmentation): the judge compares two graphs on the same inputs.
import { batchFeeds } from "../ort/feeds.js";
import type { IsolatedSession } from "../ort/isolated-session.js";
import type { FidelityJudge } from "./judge.js";
import { type RankFidelityMetrics, TOP_K, compareRankings } from "./rank-fidelity.js";
import type { TextBatches } from "./tokenize.js";

/**
 * Late interaction's score: for each query vector the best dot product with any document vector,
 * summed (ColBERT) or averaged over the query vectors (bge-m3). 0 for an empty query or document.
 * (The runtime's MultiVectorEmbedder scores with this too.)
 */
export function maxSim(query: readonly Float32Array[], document: readonly Float32Array[], reduction: "sum" | "mean" = "sum"): number {
  if (query.length === 0 || document.length === 0) return 0;
  let total = 0;
  for (const q of query) {
    let best = -Infinity;
    for (const d of document) {
      if (d.length !== q.length) throw new RangeError(`maxSim: a query vector has ${q.length} values, a document vector ${d.length}`);
      let dot = 0;
      for (let i = 0; i < q.length; i++) dot += q[i]! * d[i]!;
      if (dot > best) best = dot;
    }
    total += best;
  }
  return reduction === "mean" ? total / query.length : total;
}

/** The token vectors `output` at each text's real tokens. */
async function tokenVectors(session: IsolatedSession, set: TextBatches, output: string): Promise<Float32Array[][]> {
  const out = new Array<Float32Array[]>(set.texts);
  for (const { batch, rows } of set.batches) {
    const vectors = (await session.run(batchFeeds(batch, session.inputNames), [output]))[output];
    if (!vectors) throw new Error(`the model did not return ${output}`);
    const dim = vectors.data.length / (batch.batch * batch.sequence);
    rows.forEach((text, row) => {
      out[text] = [];
      for (let t = 0; t < batch.sequence; t++) {
        const p = row * batch.sequence + t;
        if (batch.attentionMask[p]) out[text]!.push(vectors.data.slice(p * dim, (p + 1) * dim));
      }
    });
  }
  return out;
}

/**
 * ColBERT (token vectors `output`): `queries` and `documents` batched separately; pair i is (queries[pairQuery[i]],
 * documents[i]); `byQuery[q]` lists the pairs of query q.
 */
export function multiVectorJudge(
  queries: TextBatches,
  documents: TextBatches,
  pairQuery: readonly number[],
  byQuery: readonly number[][],
  output: string,
): FidelityJudge<Float32Array, RankFidelityMetrics> {
  return {
    scoreName: "maxSimSpearman",
    scoreLabel: "held-out MaxSim Spearman correlation",
    measure: async (session) => {
      const q = await tokenVectors(session, queries, output);
      const d = await tokenVectors(session, documents, output);
      return Float32Array.from(pairQuery, (query, pair) => maxSim(q[query]!, d[pair]!));
    },
    compare: (reference, candidate) => {
      const metrics = compareRankings(reference, candidate, byQuery, TOP_K);
      return { metrics, score: metrics.spearman };
    },
    summary: (m) =>
      `held-out MaxSim Spearman vs FP32 over ${m.pairs} pairs ${m.spearman.toFixed(4)} (per query mean ${m.querySpearman.mean.toFixed(4)} / min ${m.querySpearman.min.toFixed(4)}), ` +
      `top-${m.topKAgreement.k} agreement mean ${m.topKAgreement.mean.toFixed(3)} / min ${m.topKAgreement.min.toFixed(3)}`,
  };
}
