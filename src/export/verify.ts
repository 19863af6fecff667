// The numerical proof of an emitted graph: run it in onnxruntime (in a child process) and
// compare with the reference forward of the same weights.
import type { EncoderConfig, EncoderOutputs, TokenBatch } from "../arch/architecture.js";
import { type LoadedEncoder, referenceForward } from "../arch/encoder.js";
import { batchFeeds } from "../runtime/feeds.js";
import { IsolatedSession } from "../runtime/isolated-session.js";

/** FP32 graphs must match the reference within this relative max error. */
export const FP32_TOLERANCE = 1e-4;

export interface Comparison {
  output: keyof EncoderOutputs;
  shape: string;
  relativeError: number;
}

export interface Verification {
  ok: boolean;
  worst: Comparison;
  comparisons: Comparison[];
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

/** Deterministic inputs: a padded batch of two and a single one-token row. */
export function verificationBatches(config: EncoderConfig): TokenBatch[] {
  const sequence = Math.min(9, config.maxSequence);
  const lengths = [sequence, Math.max(1, sequence - 4)];
  let state = 12345;
  const nextId = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % config.vocabSize;
  };
  const padded: TokenBatch = {
    batch: 2,
    sequence,
    inputIds: Int32Array.from({ length: 2 * sequence }, (_, t) => (t % sequence < lengths[Math.floor(t / sequence)]! ? nextId() : config.padTokenId)),
    attentionMask: Int32Array.from({ length: 2 * sequence }, (_, t) => (t % sequence < lengths[Math.floor(t / sequence)]! ? 1 : 0)),
  };
  const single: TokenBatch = { batch: 1, sequence: 1, inputIds: Int32Array.of(nextId()), attentionMask: Int32Array.of(1) };
  return [padded, single];
}

/** Runs `modelPath` on `batches` and compares every output with the reference forward. */
export async function verifyGraph(
  modelPath: string,
  encoder: LoadedEncoder,
  batches: TokenBatch[] = verificationBatches(encoder.config),
  tolerance = FP32_TOLERANCE,
): Promise<Verification> {
  const session = await IsolatedSession.open(modelPath);
  try {
    const comparisons: Comparison[] = [];
    for (const batch of batches) {
      const expected = referenceForward(encoder, batch);
      const actual = await session.run(batchFeeds(batch, session.inputNames));
      for (const output of ["lastHiddenState", "poolerOutput"] as const) {
        const got = actual[output === "lastHiddenState" ? "last_hidden_state" : "pooler_output"];
        comparisons.push({
          output,
          shape: `${batch.batch}x${batch.sequence}`,
          relativeError: got ? relativeMaxError(got.data, expected[output]) : Infinity,
        });
      }
    }
    const worst = comparisons.reduce((a, b) => (b.relativeError > a.relativeError || Number.isNaN(b.relativeError) ? b : a));
    return { ok: comparisons.every((c) => c.relativeError <= tolerance), worst, comparisons };
  } finally {
    session.close();
  }
}
