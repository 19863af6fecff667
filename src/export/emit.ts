// Emit → write → verify, variant by variant: the primary graph first, the portable graph when
// the primary fails (SPEC fallback). Problems with the model itself propagate at once.
import type { GraphVariant } from "../arch/graph-variant.js";
import { type LoadedEncoder } from "../arch/encoder.js";
import { buildTaskGraph } from "../heads/graph.js";
import type { TaskSpec } from "../heads/tasks.js";
import { type WriteModelResult, removeModelFiles, writeModel } from "../graph/onnx-file.js";
import type { Model } from "../graph/ir.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import type { LoadedWorker } from "../ort/model-session.js";
import { fileIdentity } from "../artifact/verified-files.js";
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
  /** Called with the graph's files once written, hashed as they were (the export records a file it will publish). */
  onWritten?: (written: WriteModelResult) => void;
}

/** A written graph under verification, for the work that runs beside it (emitVerifiedGraph's `alongside`). */
export interface GraphUnderVerification {
  path: string;
  variant: GraphVariant;
  /** The verifying worker, the graph loaded as a runtime loads it: handed over once the graph verified. */
  verified: LoadedWorker;
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

/**
 * Builds, writes and verifies the graph, variant by variant. `alongside` runs beside each
 * variant's verification (the export stages its folder and runs its load check meanwhile, in the
 * verifying worker once the graph verified); a variant is emitted when both succeed, and a failure
 * of `alongside` is the export's (no other variant is tried).
 */
export async function emitVerifiedGraph(
  encoder: LoadedEncoder,
  path: string,
  options: EmitOptions,
  started: VerificationStart = startVerification(encoder, options.task, options.tokenTypeIds),
  alongside?: (graph: GraphUnderVerification) => Promise<void>,
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
      let besides: Promise<void> | undefined;
      let model: Model | undefined;
      let verified: Verification | undefined;
      try {
        model = buildTaskGraph(encoder, options.task, { ...options, variant });
        validateModel(model);
        const written = await writeModel(model, path, { sha256: options.onWritten !== undefined, signal: currentAbortSignal() });
        options.onWritten?.(written);
        const loadedFrom = fileIdentity(path); // the file the worker is about to load
        const verifying = verifyGraph(path, encoder, {
          worker,
          reference,
          task: options.task,
          tokenTypeIds: options.tokenTypeIds,
          keep: alongside !== undefined,
        });
        if (alongside) {
          const handedOver = verifying.then(
            ({ worker: kept }) => kept ?? Promise.reject(new ExportError(`the ${variant} graph did not verify`)),
          );
          handedOver.catch(() => {}); // a rejection nobody takes is the verification's, reported below
          besides = alongside({ path, variant, verified: { worker: handedOver, loadedFrom } });
          besides.catch(() => {}); // awaited below
        }
        verified = await verifying;
        if (verified.ok) {
          logger.info(
            `verified ${variant} graph: max relative error ${verified.worst.relativeError.toExponential(2)} vs the reference forward`,
          );
        } else {
          const { worst } = verified;
          failure = `max relative error ${worst.relativeError.toExponential(2)} on ${worst.output} (batch×sequence ${worst.shape}) exceeds ${FP32_TOLERANCE}`;
        }
      } catch (error) {
        worker.close();
        await besides?.catch(() => {}); // nothing of this variant still runs when the next starts or the export cleans up
        const fatal = failureNoVariantFixes(error);
        if (fatal !== undefined) throw fatal;
        failure = errorMessage(error);
      }
      if (verified?.ok && model) {
        try {
          await besides;
        } finally {
          verified.worker?.close(); // the load check closed it when it took it; otherwise it goes now
        }
        const { worker: _kept, ...verification } = verified;
        return { path, model, variant, verification, reference };
      }
      await besides?.catch(() => {});
      removeModelFiles(path);
      if (next) logger.warn(`the ${variant} graph failed verification (${failure}); emitting the ${next} graph instead`);
    }
  } finally {
    started.cancel();
  }
  throw new ExportError(`export of ${encoder.dir} failed: the ${options.variants.at(-1)} graph did not verify (${failure})`);
}
