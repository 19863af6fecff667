// How far INT8 sparse vectors (SPLADE's sparse_embedding) stay from FP32 on held-out texts, in
// the terms retrieval uses them: the cosine of each text's sparse vector (the fallback's score is
// the worst one) and the overlap of its top-64 terms.
import { batchFeeds } from "../ort/feeds.js";
import { cosine } from "./fidelity.js";
import type { FidelityJudge } from "./judge.js";
import type { TextBatches } from "./tokenize.js";

/** Terms per text whose overlap is reported. */
export const TOP_TERMS = 64;

export interface SparseFidelityMetrics {
  texts: number;
  /** Cosine of INT8 vs FP32 sparse vectors, per text. */
  cosine: { mean: number; min: number };
  /** Fraction of each text's FP32 top-k terms (by weight, among its non-zero ones) that INT8 also has in its top k. */
  topTerms: { k: number; mean: number; min: number };
}

/** Vocabulary-sized sparse vectors (`output`, one row per text) of the held-out texts. */
export function sparseJudge(heldOut: TextBatches, output: string): FidelityJudge<Float32Array[], SparseFidelityMetrics> {
  return {
    scoreName: "worstSparseCosine",
    scoreLabel: "held-out sparse-vector cosine",
    measure: async (session) => {
      const vectors = new Array<Float32Array>(heldOut.texts);
      for (const { batch, rows } of heldOut.batches) {
        const out = (await session.run(batchFeeds(batch, session.inputNames), [output]))[output];
        if (!out) throw new Error(`the model did not return ${output}`);
        const vocab = out.data.length / batch.batch;
        rows.forEach((text, row) => (vectors[text] = out.data.slice(row * vocab, (row + 1) * vocab)));
      }
      return vectors;
    },
    compare: (reference, candidate) => {
      const metrics = compareSparse(reference, candidate, TOP_TERMS);
      return { metrics, score: metrics.cosine.min };
    },
    summary: (m) =>
      `held-out sparse vectors vs FP32 over ${m.texts} texts: cosine mean ${m.cosine.mean.toFixed(4)} / min ${m.cosine.min.toFixed(4)}, ` +
      `top-${m.topTerms.k} term overlap mean ${m.topTerms.mean.toFixed(3)} / min ${m.topTerms.min.toFixed(3)}`,
  };
}

export function compareSparse(reference: readonly Float32Array[], candidate: readonly Float32Array[], k: number): SparseFidelityMetrics {
  const cosines = reference.map((r, i) => cosine(r, candidate[i]!));
  const overlaps = reference.map((r, i) => topOverlap(r, candidate[i]!, k));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  return {
    texts: reference.length,
    cosine: { mean: mean(cosines), min: Math.min(...cosines) },
    topTerms: { k, mean: mean(overlaps), min: Math.min(...overlaps) },
  };
}

/** |top-k(a) ∩ top-k(b)| / |top-k(a)|, over the non-zero entries of a (1 when a has none). */
export function topOverlap(a: Float32Array, b: Float32Array, k: number): number {
  const top = (x: Float32Array) =>
    Array.from(x.keys())
      .filter((i) => x[i]! > 0)
      .sort((i, j) => x[j]! - x[i]! || i - j)
      .slice(0, k);
  const wanted = top(a);
  if (wanted.length === 0) return 1;
  const kept = new Set(top(b));
  return wanted.filter((i) => kept.has(i)).length / wanted.length;
}
