// The numerical proof of an emitted graph: run it in onnxruntime (in a child process) and
// compare with the reference forward of the same weights.
import type { EncoderConfig, TokenBatch } from "../arch/architecture.js";
import type { LoadedEncoder } from "../arch/encoder.js";
import type { HeadArrays, HeadOutput } from "../heads/head.js";
import { FEATURE_EXTRACTION, type TaskSpec, headsFor } from "../heads/tasks.js";
import { batchFeeds } from "../ort/feeds.js";
import { leftPadded } from "../quant/tokenize.js";
import { IsolatedSession, loadedSession } from "../ort/isolated-session.js";
import { type PendingReference, startReference } from "./background-reference.js";

/** FP32 graphs must match the reference within this relative max error. */
export const FP32_TOLERANCE = 1e-4;

export interface Comparison {
  /** Graph output name. */
  output: string;
  shape: string;
  relativeError: number;
}

export interface Verification {
  ok: boolean;
  worst: Comparison;
  comparisons: Comparison[];
  /** With the keep option, when it verified: the worker, the graph still loaded (the caller closes it). */
  worker?: IsolatedSession;
}

/** max |actual − expected| / max |expected|: scale-free, defined even where values cross zero. */
export function relativeMaxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= diff)) diff = d; // NaN propagates as a failure
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

/**
 * Deterministic inputs: one padded batch of three rows (full, half, a single token). The graph
 * also runs on the single-token row alone (batch 1 × sequence 1). With `tokenTypes` (a graph
 * with a token_type_ids input) the second half of each row is type 1, as in a text pair.
 */
export function verificationBatch(config: EncoderConfig, tokenTypes = false): TokenBatch {
  const sequence = Math.min(9, config.maxSequence);
  const lengths = [sequence, Math.ceil(sequence / 2), 1];
  let state = 12345;
  const nextId = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % config.vocabSize;
  };
  const inputIds = new Int32Array(lengths.length * sequence);
  const attentionMask = new Int32Array(lengths.length * sequence);
  const tokenTypeIds = tokenTypes && config.typeVocabSize > 1 ? new Int32Array(lengths.length * sequence) : undefined;
  lengths.forEach((length, row) => {
    for (let t = 0; t < sequence; t++) {
      inputIds[row * sequence + t] = t < length ? nextId() : config.padTokenId;
      attentionMask[row * sequence + t] = t < length ? 1 : 0;
      if (tokenTypeIds && t < length && t >= length / 2) tokenTypeIds[row * sequence + t] = 1;
    }
  });
  return { batch: lengths.length, sequence, inputIds, attentionMask, ...(tokenTypeIds ? { tokenTypeIds } : {}) };
}

/** Row `row`, first `length` tokens of a batch, as a batch of one. */
function rowOf(batch: TokenBatch, row: number, length: number): TokenBatch {
  const start = row * batch.sequence;
  return {
    batch: 1,
    sequence: length,
    inputIds: batch.inputIds.slice(start, start + length),
    attentionMask: batch.attentionMask.slice(start, start + length),
    ...(batch.tokenTypeIds ? { tokenTypeIds: batch.tokenTypeIds.slice(start, start + length) } : {}),
  };
}

/**
 * What the reference computes for `batch`: each row's real tokens as a batch of one (padding is
 * at the end, so their positions are the same). The graph's outputs at padded positions are not
 * compared — no pooling reads them — which spares the reference almost half the tokens.
 */
export function verificationRows(batch: TokenBatch): TokenBatch[] {
  return Array.from({ length: batch.batch }, (_, row) => {
    let length = 0;
    for (let t = 0; t < batch.sequence; t++) length += batch.attentionMask[row * batch.sequence + t] ? 1 : 0;
    return rowOf(batch, row, length);
  });
}

/** `output` of `batch` at its real tokens ([B, S, H] → the masked rows, in order), or unchanged ([B, H]). */
function realTokens(output: Float32Array, batch: TokenBatch, perToken: boolean): Float32Array {
  if (!perToken) return output;
  const hidden = output.length / (batch.batch * batch.sequence);
  const kept: number[] = [];
  for (let p = 0; p < batch.batch * batch.sequence; p++) if (batch.attentionMask[p]) kept.push(p);
  const out = new Float32Array(kept.length * hidden);
  kept.forEach((p, i) => out.set(output.subarray(p * hidden, (p + 1) * hidden), i * hidden));
  return out;
}

