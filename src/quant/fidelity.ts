// How close the INT8 model stays to FP32 on held-out texts: cosine of the pooled and of the
// mean-pooled embeddings, agreement of each text's nearest neighbours, and the relative error
// of individual MatMul outputs (where the error comes from).
import type { TokenBatch } from "../arch/architecture.js";
import { batchFeeds } from "../ort/feeds.js";
import type { IsolatedSession } from "../ort/isolated-session.js";
import type { OutputTensor } from "../ort/protocol.js";

export interface Embeddings {
  /** The judged output's row per text (pooler_output, sentence_embedding). */
  pooled: Float32Array[];
  /** Mean of the judged per-token output (last_hidden_state) over the text's real tokens, when the judge reads one. */
  meanPooled?: Float32Array[];
}

export interface CosineSummary {
  mean: number;
  min: number;
}

export interface FidelityMetrics {
  texts: number;
  pooled: CosineSummary;
  meanPooled?: CosineSummary;
  /** Mean fraction of each text's k nearest neighbours (by cosine) that INT8 keeps. */
  neighbourAgreement: { k: number; pooled: number; meanPooled?: number };
}

export interface LayerError {
  node: string;
  output: string;
  /** ‖int8 − fp32‖ / ‖fp32‖ over the probe batch. */
  relativeError: number;
}

export const NEIGHBOURS = 10;

/**
 * Embeds the batched texts: each text's row of `output` and, with `tokenOutput`, its mean over
 * the text's real tokens; `rows` maps each batch row back to its text.
 */
export async function embedTexts(
  session: IsolatedSession,
  batches: ReadonlyArray<{ batch: TokenBatch; rows: number[] }>,
  texts: number,
  output: string,
  tokenOutput?: string,
): Promise<Embeddings> {
  const pooled: Float32Array[] = new Array(texts);
  const meanPooled: Float32Array[] = new Array(texts);
  const names = tokenOutput ? [output, tokenOutput] : [output];
  for (const { batch, rows } of batches) {
    const out = await session.run(batchFeeds(batch, session.inputNames), names);
    const missing = names.filter((name) => !out[name]);
    if (missing.length > 0) throw new Error(`the model did not return ${missing.join(" and ")}`);
    const rowValues = out[output]!.data;
    const width = rowValues.length / batch.batch;
    const tokens = tokenOutput ? out[tokenOutput]!.data : undefined;
    rows.forEach((text, b) => {
      pooled[text] = rowValues.slice(b * width, (b + 1) * width);
      if (tokens) meanPooled[text] = maskedMean(tokens, batch, b, tokens.length / (batch.batch * batch.sequence));
    });
  }
  return tokenOutput ? { pooled, meanPooled } : { pooled };
}

function maskedMean(hidden: Float32Array, batch: TokenBatch, row: number, width: number): Float32Array {
  const out = new Float32Array(width);
  let tokens = 0;
  for (let t = 0; t < batch.sequence; t++) {
    if (batch.attentionMask[row * batch.sequence + t] !== 1) continue;
    tokens++;
    const base = (row * batch.sequence + t) * width;
    for (let c = 0; c < width; c++) out[c]! += hidden[base + c]!;
  }
  return out.map((v) => v / Math.max(tokens, 1));
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  if (aa === 0 && bb === 0) return 1;
  return aa > 0 && bb > 0 ? dot / Math.sqrt(aa * bb) : 0;
}

export function compareEmbeddings(reference: Embeddings, candidate: Embeddings, k = NEIGHBOURS): FidelityMetrics {
  const summary = (ref: Float32Array[], cand: Float32Array[]): CosineSummary => {
    const cosines = ref.map((r, i) => cosine(r, cand[i]!));
    return { mean: cosines.reduce((a, b) => a + b, 0) / cosines.length, min: Math.min(...cosines) };
  };
  const neighbours = Math.max(0, Math.min(k, reference.pooled.length - 1));
  const [meanRef, meanCand] = [reference.meanPooled, candidate.meanPooled];
  const means = meanRef && meanCand ? { ref: meanRef, cand: meanCand } : undefined;
  return {
    texts: reference.pooled.length,
    pooled: summary(reference.pooled, candidate.pooled),
    ...(means ? { meanPooled: summary(means.ref, means.cand) } : {}),
    neighbourAgreement: {
      k: neighbours,
      pooled: neighbourAgreement(reference.pooled, candidate.pooled, neighbours),
      ...(means ? { meanPooled: neighbourAgreement(means.ref, means.cand, neighbours) } : {}),
    },
  };
}

/** The score compared with the fidelity threshold: the worst cosine of either embedding. */
export function worstCosine(metrics: FidelityMetrics): number {
  return Math.min(metrics.pooled.min, metrics.meanPooled?.min ?? 1);
}

export function neighbourAgreement(reference: Float32Array[], candidate: Float32Array[], k: number): number {
  return rankAgreement(
    reference.length,
    k,
    (i, j) => cosine(reference[i]!, reference[j]!),
    (i, j) => cosine(candidate[i]!, candidate[j]!),
  );
}

/**
 * Mean fraction of each item's k nearest others (by `reference` similarity, higher is nearer)
 * that `candidate` similarity also ranks among its k nearest.
 */
export function rankAgreement(
  count: number,
  k: number,
  reference: (i: number, j: number) => number,
  candidate: (i: number, j: number) => number,
): number {
  if (k === 0) return 1;
  const nearest = (similarity: (i: number, j: number) => number, i: number) =>
    Array.from({ length: count }, (_, j) => ({ j, similarity: j === i ? -Infinity : similarity(i, j) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, k)
      .map((n) => n.j);
  let agreement = 0;
  for (let i = 0; i < count; i++) {
    const expected = new Set(nearest(reference, i));
    agreement += nearest(candidate, i).filter((j) => expected.has(j)).length / k;
  }
  return agreement / count;
}

/** Relative error of each probed output, worst first. */
export function layerErrors(
  reference: Record<string, OutputTensor>,
  candidate: Record<string, OutputTensor>,
  probes: ReadonlyArray<{ node: string; output: string }>,
): LayerError[] {
  return probes
    .map(({ node, output }) => {
      const r = reference[output]?.data;
      const c = candidate[output]?.data;
      return { node, output, relativeError: r && c ? relativeRmsError(c, r) : NaN };
    })
    .sort((a, b) => sortKey(b.relativeError) - sortKey(a.relativeError));
}

/** NaN (an output missing from one side) sorts first: it is the worst news. */
const sortKey = (error: number) => (Number.isNaN(error) ? Infinity : error);

export function relativeRmsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}
