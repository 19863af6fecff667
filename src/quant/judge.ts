// How an INT8 candidate is judged against the FP32 graph on held-out inputs: an embedding model by
// the cosine of its vectors (fidelity.ts), a reranker by the rank correlation of its scores
// (rank-fidelity.ts). The pipeline (quantize.ts) measures the float graph once, then each
// candidate, and keeps MatMuls in float until the judge's score reaches the threshold.
import type { IsolatedSession } from "../ort/isolated-session.js";
import { type Embeddings, type FidelityMetrics, compareEmbeddings, embedTexts, worstCosine } from "./fidelity.js";
import type { TextBatches } from "./tokenize.js";

export interface Verdict<M> {
  /** Everything measured, as the report states it. */
  metrics: M;
  /** The number the fidelity threshold applies to (1 is perfect). */
  score: number;
}

export interface FidelityJudge<S, M> {
  /** The report's key for the score (e.g. "worstCosine", "spearman"). */
  readonly scoreName: string;
  /** The score in words, for messages ("held-out cosine": its worst value is the score). */
  readonly scoreLabel: string;
  /** The held-out inputs' outputs on one session (the float graph, or a candidate). */
  measure(session: IsolatedSession): Promise<S>;
  compare(reference: S, candidate: S): Verdict<M>;
  /** One line of the metrics for the log. */
  summary(metrics: M): string;
}

/** Embedding models: cosine of `output`'s rows and of `tokenOutput` mean-pooled, on the held-out texts. */
export function embeddingJudge(heldOut: TextBatches, output: string, tokenOutput?: string): FidelityJudge<Embeddings, FidelityMetrics> {
  return {
    scoreName: "worstCosine",
    scoreLabel: "held-out cosine",
    measure: (session) => embedTexts(session, heldOut.batches, heldOut.texts, output, tokenOutput),
    compare: (reference, candidate) => {
      const metrics = compareEmbeddings(reference, candidate);
      return { metrics, score: worstCosine(metrics) };
    },
    summary: (m) =>
      `held-out cosine vs FP32: ${output} mean ${m.pooled.mean.toFixed(4)} / min ${m.pooled.min.toFixed(4)}` +
      (m.meanPooled ? `, mean-pooled mean ${m.meanPooled.mean.toFixed(4)} / min ${m.meanPooled.min.toFixed(4)}` : ""),
  };
}