/** The outputs of batches of one, stacked as one batch's real tokens and rows. */
function stacked(rows: HeadArrays[]): HeadArrays {
  const out: HeadArrays = {};
  for (const name of Object.keys(rows[0] ?? {})) {
    const parts = rows.map((r) => r[name]!);
    const values = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      values.set(p, at);
      at += p.length;
    }
    out[name] = values;
  }
  return out;
}

/**
 * An output defined by another output of the graph (a quantized vector) against that definition
 * applied to the graph's own values: 0 when every value is its definition, Infinity otherwise.
 */
export function definitionComparison(
  output: HeadOutput,
  actual: Record<string, { data: ArrayLike<number> }>,
  rows: number,
): Omit<Comparison, "shape"> {
  const source = output.definition && actual[output.definition.of]?.data;
  const got = actual[output.name]?.data;
  if (!output.definition || !source || !got) return { output: output.name, relativeError: Infinity };
  const expected = output.definition.apply(Float32Array.from(source), rows);
  let differing = Math.abs(expected.length - got.length);
  for (let i = 0; i < Math.min(expected.length, got.length); i++) if (expected[i] !== got[i]) differing++;
  return differing === 0
    ? { output: output.name, relativeError: 0 }
    : { output: `${output.name} (${differing} values differ from their definition)`, relativeError: Infinity };
}

/**
 * Runs `modelPath` in onnxruntime (child process) and compares every output with the reference
 * forward. The reference is computed while the child loads the model (or earlier, when the
 * caller started it: `reference`).
 */
export async function verifyGraph(
  modelPath: string,
  encoder: LoadedEncoder,
  options: {
    tolerance?: number;
    worker?: IsolatedSession;
    /** The task the graph was emitted for (default: feature-extraction without sentence_embedding). */
    task?: TaskSpec;
    /** The graph takes token_type_ids (the verification rows then carry type 1). */
    tokenTypeIds?: boolean;
    /** The reference, already under way (startReference with the same task and batch). */
    reference?: PendingReference;
    /**
     * Keep the worker (the graph loaded) when the graph verifies, for the caller to run it again:
     * it then loads the graph as a runtime does (prepacked weights), not in verification's cheaper way.
     */
    keep?: boolean;
  } = {},
): Promise<Verification> {
  const tolerance = options.tolerance ?? FP32_TOLERANCE;
  const worker = options.worker ?? IsolatedSession.start();
  // Verification alone needs no prepacked weights (onnxruntime's load is on the export's critical path).
  const opening = loadedSession(worker, modelPath, options.keep ? {} : { prepack: false });
  opening.catch(() => {}); // awaited below; keeps an early failure from being reported as unhandled
  const task = options.task ?? FEATURE_EXTRACTION;
  const outputs: HeadOutput[] = headsFor(encoder, task).flatMap((head) => head.outputs);
  const batch = verificationBatch(encoder.config, options.tokenTypeIds ?? false);
  const reference = options.reference ?? startReference(encoder, verificationRows(batch), task);
  let expected: HeadArrays[];
  try {
    expected = await reference.outputs();
  } catch (error) {
    (await opening.catch(() => undefined))?.close();
    throw error;
  }
  const session = await opening;
  let kept = false;
  try {
    // The padded batch, and its last row (a single token) alone; decoders also padded on the left.
    const cases: Array<[TokenBatch, HeadArrays]> = [
      [batch, stacked(expected)],
      [reference.batches.at(-1)!, expected.at(-1)!],
      ...(encoder.architecture.decoder ? [[leftPadded(batch), stacked(expected)] as [TokenBatch, HeadArrays]] : []),
    ];
    const comparisons: Comparison[] = [];
    for (const [input, want] of cases) {
      const actual = await session.run(batchFeeds(input, session.inputNames));
      for (const output of outputs) {
        const got = actual[output.name];
        const shape = `${input.batch}x${input.sequence}`;
        if (output.definition) {
          comparisons.push({ ...definitionComparison(output, actual, input.batch), shape });
          continue;
        }
        comparisons.push({
          output: output.name,
          shape,
          relativeError: got ? relativeMaxError(realTokens(got.data, input, output.perToken), want[output.name] ?? []) : Infinity,
        });
      }
    }
    const worst = comparisons.reduce((a, b) => (b.relativeError > a.relativeError || Number.isNaN(b.relativeError) ? b : a));
    const ok = comparisons.every((c) => c.relativeError <= tolerance);
    kept = ok && options.keep === true;
    return { ok, worst, comparisons, ...(kept ? { worker: session } : {}) };
  } finally {
    if (!kept) session.close();
  }
}
