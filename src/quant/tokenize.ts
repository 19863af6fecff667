// Texts → token batches with the model's own tokenizer: truncated to the maximum length
// (keeping the final special token, as transformers' truncation does), grouped by length so a
// batch carries almost no padding, padded with the model's pad id on the side its tokenizer
// pads (tokenizer_config.json's padding_side: Qwen3-Embedding pads on the left).
import type { TokenBatch } from "../arch/architecture.js";

/** Where a batch's shorter rows get their padding. */
export type PaddingSide = "left" | "right";

/** The part of @huggingface/tokenizers' Tokenizer used here. */
export interface TokenEncoder {
  encode(text: string): { ids: number[] };
}

export interface TokenizedTexts {
  sequences: Int32Array[];
  /** How many texts were longer than the maximum length. */
  truncated: number;
}

export const DEFAULT_MAX_LENGTH = 128;

export function tokenizeTexts(tokenizer: TokenEncoder, texts: readonly string[], maxLength: number): TokenizedTexts {
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new Error(`maxLength must be an integer ≥ 2, not ${maxLength}`);
  let truncated = 0;
  const sequences = texts.map((text) => {
    const ids = tokenizer.encode(text).ids;
    if (ids.length <= maxLength) return Int32Array.from(ids);
    truncated++;
    // Keep the head and the closing special token ([SEP], </s>): the model never saw a row without it.
    return Int32Array.from([...ids.slice(0, maxLength - 1), ids[ids.length - 1]!]);
  });
  return { sequences, truncated };
}

/**
 * Batches of up to `batchSize` sequences of similar length (sorted by length), each padded to
 * its longest row and holding at most `maxTokens` padded tokens (rows × longest row; a sequence
 * longer than that makes a batch of its own). Returns the batches and, for each batch row, the
 * index of its sequence. `typeIds` (one row per sequence: text pairs) become the batches'
 * token_type_ids. Rows are padded on `side`.
 */
export function batchByLength(
  sequences: readonly ArrayLike<number>[],
  batchSize: number,
  padTokenId: number,
  maxTokens = Infinity,
  typeIds?: readonly ArrayLike<number>[],
  side: PaddingSide = "right",
): Array<{ batch: TokenBatch; rows: number[] }> {
  const order = sequences.map((_, i) => i).sort((a, b) => sequences[a]!.length - sequences[b]!.length || a - b);
  const out: Array<{ batch: TokenBatch; rows: number[] }> = [];
  let rows: number[] = [];
  const flush = () => {
    if (rows.length > 0)
      out.push({
        batch: padBatch(
          rows.map((i) => sequences[i]!),
          padTokenId,
          typeIds && rows.map((i) => typeIds[i]!),
          side,
        ),
        rows,
      });
    rows = [];
  };
  for (const index of order) {
    // Sorted by length: the new row is the longest, so the batch would pad to its length.
    const padded = (rows.length + 1) * Math.max(1, sequences[index]!.length);
    if (rows.length === batchSize || (rows.length > 0 && padded > maxTokens)) flush();
    rows.push(index);
  }
  flush();
  return out;
}

/**
 * Rows padded to the longest one (at least one position, so that no rows still make a batch),
 * after their tokens (`side` "right") or before them ("left", as decoders whose last token is
 * pooled are fed); with `typeIds`, their token type ids (type 0 at padding).
 */
export function padBatch(
  rows: readonly ArrayLike<number>[],
  padTokenId: number,
  typeIds?: readonly ArrayLike<number>[],
  side: PaddingSide = "right",
): TokenBatch {
  const sequence = Math.max(1, ...rows.map((r) => r.length));
  const inputIds = new Int32Array(rows.length * sequence).fill(padTokenId);
  const attentionMask = new Int32Array(rows.length * sequence);
  const tokenTypeIds = typeIds ? new Int32Array(rows.length * sequence) : undefined;
  rows.forEach((row, b) => {
    const start = b * sequence + (side === "left" ? sequence - row.length : 0);
    inputIds.set(row, start);
    attentionMask.fill(1, start, start + row.length);
    tokenTypeIds?.set(typeIds![b]!, start);
  });
  return { batch: rows.length, sequence, inputIds, attentionMask, ...(tokenTypeIds ? { tokenTypeIds } : {}) };
}

/** `batch` with each row's real tokens moved to the end: the padding decoders' tokenizers add on the left. */
export function leftPadded(batch: TokenBatch): TokenBatch {
  const { sequence } = batch;
  const move = (values: Int32Array, pad: number) => {
    const out = new Int32Array(values.length).fill(pad);
    for (let row = 0; row < batch.batch; row++) {
      const real: number[] = [];
      for (let t = 0; t < sequence; t++) if (batch.attentionMask[row * sequence + t]) real.push(values[row * sequence + t]!);
      out.set(real, (row + 1) * sequence - real.length);
    }
    return out;
  };
  const padId = batch.inputIds[batch.attentionMask.indexOf(0)] ?? 0;
  return {
    ...batch,
    inputIds: move(batch.inputIds, padId),
    attentionMask: move(batch.attentionMask, 0),
    ...(batch.tokenTypeIds ? { tokenTypeIds: move(batch.tokenTypeIds, 0) } : {}),
  };
}

/** Texts tokenized into length-sorted batches (`rows`: each row's index in the texts). */
export interface TextBatches {
  texts: number;
  truncated: number;
  batches: Array<{ batch: TokenBatch; rows: number[] }>;
}
