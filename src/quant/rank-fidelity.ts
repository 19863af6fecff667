// How far INT8 scores of a reranker stay from FP32 on held-out query/document pairs: Spearman's
// rank correlation of the scores (over every pair, and per query), and how much of each query's
// top-k ranking survives. A reranker is judged per query — over every pair, the spread between
// queries hides swapped near ties — on both the mean per-query Spearman and the top-k agreement.
import { batchFeeds } from "../ort/feeds.js";
import type { FidelityJudge } from "./judge.js";
import type { TextBatches } from "./tokenize.js";

/** Documents per query whose order is compared. */
export const TOP_K = 3;

export interface RankFidelityMetrics {
  pairs: number;
  queries: number;
  /** Spearman's ρ of INT8 vs FP32 scores over every held-out pair. */
  spearman: number;
  /** Per query: mean and lowest ρ over its documents. */
  querySpearman: { mean: number; min: number };
  /** Mean fraction of each query's FP32 top-k that INT8 also ranks in its top k. */
  topKAgreement: { k: number; mean: number; min: number };
}

/**
 * Rerankers: the relevance logit (`output`'s last label) of every held-out pair. `queries[q]` lists
 * the pair indices of query q; the batches' `rows` map each row to its pair.
 */
export function rerankJudge(
  heldOut: TextBatches,
  queries: readonly number[][],
  output: string,
  bounds: RankBounds,
): FidelityJudge<Float32Array, RankFidelityMetrics & { topKThreshold: number }> {
  return {
    scoreName: "rankScore",
    scoreLabel: `held-out rank score (per-query Spearman mean, with top-${TOP_K} agreement held at ${bounds.topK})`,
    measure: async (session) => {
      const scores = new Float32Array(heldOut.texts);
      for (const { batch, rows } of heldOut.batches) {
        const logits = (await session.run(batchFeeds(batch, session.inputNames), [output]))[output];
        if (!logits) throw new Error(`the model did not return ${output}`);
        const labels = logits.data.length / batch.batch;
        rows.forEach((pair, row) => (scores[pair] = logits.data[row * labels + labels - 1]!));
      }
      return scores;
    },
    compare: (reference, candidate) => {
      const metrics = compareRankings(reference, candidate, queries, TOP_K);
      return { metrics: { ...metrics, topKThreshold: bounds.topK }, score: rankScore(metrics, bounds) };
    },
    summary: (m) =>
      `held-out Spearman vs FP32 over ${m.pairs} pairs ${m.spearman.toFixed(4)} (per query mean ${m.querySpearman.mean.toFixed(4)} / min ${m.querySpearman.min.toFixed(4)}), ` +
      `top-${m.topKAgreement.k} agreement mean ${m.topKAgreement.mean.toFixed(3)} / min ${m.topKAgreement.min.toFixed(3)}`,
  };
}

/** What a reranker must keep: the mean per-query Spearman (the fidelity threshold) and the mean top-k agreement. */
export interface RankBounds {
  spearman: number;
  topK: number;
}

/**
 * The stricter of the two bounds as one score against the Spearman bound: the per-query Spearman
 * mean, or the Spearman bound lowered by however far top-k agreement falls short of its own.
 * It reaches `bounds.spearman` exactly when both hold.
 */
export function rankScore(metrics: RankFidelityMetrics, bounds: RankBounds): number {
  return Math.min(metrics.querySpearman.mean, bounds.spearman + metrics.topKAgreement.mean - bounds.topK);
}

export function compareRankings(
  reference: ArrayLike<number>,
  candidate: ArrayLike<number>,
  queries: readonly number[][],
  k: number,
): RankFidelityMetrics {
  const pick = (scores: ArrayLike<number>, pairs: readonly number[]) => pairs.map((p) => scores[p]!);
  const perQuery = queries.map((pairs) => spearman(pick(reference, pairs), pick(candidate, pairs)));
  const agreement = queries.map((pairs) => topKAgreement(pick(reference, pairs), pick(candidate, pairs), k));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  return {
    pairs: reference.length,
    queries: queries.length,
    spearman: spearman(Array.from(reference), Array.from(candidate)),
    querySpearman: { mean: mean(perQuery), min: Math.min(...perQuery) },
    topKAgreement: { k, mean: mean(agreement), min: Math.min(...agreement) },
  };
}

/** Ranks 1…n of `values`, ties sharing their mean rank (as scipy.stats.spearmanr does). */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const out = new Array<number>(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let i = start; i <= end; i++) out[order[i]!] = rank;
    start = end + 1;
  }
  return out;
}

/** Spearman's ρ: Pearson's correlation of the ranks; 1 when both sides are constant, 0 when only one is. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`spearman: ${a.length} vs ${b.length} values`);
  const [ra, rb] = [ranks(a), ranks(b)];
  const mean = (a.length + 1) / 2;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    cov += (ra[i]! - mean) * (rb[i]! - mean);
    va += (ra[i]! - mean) ** 2;
    vb += (rb[i]! - mean) ** 2;
  }
  if (va === 0 && vb === 0) return 1;
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}

/** Fraction of the reference's k best (highest scores) that the candidate also ranks in its k best. */
export function topKAgreement(reference: readonly number[], candidate: readonly number[], k: number): number {
  const n = Math.min(k, reference.length);
  if (n === 0) return 1;
  const best = (scores: readonly number[]) =>
    scores
      .map((s, i) => ({ s, i }))
      .sort((x, y) => y.s - x.s || x.i - y.i)
      .slice(0, n)
      .map((x) => x.i);
  const expected = new Set(best(reference));
  return best(candidate).filter((i) => expected.has(i)).length / n;
}
