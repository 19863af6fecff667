// Emit → write → verify, variant by variant: the primary graph first, the portable graph when
// the primary fails (SPEC fallback). Problems with the model itself propagate at once.
import type { GraphVariant } from "../arch/graph-variant.js";
import { type LoadedEncoder } from "../arch/encoder.js";
import { buildTaskGraph } from "../heads/graph.js";
import type { TaskSpec } from "../heads/tasks.js";
import { removeModelFiles, writeModel } from "../graph/onnx-file.js";
import type { Model } from "../graph/ir.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import { validateModel } from "../graph/validate.js";
import { ExportError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { failureNoVariantFixes } from "./failures.js";
import { type PendingReference, startReference } from "./background-reference.js";
import { FP32_TOLERANCE, type Verification, verificationBatch, verificationRows, verifyGraph } from "./verify.js";
import { errorMessage } from "../common/messages.js";
import { currentAbortSignal } from "../common/abort.js";

export interface EmitOptions {
  opset: number;
  tokenTypeIds: boolean;
  /** Tried in order until one verifies. */
  variants: GraphVariant[];
  metadata: Record<string, string>;
  producerVersion: string;
  logger: Logger;
  /** The task's heads (their outputs are emitted and verified). */
  task: TaskSpec;
  /** Called with the graph's file once written (the export hashes a file it will publish). */
  onWritten?: (path: string) => void;
}

export interface EmittedGraph {
  path: string;
  /** The verified graph itself: the transforms (INT8, INT4, FP16) start from it, never rebuilding it. */
  model: Model;
  variant: GraphVariant;
  verification: Verification;
  /** The reference outputs it was verified against (computed): another variant reuses them. */
  reference: PendingReference;
}

/**
 * What verification needs before the graph exists, started early so that both child processes
 * boot and work while the caller loads the tokenizer and builds and writes the graph: the
 * reference forward of the verification batch (the same for every variant) and the first
 * onnxruntime worker.
 */
export interface VerificationStart {
  reference: PendingReference;
  /** Taken by the first variant; later variants start their own. */
  worker?: IsolatedSession;
  /** Stops both (the export failed before verifying). */
  cancel(): void;
}

/** Verification against a reference already computed (another variant of the same model). */
export function reuseReference(reference: PendingReference): VerificationStart {
  return { reference, cancel: () => {} };
}

export function startVerification(encoder: LoadedEncoder, task: TaskSpec, tokenTypeIds: boolean): VerificationStart {
  const reference = startReference(encoder, verificationRows(verificationBatch(encoder.config, tokenTypeIds)), task);
  const start: VerificationStart = {
    reference,
    worker: IsolatedSession.start(),
    cancel: () => {
      reference.cancel();
      start.worker?.close();
      start.worker = undefined;
    },
  };
  return start;
}

export async function emitVerifiedGraph(
  encoder: LoadedEncoder,
  path: string,
  options: EmitOptions,
  started: VerificationStart = startVerification(encoder, options.task, options.tokenTypeIds),
): Promise<EmittedGraph> {
  const { logger } = options;
  const { reference } = started;
  let failure = "";
  try {
    for (const [index, variant] of options.variants.entries()) {
      const next = options.variants[index + 1];
      // The verification worker boots while the graph is built and written.
      const worker = started.worker ?? IsolatedSession.start();
      started.worker = undefined;
      try {
        const model = buildTaskGraph(encoder, options.task, { ...options, variant });
        validateModel(model);
        await writeModel(model, path, { signal: currentAbortSignal() });
        options.onWritten?.(path);
        const verification = await verifyGraph(path, encoder, {
          worker,
          reference,
          task: options.task,
          tokenTypeIds: options.tokenTypeIds,
        });
        if (verification.ok) {
          logger.info(
            `verified ${variant} graph: max relative error ${verification.worst.relativeError.toExponential(2)} vs the reference forward`,
          );
          return { path, model, variant, verification, reference };
        }
        const { worst } = verification;
        failure = `max relative error ${worst.relativeError.toExponential(2)} on ${worst.output} (batch×sequence ${worst.shape}) exceeds ${FP32_TOLERANCE}`;
      } catch (error) {
        worker.close();
        const fatal = failureNoVariantFixes(error);
        if (fatal !== undefined) throw fatal;
        failure = errorMessage(error);
      }
      removeModelFiles(path);
      if (next) logger.warn(`the ${variant} graph failed verification (${failure}); emitting the ${next} graph instead`);
    }
  } finally {
    started.cancel();
  }
  throw new ExportError(`export of ${encoder.dir} failed: the ${options.variants.at(-1)} graph did not verify (${failure})`);
}
