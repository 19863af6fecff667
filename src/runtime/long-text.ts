// Texts longer than a model's limit, for the runtimes: cut into overlapping windows of token ids
// that each keep the special tokens (the model never saw a row without them), and the mean of
// the windows' vectors.

/** What happens to a text longer than the model's limit. */
export type LongTextMode = "truncate" | "chunk";
export const LONG_TEXT_MODES: readonly LongTextMode[] = ["truncate", "chunk"];

/** Padded tokens per onnxruntime run when the caller sets none (about 1 GB of activations for a 24-layer, 1024-wide encoder whose attention memory is linear). */
export const DEFAULT_MAX_BATCH_TOKENS = 16384;

/** Where a tokenizer's template puts the text: special tokens before and after it. */
export interface TextFrame {
  prefix: number;
  suffix: number;
}

/**
 * `ids` (special tokens included) as windows of at most `maxLength` ids: each window holds the
 * prefix specials, up to maxLength − prefix − suffix text tokens, and the suffix specials;
 * consecutive windows share `stride` text tokens (Hugging Face tokenizers' stride). A text that
 * fits is one window, itself.
 */
export function chunkIds(ids: readonly number[], maxLength: number, frame: TextFrame, stride: number): number[][] {
  if (ids.length <= maxLength) return [[...ids]];
  const head = ids.slice(0, frame.prefix);
  const tail = ids.slice(ids.length - frame.suffix);
  const body = ids.slice(frame.prefix, ids.length - frame.suffix);
  const window = textWindow(maxLength, frame);
  const chunks: number[][] = [];
  for (let start = 0; ; start += window - stride) {
    chunks.push([...head, ...body.slice(start, start + window), ...tail]);
    if (start + window >= body.length) return chunks;
  }
}

/** Text tokens per window. */
export function textWindow(maxLength: number, frame: TextFrame): number {
  return maxLength - frame.prefix - frame.suffix;
}

/** The element-wise mean of `vectors`, L2-normalized when `normalize` (as each chunk's vector is). */
export function meanVector(vectors: readonly Float32Array[], normalize: boolean): Float32Array {
  const width = vectors[0]!.length;
  const sum = new Float64Array(width);
  for (const v of vectors) for (let i = 0; i < width; i++) sum[i] += v[i]!;
  let scale = 1 / vectors.length;
  if (normalize) {
    let norm = 0;
    for (let i = 0; i < width; i++) norm += sum[i]! * sum[i]!;
    scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  }
  return Float32Array.from(sum, (x) => x * scale);
}
