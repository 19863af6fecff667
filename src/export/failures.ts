// Which failures the SPEC's fallback (primary graph → portable graph) may retry. A retry helps
// when the graph itself is the problem (onnxruntime rejects or miscomputes an op); it cannot
// help with the model's files, the tokenizer, the disk, memory, or a user who asked to stop.
import { ConfigError } from "../arch/config.js";
import { WeightError } from "../checkpoint/weights.js";
import { currentAbortSignal } from "../common/abort.js";
import { ExportError, findCause, persistentFileSystemError } from "../common/errors.js";
import { outOfMemoryMessage } from "../common/out-of-memory.js";
import { QuantizationInputError } from "../quant/corpus.js";

const isInputError = (e: unknown): e is Error =>
  e instanceof WeightError || e instanceof ConfigError || e instanceof ExportError || e instanceof QuantizationInputError;

/**
 * What to throw instead of retrying with another graph variant, or undefined when a retry may
 * help: the abort reason once the export is interrupted, the input error behind `error` (its
 * own one-line message, not the writer's wrapping), or a file-system error that would recur.
 */
export function failureNoVariantFixes(error: unknown): unknown {
  const signal = currentAbortSignal();
  if (signal?.aborted) return signal.reason;
  // Out of memory: the portable graph needs as much, and "did not verify" would hide the cause.
  const memory = outOfMemoryMessage(error);
  if (memory !== undefined) return new ExportError(`the export ran ${memory}`, { cause: error });
  return findCause(error, isInputError) ?? (persistentFileSystemError(error) ? error : undefined);
}
